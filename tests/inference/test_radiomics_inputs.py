"""Inference with a radiomics Stage 2: a tiny random RadiomicsUNet package (CT + 2 cheap map channels, 3 global
features) runs end to end on the real CT, the maps and the z-scored vector reach the network, and a package whose
radiomics.json does not match its model is refused with both lists named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import ResourceError
from pdacrad.inference import InferenceConfig, Pipeline
from pdacrad.inference.radiomics_inputs import MAP_MASK_DILATION_MM, compute_map_channels, map_mask
from pdacrad.model.checks import check_against_model
from pdacrad.model.manifest import write_manifest
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet
from pdacrad.nnunet_ext.variants.radiomics import PLANS_KEY, nnUNetTrainerRadiomics
from tests.random_model import write_random_resources

MAP_FEATURES = ("original_firstorder_Mean", "original_glcm_Idm")
GLOBAL_FEATURES = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_glcm_Idm")
_SETTING = {"binWidth": 25, "label": 1}
# The plans of tests/inference/conftest.py (Stage 1 at 6 mm, Stage 2 at 3 mm, patch 16×64×64, no mirroring).
SMALL = {
    "stage1_spacing_zyx": (6.0, 6.0, 6.0),
    "stage2_spacing_zyx": (3.0, 3.0, 3.0),
    "patch_size_zyx": (16, 64, 64),
    "mirror_axes": None,
}


def tiny_spec() -> RadiomicsSpec:
    """3 global features (shape, first order, GLCM) and 2 cheap maps (kernel radius 1, no resampling)."""
    return RadiomicsSpec(
        params={
            "setting": _SETTING,
            "imageType": {"Original": {}},
            "featureClass": {"shape": None, "firstorder": ["Mean"], "glcm": ["Idm"]},
        },
        global_features=GLOBAL_FEATURES,
        mean=(50_000.0, 40.0, 0.5),
        std=(20_000.0, 30.0, 0.2),
        map_features=MAP_FEATURES,
        map_params={
            "setting": _SETTING,
            "voxelSetting": {"kernelRadius": 1, "maskedKernel": True, "initValue": 0.0},
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": ["Mean"], "glcm": ["Idm"]},
        },
    )


def make_radiomics_stage2(stage2: Path, spec: RadiomicsSpec) -> None:
    """Turn a random plain Stage-2 folder into a random RadiomicsUNet one: CT + map channels named after the map
    features, the plans' ``pdacrad_radiomics`` block, weights of the wrapped network (FiLM made non-zero so that
    the vector changes the output)."""
    dataset = json.loads((stage2 / "dataset.json").read_text())
    dataset["channel_names"] = {"0": "CT", **{str(i): n for i, n in enumerate(spec.map_features, start=1)}}
    plans = json.loads((stage2 / "plans.json").read_text())
    conf = plans["configurations"]["3d_fullres"]
    n_in = 1 + len(spec.map_features)
    conf["normalization_schemes"] = ["CTNormalization"] + ["ZScoreNormalization"] * len(spec.map_features)
    conf["use_mask_for_norm"] = [False] * n_in
    conf[PLANS_KEY] = {
        "global_features": list(spec.global_features),
        "attention_heads": None,
        "attention_tokens": 1,
    }
    plans["foreground_intensity_properties_per_channel"] = {
        str(c): plans["foreground_intensity_properties_per_channel"]["0"] for c in range(n_in)
    }
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    manager = PlansManager(plans)
    torch.manual_seed(3)
    network = nnUNetTrainerRadiomics.build_network_architecture(
        manager, manager.get_configuration("3d_fullres"), n_in, len(dataset["labels"]), False
    )
    assert isinstance(network, RadiomicsUNet) and network.bottleneck_attention is not None
    torch.nn.init.normal_(network.bottleneck_attention.film.weight, std=0.5)
    checkpoint = torch.load(
        stage2 / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False
    )
    checkpoint.update(
        network_weights=network.state_dict(),
        trainer_name="nnUNetTrainerRadiomics",
        init_args={**checkpoint["init_args"], "plans": plans, "dataset_json": dataset},
    )
    torch.save(checkpoint, stage2 / "fold_0" / "checkpoint_final.pth")
    (stage2 / "dataset.json").write_text(json.dumps(dataset, indent=2))
    (stage2 / "plans.json").write_text(json.dumps(plans, indent=2))


def write_radiomics_resources(folder: Path, spec: RadiomicsSpec) -> Path:
    """A verified resources/ folder: random Stage 1 (finds a pancreas on the real CT), random radiomics Stage 2,
    ``radiomics.json`` = ``spec``."""
    resources = write_random_resources(folder, stage1_pancreas_bias=-1.0, **SMALL)
    make_radiomics_stage2(resources / "stage2", spec)
    spec.save(resources / "radiomics.json")
    write_manifest(resources, demo=True, trained_on="nothing (random weights)", training_config="none")
    return resources


@pytest.fixture(scope="module")
def radiomics_resources(tmp_path_factory) -> Path:
    return write_radiomics_resources(tmp_path_factory.mktemp("radres") / "resources", tiny_spec())


@pytest.fixture(scope="module")
def spied_run(radiomics_resources, real_ct):
    """One end-to-end case with the network's conditioned_on and forward spied on."""
    pipeline = Pipeline(InferenceConfig(resources_dir=radiomics_resources, device="cpu", show_progress=False))
    network = pipeline.stage2.model.network
    vectors: list[torch.Tensor] = []
    channels: list[int] = []
    original_conditioned_on, original_forward = network.conditioned_on, network.forward

    def conditioned_on(g):
        vectors.append(torch.as_tensor(g).clone())
        return original_conditioned_on(g)

    def forward(x, g=None):
        channels.append(int(x.shape[1]))
        return original_forward(x, g)

    network.conditioned_on, network.forward = conditioned_on, forward
    try:
        result = pipeline.predict(real_ct)
    finally:
        del network.conditioned_on, network.forward
    return pipeline, result, vectors, channels


