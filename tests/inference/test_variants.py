"""The four Stage-2 variants (base, +maps, +global, +both) load in ``Pipeline`` from random model packages of the
real on-disk format and give a valid output with the inputs their radiomics.json names; mismatched packages are
refused at load naming both sides; a fold-restricted load uses only that fold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import ResourceError
from pdacrad.inference import InferenceConfig, Pipeline
from pdacrad.inference.pipeline import Stage2Pipeline
from pdacrad.inference.random_model import PANORAMA_LABELS, write_random_model_folder, write_random_resources
from pdacrad.nnunet_ext.picai_selection import BEST_PICAI_CHECKPOINT
from pdacrad.nnunet_ext.radiomics_net import build_radiomics_unet
from pdacrad.radiomics_spec import ModelInputs, RadiomicsSpec
from pdacrad.resources import write_manifest

PLANS_KEY = "pdacrad_radiomics"
MAP_FEATURES = ("original_firstorder_Mean", "original_firstorder_Median")
GLOBAL_FEATURES = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_firstorder_Maximum")
_SETTING = {"binWidth": 25, "label": 1}
SMALL = {
    "stage1_spacing_zyx": (6.0, 6.0, 6.0),
    "stage2_spacing_zyx": (3.0, 3.0, 3.0),
    "patch_size_zyx": (16, 64, 64),
    "mirror_axes": None,
}
CPU = torch.device("cpu")


def full_spec() -> RadiomicsSpec:
    """Cheap features only (first order, shape; maps at kernel radius 1)."""
    return RadiomicsSpec(
        params={
            "setting": _SETTING,
            "imageType": {"Original": {}},
            "featureClass": {"shape": ["VoxelVolume"], "firstorder": ["Mean", "Maximum"]},
        },
        global_features=GLOBAL_FEATURES,
        mean=(50_000.0, 40.0, 200.0),
        std=(20_000.0, 30.0, 100.0),
        map_features=MAP_FEATURES,
        map_params={
            "setting": _SETTING,
            "voxelSetting": {"kernelRadius": 1, "maskedKernel": True, "initValue": 0.0},
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": ["Mean", "Median"]},
        },
    )


def _rewrite(folder: Path, *, maps: tuple[str, ...], global_features: tuple[str, ...], seed: int) -> None:
    """Turn a random plain Stage-2 folder into the network of a variant: channels CT + ``maps`` (z-scored), and
    with ``global_features`` a RadiomicsUNet conditioned on them (plans block; FiLM made non-zero)."""
    dataset = json.loads((folder / "dataset.json").read_text())
    dataset["channel_names"] = {"0": "CT", **{str(i): n for i, n in enumerate(maps, start=1)}}
    plans = json.loads((folder / "plans.json").read_text())
    conf = plans["configurations"]["3d_fullres"]
    n_in = 1 + len(maps)
    conf["normalization_schemes"] = ["CTNormalization"] + ["ZScoreNormalization"] * len(maps)
    conf["use_mask_for_norm"] = [False] * n_in
    plans["foreground_intensity_properties_per_channel"] = {
        str(c): plans["foreground_intensity_properties_per_channel"]["0"] for c in range(n_in)
    }
    arch = conf["architecture"]
    torch.manual_seed(seed)
    if global_features:
        conf[PLANS_KEY] = {
            "global_features": list(global_features),
            "attention_heads": None,
            "attention_tokens": 1,
        }
        network = build_radiomics_unet(
            arch["network_class_name"],
            arch["arch_kwargs"],
            arch["_kw_requires_import"],
            n_in,
            len(dataset["labels"]),
            num_global_features=len(global_features),
            deep_supervision=False,
        )
        assert network.bottleneck_attention is not None
        torch.nn.init.normal_(network.bottleneck_attention.film.weight, std=0.5)
        trainer = "nnUNetTrainerRadiomics"
    else:
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

        network = get_network_from_plans(
            arch["network_class_name"],
            arch["arch_kwargs"],
            arch["_kw_requires_import"],
            n_in,
            len(dataset["labels"]),
            allow_init=True,
            deep_supervision=False,
        )
        trainer = "nnUNetTrainer"
    for fold in folder.glob("fold_*"):
        path = fold / "checkpoint_final.pth"
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        checkpoint.update(
            network_weights=network.state_dict(),
            trainer_name=trainer,
            init_args={**checkpoint["init_args"], "plans": plans, "dataset_json": dataset},
        )
        torch.save(checkpoint, path)
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2))
    (folder / "plans.json").write_text(json.dumps(plans, indent=2))


def write_variant_resources(folder: Path, variant: str, *, with_json: bool = True) -> Path:
    """A verified resources/ folder whose Stage 2 is ``variant``'s network and whose radiomics.json (unless
    ``with_json`` is false) is :func:`full_spec` for that variant (base: empty lists, inputs both false)."""
    resources = write_random_resources(folder, stage1_pancreas_bias=-1.0, **SMALL)
    inputs = ModelInputs.of_variant(variant)
    spec = full_spec().for_variant(variant)
    _rewrite(
        resources / "stage2",
        maps=spec.map_features if inputs.maps else (),
        global_features=spec.global_features if inputs.global_vector else (),
        seed=7,
    )
    if with_json:
        if variant == "base":
            spec = RadiomicsSpec({}, (), (), (), inputs=inputs)
        spec.save(resources / "radiomics.json")
    write_manifest(resources, demo=True, trained_on="nothing (random weights)", training_config="none")
    return resources


@pytest.fixture(scope="module")
def small_ct(real_ct) -> sitk.Image:
    """The real CT cropped to its central part (keeps the abdomen, halves the work)."""
    return real_ct[15:105, 10:90, :]


@pytest.mark.parametrize("variant", ["base", "maps", "global", "both"])
def test_every_variant_loads_in_pipeline_and_gives_a_valid_output(variant, tmp_path, small_ct):
    resources = write_variant_resources(tmp_path / "resources", variant)
    pipeline = Pipeline(InferenceConfig(resources_dir=resources, device="cpu", show_progress=False))
    stage2 = pipeline.stage2
    assert stage2.spec.variant == variant
    network = stage2.model.network
    seen: dict[str, list] = {"channels": [], "vectors": []}
    original = network.forward

    def forward(x, *args, **kwargs):
        seen["channels"].append(int(x.shape[1]))
        condition = getattr(network, "_condition", None)
        seen["vectors"].append(None if condition is None else torch.as_tensor(condition).clone())
        return original(x, *args, **kwargs)

    network.forward = forward
    try:
        result = pipeline.predict(small_ct)
    finally:
        del network.forward
    assert result.pancreas_found and result.roi is not None
    out = sitk.GetArrayFromImage(result.detection_map)
    assert result.detection_map.GetSize() == small_ct.GetSize() and out.min() >= 0.0 and out.max() <= 1.0
    assert result.likelihood == pytest.approx(float(out.max()))
    inputs = ModelInputs.of_variant(variant)
    assert set(seen["channels"]) == {1 + (len(MAP_FEATURES) if inputs.maps else 0)}
    assert ("radiomics" in result.seconds) == (variant != "base")
    if inputs.global_vector:
        assert all(v is not None and v.shape[-1] == len(GLOBAL_FEATURES) for v in seen["vectors"])
    else:
        assert all(v is None for v in seen["vectors"])


def test_a_base_model_without_radiomics_json_is_the_base_variant(tmp_path):
    resources = write_variant_resources(tmp_path / "resources", "base", with_json=False)
    pipeline = Pipeline(InferenceConfig(resources_dir=resources, device="cpu", show_progress=False))
    assert pipeline.stage2.spec.variant == "base" and pipeline.stage2.radiomics is None
    assert pipeline.stage2.margins_mm == (100.0, 50.0, 15.0)


@pytest.mark.parametrize(
    "model_variant, json_variant, message",
    [
        ("base", "maps", r"takes 1 input channels .* feeds it 3"),
        ("maps", "both", r"conditioned on 0 global feature\(s\); .* feeds 3"),
        ("global", "base", r"pdacrad_radiomics block .* inputs\.global_vector=false"),
        ("both", "global", r"takes 3 input channels .* feeds it 1"),
    ],
)
def test_a_package_whose_model_and_radiomics_json_disagree_is_refused(
    model_variant, json_variant, message, tmp_path
):
    resources = write_variant_resources(tmp_path / "resources", model_variant)
    spec = full_spec().for_variant(json_variant)
    spec = RadiomicsSpec({}, (), (), (), inputs=spec.inputs) if json_variant == "base" else spec
    spec.save(resources / "radiomics.json")
    with pytest.raises(ResourceError, match=message):
        Stage2Pipeline.load(resources / "stage2", resources / "radiomics.json", _config(resources), CPU)


def test_a_folds_own_global_vectors_must_list_radiomics_json_features(tmp_path):
    resources = write_variant_resources(tmp_path / "resources", "global")
    fold = resources / "stage2" / "fold_0"
    names = list(GLOBAL_FEATURES)
    (fold / "global_vectors.json").write_text(json.dumps({"feature_names": names, "vectors": {}}))
    Stage2Pipeline.load(resources / "stage2", resources / "radiomics.json", _config(resources), CPU)
    (fold / "global_vectors.json").write_text(json.dumps({"feature_names": names[::-1], "vectors": {}}))
    with pytest.raises(ResourceError, match=r"fold_0/global_vectors\.json feature_names"):
        Stage2Pipeline.load(resources / "stage2", resources / "radiomics.json", _config(resources), CPU)


def _config(resources: Path, **kwargs) -> InferenceConfig:
    return InferenceConfig(resources_dir=resources, device="cpu", show_progress=False, **kwargs)


def test_a_fold_restricted_load_uses_only_that_fold(tmp_path):
    folder = tmp_path / "stage2"
    kwargs = {"labels": PANORAMA_LABELS, "spacing_zyx": (3, 3, 3), "patch_size_zyx": (16, 32, 32)}
    write_random_model_folder(folder, seed=1, **kwargs)
    other = write_random_model_folder(tmp_path / "other", seed=2, **kwargs)
    (folder / "fold_1").mkdir()
    (other / "fold_0" / "checkpoint_final.pth").rename(folder / "fold_1" / "checkpoint_final.pth")
    # fold 1 also has a PI-CAI-selected checkpoint (a copy of its final one, marked by a different bias)
    picai = torch.load(folder / "fold_1" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    head = [k for k in picai["network_weights"] if k.endswith("seg_layers.0.bias")][0]
    picai["network_weights"][head] = picai["network_weights"][head] + 1.0
    torch.save(picai, folder / "fold_1" / BEST_PICAI_CHECKPOINT)
    config = _config(tmp_path)
    both = Stage2Pipeline.load(folder, None, config, CPU)
    assert both.model.info.folds == ("fold_0", "fold_1")
    only = Stage2Pipeline.load(folder, None, config, CPU, folds=("fold_1",))
    assert only.model.info.folds == ("fold_1",)
    parameters = only.model._predictor.list_of_parameters
    assert len(parameters) == 1
    torch.testing.assert_close(parameters[0][head], picai["network_weights"][head])
    ct = sitk.GetImageFromArray(np.random.default_rng(0).normal(40, 30, (16, 32, 32)).astype(np.float32))
    x = only.model.predict(sitk.GetArrayFromImage(ct)[None], (3.0, 3.0, 3.0), probabilities=True)
    folder_1 = tmp_path / "fold1_alone"
    folder_1.mkdir()
    for name in ("dataset.json", "plans.json"):
        (folder_1 / name).write_text((folder / name).read_text())
    (folder_1 / "fold_1").mkdir()
    (folder_1 / "fold_1" / BEST_PICAI_CHECKPOINT).write_bytes(
        (folder / "fold_1" / BEST_PICAI_CHECKPOINT).read_bytes()
    )
    alone = Stage2Pipeline.load(folder_1, None, config, CPU)
    y = alone.model.predict(sitk.GetArrayFromImage(ct)[None], (3.0, 3.0, 3.0), probabilities=True)
    assert x.probabilities is not None and y.probabilities is not None
    np.testing.assert_array_equal(x.probabilities, y.probabilities)
    with pytest.raises(ResourceError, match="fold_7"):
        Stage2Pipeline.load(folder, None, config, CPU, folds=("fold_7",))
