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
from pdacrad.model.radiomics_spec import ModelInputs, RadiomicsSpec
from pdacrad.nnunet_ext.checkpoint_selection import BEST_PICAI_CHECKPOINT
from tests.random_model import PANORAMA_LABELS, write_random_model_folder

CPU = torch.device("cpu")
MAP_FEATURES = ("original_firstorder_Mean", "original_firstorder_Median")
GLOBAL_FEATURES = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_firstorder_Maximum")


@pytest.fixture(scope="module")
def small_ct(real_ct) -> sitk.Image:
    """The real CT cropped to its central part (keeps the abdomen, halves the work)."""
    return real_ct[15:105, 10:90, :]


@pytest.mark.parametrize("variant", ["base", "maps", "global", "both"])
def test_every_variant_loads_in_pipeline_and_gives_a_valid_output(
    variant, tmp_path, small_ct, variant_package
):
    resources = variant_package(tmp_path / "resources", variant)
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


def test_a_base_model_without_radiomics_json_is_the_base_variant(tmp_path, variant_package):
    resources = variant_package(tmp_path / "resources", "base", with_json=False)
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
    model_variant, json_variant, message, tmp_path, variant_package, variant_spec
):
    resources = variant_package(tmp_path / "resources", model_variant)
    spec = variant_spec.for_variant(json_variant)
    spec = RadiomicsSpec({}, (), (), (), inputs=spec.inputs) if json_variant == "base" else spec
    spec.save(resources / "radiomics.json")
    with pytest.raises(ResourceError, match=message):
        Stage2Pipeline.load(resources / "stage2", resources / "radiomics.json", _config(resources), CPU)


def test_a_folds_own_global_vectors_must_list_radiomics_json_features(tmp_path, variant_package):
    resources = variant_package(tmp_path / "resources", "global")
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
    head = next(k for k in picai["network_weights"] if k.endswith("seg_layers.0.bias"))
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


def test_roi_margins_come_from_radiomics_json_unless_overridden(tmp_path, variant_package, real_ct):
    from dataclasses import replace

    from pdacrad.model.radiomics_spec import Preprocessing
    from pdacrad.preprocessing.roi import roi_from_mask

    resources = variant_package(tmp_path / "resources", "base")
    spec = RadiomicsSpec(
        {}, (), (), (), inputs=ModelInputs(False, False), preprocessing=Preprocessing((60.0, 30.0, 9.0))
    )
    spec.save(resources / "radiomics.json")
    mask_array = np.zeros(sitk.GetArrayViewFromImage(real_ct).shape, np.uint8)
    mask_array[12:16, 40:50, 50:60] = 1
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(real_ct)
    trained = Stage2Pipeline.load(resources / "stage2", resources / "radiomics.json", _config(resources), CPU)
    assert trained.margins_mm == (60.0, 30.0, 9.0)
    assert trained.prepare(real_ct, mask).roi == roi_from_mask(mask, (60.0, 30.0, 9.0))
    overridden = Stage2Pipeline(
        trained.model, trained.spec, replace(trained.config, roi_margins_mm=(9.0, 9.0, 3.0)), "cpu"
    )
    assert overridden.prepare(real_ct, mask).roi == roi_from_mask(mask, (9.0, 9.0, 3.0))
    assert roi_from_mask(mask, (9.0, 9.0, 3.0)) != roi_from_mask(mask, (60.0, 30.0, 9.0))