def test_radiomics_package_runs_end_to_end_and_feeds_the_network(spied_run, real_ct):
    pipeline, result, vectors, channels = spied_run
    assert pipeline.stage2.radiomics is not None and result.pancreas_found
    assert result.detection_map.GetSize() == real_ct.GetSize()
    assert 0.0 <= result.likelihood <= 1.0 and "radiomics" in result.seconds
    assert channels and set(channels) == {1 + len(MAP_FEATURES)}, "Stage 2 must see CT + one channel per map"
    assert len(vectors) == 1 and vectors[0].shape == (1, len(GLOBAL_FEATURES))
    # the vector is the z-scored features of the Stage-1 pancreas: the voxel volume reads back through the scaler
    volume_mm3 = vectors[0][0, 0].item() * 20_000.0 + 50_000.0
    voxel_mm3 = float(np.prod(real_ct.GetSpacing()))
    n_pancreas = int(sitk.GetArrayViewFromImage(result.pancreas_mask).sum())
    assert volume_mm3 == pytest.approx(n_pancreas * voxel_mm3, rel=1e-4)


def test_stage2_input_maps_follow_radiomics_json_order(spied_run, real_ct):
    pipeline, result, _, _ = spied_run
    assert result.roi is not None
    ct_roi = result.roi.crop(real_ct)
    inputs = pipeline.stage2.prepare(real_ct, result.pancreas_mask).inputs
    assert inputs is not None
    stacked = inputs.as_array()
    assert stacked.shape[0] == 3
    np.testing.assert_array_equal(stacked[0], sitk.GetArrayFromImage(ct_roi).astype(np.float32))
    mask = sitk.GetArrayFromImage(map_mask(result.roi.crop(result.pancreas_mask))).astype(bool)
    mean_map, idm_map = stacked[1], stacked[2]
    assert not mean_map[~mask].any() and not idm_map[~mask].any(), "initValue 0 outside the map mask"
    # channel 1 is the local mean (HU) of the 3×3×3 kernel: where the kernel lies inside the mask, a box filter
    from scipy import ndimage

    ct = stacked[0].astype(np.float64)
    inner = ndimage.binary_erosion(mask, np.ones((3, 3, 3)))
    assert inner.sum() > 100
    np.testing.assert_allclose(
        mean_map[inner], ndimage.uniform_filter(ct, 3, mode="nearest")[inner], rtol=1e-4
    )
    # channel 2 is the inverse difference moment, in [0, 1]
    assert idm_map[mask].min() >= 0.0 and idm_map[mask].max() <= 1.0 and idm_map[mask].std() > 0


def test_changing_the_vector_changes_the_output(spied_run, real_ct):
    pipeline, result, _, _ = spied_run
    assert result.roi is not None
    inputs = pipeline.stage2.prepare(real_ct, result.pancreas_mask).inputs
    assert inputs is not None
    from dataclasses import replace

    from pdacrad.inference.stages import run_stage2

    base = run_stage2(pipeline.stage2.model, inputs, 1).tumour_probability
    assert inputs.global_vector is not None
    shifted = run_stage2(pipeline.stage2.model, replace(inputs, global_vector=inputs.global_vector + 3.0), 1)
    assert np.abs(shifted.tumour_probability - base).max() > 1e-4


def test_map_mask_is_the_largest_component_dilated_in_mm():
    array = np.zeros((20, 40, 40), np.uint8)
    array[8:12, 10:20, 10:20] = 1
    array[2, 35, 35] = 1  # a stray voxel: not the largest component
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0, 2.5))  # x, y, z mm → radius 5, 5, 2 voxels for 5 mm
    mask = sitk.GetArrayFromImage(map_mask(image))
    assert MAP_MASK_DILATION_MM == 5.0
    assert mask[2, 35, 35] == 0
    zs, ys, xs = np.nonzero(mask)
    assert (
        (zs.min(), zs.max()) == (6, 13)
        and (ys.min(), ys.max()) == (5, 24)
        and (xs.min(), xs.max()) == (5, 24)
    )


def test_empty_map_mask_gives_initvalue_maps_without_computing(real_ct, monkeypatch):
    import pdacrad.radiomics

    def refuse(*args, **kwargs):
        raise AssertionError("compute_maps must not run on an empty mask")

    monkeypatch.setattr(pdacrad.radiomics, "compute_maps", refuse)
    empty = sitk.Image(real_ct.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(real_ct)
    maps = compute_map_channels(real_ct, empty, tiny_spec())
    assert len(maps) == 2 and all(m.shape == sitk.GetArrayViewFromImage(real_ct).shape for m in maps)
    assert not any(m.any() for m in maps)


def test_channel_order_mismatch_is_a_resource_error_naming_both_lists():
    spec = tiny_spec()
    dataset = {"channel_names": {"0": "CT", "1": MAP_FEATURES[1], "2": MAP_FEATURES[0]}}
    conf = {PLANS_KEY: {"global_features": list(GLOBAL_FEATURES)}}
    with pytest.raises(ResourceError, match="original_glcm_Idm', 'original_firstorder_Mean'") as info:
        check_against_model(spec, dataset, conf)
    assert "original_firstorder_Mean', 'original_glcm_Idm'" in str(info.value)
    dataset["channel_names"] = {"0": "CT", "1": MAP_FEATURES[0], "2": MAP_FEATURES[1]}
    with pytest.raises(ResourceError, match="global_features"):
        check_against_model(spec, dataset, {PLANS_KEY: {"global_features": list(GLOBAL_FEATURES[:2])}})
    check_against_model(spec, dataset, conf)  # the matching pair passes


def test_map_scaler_and_the_plans_map_normalisation_must_agree():
    """Scaled maps need plans that leave them as they are (NoNormalization); raw maps (no map_scaler, a model from
    before it) need plans that normalise them — either mismatch is refused, naming both sides."""
    import dataclasses

    from pdacrad.model.map_scaler import MapScaler

    raw = tiny_spec()
    scaled = dataclasses.replace(raw, map_scaler=MapScaler((0.0, 0.0), (1.0, 1.0), (0.5, 0.5), (0.1, 0.1)))
    dataset = {"channel_names": {"0": "CT", "1": MAP_FEATURES[0], "2": MAP_FEATURES[1]}}
    block = {PLANS_KEY: {"global_features": list(GLOBAL_FEATURES)}}
    zscore = {
        **block,
        "normalization_schemes": ["CTNormalization", "ZScoreNormalization", "ZScoreNormalization"],
    }
    fixed = {**block, "normalization_schemes": ["CTNormalization", "NoNormalization", "NoNormalization"]}
    check_against_model(raw, dataset, zscore)
    check_against_model(scaled, dataset, fixed)
    with pytest.raises(ResourceError, match=r"has a map_scaler.*ZScoreNormalization"):
        check_against_model(scaled, dataset, zscore)
    with pytest.raises(ResourceError, match="no map_scaler"):
        check_against_model(raw, dataset, fixed)
    # a model that takes no maps is not concerned
    check_against_model(
        scaled.for_variant("global"),
        {"channel_names": {"0": "CT"}},
        {**block, "normalization_schemes": ["CTNormalization"]},
    )


def test_per_fold_settings_outrank_the_shared_plans_block(tmp_path):
    # per-fold selection: the folds of a CT-dataset `global` model share one plans.json, which holds the feature
    # list of the fold trained last; each fold's own pdacrad_radiomics.json is what its network was built from
    from pdacrad.nnunet_ext.networks.builder import RadiomicsNetworkSettings, write_fold_settings

    spec = tiny_spec()
    dataset = {"channel_names": {"0": "CT", "1": MAP_FEATURES[0], "2": MAP_FEATURES[1]}}
    other_fold = {PLANS_KEY: {"global_features": list(reversed(GLOBAL_FEATURES))}}
    fold = tmp_path / "fold_0"
    write_fold_settings(fold, RadiomicsNetworkSettings(tuple(GLOBAL_FEATURES)), "nnUNetTrainerRadiomics")
    check_against_model(spec, dataset, other_fold, [fold])
    with pytest.raises(ResourceError, match="plans"):
        check_against_model(spec, dataset, other_fold)  # without the fold folders the plans block decides
    write_fold_settings(fold, RadiomicsNetworkSettings(tuple(GLOBAL_FEATURES[:2])), "nnUNetTrainerRadiomics")
    with pytest.raises(ResourceError, match=r"pdacrad_radiomics\.json"):
        check_against_model(spec, dataset, {PLANS_KEY: {"global_features": list(GLOBAL_FEATURES)}}, [fold])


def test_mismatched_package_is_refused_at_load(tmp_path):
    trained_with = tiny_spec()
    resources = write_radiomics_resources(tmp_path / "resources", trained_with)
    swapped = RadiomicsSpec(
        params=trained_with.params,
        global_features=trained_with.global_features,
        mean=trained_with.mean,
        std=trained_with.std,
        map_features=trained_with.map_features[::-1],
        map_params=trained_with.map_params,
    )
    swapped.save(resources / "radiomics.json")
    write_manifest(resources, demo=True, trained_on="nothing", training_config="none")
    with pytest.raises(ResourceError, match="map_features"):
        Pipeline(InferenceConfig(resources_dir=resources, device="cpu"))
    (resources / "radiomics.json").unlink()
    write_manifest(resources, demo=True, trained_on="nothing", training_config="none")
    with pytest.raises(ResourceError, match=r"radiomics\.json is missing"):
        Pipeline(InferenceConfig(resources_dir=resources, device="cpu"))


def test_map_channels_use_zscore_normalisation_in_nnunet():
    """A map channel named after its PyRadiomics feature gets nnU-Net's ZScoreNormalization, the CT channel CT
    normalisation (the deliberate choice documented in radiomics_inputs)."""
    from nnunetv2.preprocessing.normalization.map_channel_name_to_normalization import (
        get_normalization_scheme,
    )

    assert get_normalization_scheme("CT").__name__ == "CTNormalization"
    for name in (*MAP_FEATURES, "log-sigma-2-0-mm-3D_glszm_ZoneEntropy", "wavelet-LLH_glcm_Idmn"):
        assert get_normalization_scheme(name).__name__ == "ZScoreNormalization"


def test_map_mask_and_global_pancreas_follow_one_26_connected_rule():
    """Two 4³ cubes touching only at a corner are one 26-connected component (128 voxels) and beat a separate
    4×5×5 box (100 voxels) only under that rule; the map mask (no dilation) and the radiomics pancreas agree."""
    from pdacrad.inference.radiomics_inputs import radiomics_pancreas

    array = np.zeros((20, 20, 30), np.uint8)
    array[1:5, 1:5, 1:5] = 1
    array[5:9, 5:9, 5:9] = 1  # touches the first cube only at the corner (4, 4, 4)-(5, 5, 5)
    array[12:16, 12:17, 20:25] = 1
    image = sitk.GetImageFromArray(array)
    pancreas = sitk.GetArrayFromImage(radiomics_pancreas(image))
    assert pancreas.sum() == 128 and pancreas[1, 1, 1] and pancreas[8, 8, 8] and not pancreas[12, 12, 20]
    np.testing.assert_array_equal(sitk.GetArrayFromImage(map_mask(image, dilation_mm=0.0)), pancreas)
