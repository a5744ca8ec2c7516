"""Train/inference parity of the Stage-2 inputs: the training tree's preparation of one case (``global-features``'
``extract_case`` and ``maps``' ``compute_case``, on the case's Stage-2 ROI crop) and the inference side's
(:meth:`Stage2Pipeline.prepare`) give the same global vector and the same map channels, on a synthetic case whose
Stage-1 mask is its ground-truth pancreas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.inference import InferenceConfig
from pdacrad.inference.pipeline import Stage2Pipeline
from pdacrad.inference.radiomics_inputs import MAP_DTYPE
from pdacrad.labels import PANCREAS_LABELS
from pdacrad.model.radiomics_spec import Preprocessing, RadiomicsSpec
from pdacrad.preprocessing.roi import roi_from_mask
from pdacrad.synth.cohort import generate_case

pytest.importorskip("pdacrad_train", reason="the training tree (training/) is not on the path")
from pdacrad_train.feature_cache import CaseJob
from pdacrad_train.map_cache import MapCaseJob, compute_case, map_features, map_path
from pdacrad_train.steps.radiomics.global_features import extract_case

CASE = "parity_000"


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[sitk.Image, sitk.Image, Path]:
    """A small synthetic CT and its Stage-1 mask = the ground-truth pancreas (labels 1, 4, 5), written to disk."""
    folder = tmp_path_factory.mktemp("parity")
    ct, labels, _ = generate_case(
        CASE, 11, True, "texture", size_xyz=(128, 112, 32), spacing_xyz_mm=(1.2, 1.2, 3.0)
    )
    gt = sitk.GetArrayFromImage(labels)
    mask = sitk.GetImageFromArray(np.isin(gt, PANCREAS_LABELS).astype(np.uint8))
    mask.CopyInformation(labels)
    assert sitk.GetArrayViewFromImage(mask).any()
    sitk.WriteImage(ct, str(folder / f"{CASE}_ct.nii.gz"))
    sitk.WriteImage(mask, str(folder / f"{CASE}_mask.nii.gz"))
    # both as read back (NIfTI stores the geometry in single precision), as the training tree reads them
    return (
        sitk.ReadImage(str(folder / f"{CASE}_ct.nii.gz")),
        sitk.ReadImage(str(folder / f"{CASE}_mask.nii.gz")),
        folder,
    )


def _training_side(
    spec: RadiomicsSpec, ct: sitk.Image, mask: sitk.Image, folder: Path
) -> tuple[np.ndarray, list[np.ndarray], sitk.Image]:
    """The training tree on this case: the Stage-2 ROI crop as ``convert`` writes it (around the pancreas, with
    the preprocessing margins), global features z-scored with the spec's scaler, and the map channels."""
    ct_roi = roi_from_mask(mask, spec.preprocessing.roi_margins_mm_xyz).crop(ct)
    roi_path = folder / f"{CASE}_roi_0000.nii.gz"
    sitk.WriteImage(ct_roi, str(roi_path))
    ct_path, mask_path = folder / f"{CASE}_ct.nii.gz", folder / f"{CASE}_mask.nii.gz"
    cache = folder / "global_cache"
    job = CaseJob(CASE, ct_path, mask_path)
    assert extract_case(job, dict(spec.params), "k", cache, spec.preprocessing) == "ok"
    features = json.loads((cache / f"{CASE}.json").read_text())["features"]
    vector = spec.zscore({k: np.nan if v is None else v for k, v in features.items()})
    maps_cache, wanted = folder / "map_cache", map_features(spec, MAP_DTYPE)
    compute_case(
        MapCaseJob(CASE, roi_path, mask_path, None, "sha"), wanted, spec.preprocessing, maps_cache, "cpu"
    )
    maps = []
    for feature in wanted:
        image = sitk.ReadImage(str(map_path(maps_cache, feature, CASE)))
        assert image.GetSize() == ct_roi.GetSize() and image.GetOrigin() == pytest.approx(ct_roi.GetOrigin())
        maps.append(sitk.GetArrayFromImage(image))
    return vector, maps, ct_roi


def _inference_side(
    spec: RadiomicsSpec, ct: sitk.Image, mask: sitk.Image, package: Path, device: torch.device
):
    spec.save(package / "radiomics.json")
    config = InferenceConfig(resources_dir=package, device="cpu", show_progress=False)
    stage2 = Stage2Pipeline.load(package / "stage2", package / "radiomics.json", config, device)
    prepared = stage2.prepare(ct, mask)
    assert prepared.inputs is not None and prepared.inputs.global_vector is not None
    return prepared


def _compare(spec, case, tmp_path, variant_package) -> None:
    ct, mask, folder = case
    package = variant_package(tmp_path / "resources", "both")
    prepared = _inference_side(spec, ct, mask, package, torch.device("cpu"))
    vector, maps, ct_roi = _training_side(spec, ct, mask, folder)
    assert prepared.inputs is not None
    assert prepared.inputs.ct.GetSize() == ct_roi.GetSize()
    assert prepared.inputs.ct.GetOrigin() == pytest.approx(ct_roi.GetOrigin())
    np.testing.assert_allclose(prepared.inputs.global_vector, vector, rtol=1e-5, atol=1e-6)
    assert len(prepared.inputs.extra_channels) == len(maps) == len(spec.map_features)
    for name, inference, training in zip(
        spec.map_features, prepared.inputs.extra_channels, maps, strict=True
    ):
        assert np.count_nonzero(training) > 100, name
        np.testing.assert_allclose(inference, training, rtol=1e-6, atol=1e-6, err_msg=name)


def test_training_and_inference_prepare_the_same_inputs(case, tmp_path, variant_package, variant_spec):
    _compare(variant_spec, case, tmp_path, variant_package)


def test_parity_holds_for_a_non_default_map_mask_dilation(case, tmp_path, variant_package, variant_spec):
    spec = RadiomicsSpec.from_dict(
        {**variant_spec.to_dict(), "preprocessing": Preprocessing(map_mask_dilation_mm=9.0).to_dict()}
    )
    _compare(spec, case, tmp_path, variant_package)


def test_parity_holds_for_a_stage1_mask_with_a_stray_component(case, tmp_path, variant_package, variant_spec):
    ct, mask, folder = case
    array = sitk.GetArrayFromImage(mask)
    array[2, 5:9, 5:9] = 1  # a far-away false positive of Stage 1, not connected to the pancreas
    stray = sitk.GetImageFromArray(array)
    stray.CopyInformation(mask)
    sitk.WriteImage(stray, str(folder / f"{CASE}_mask.nii.gz"))
    try:
        _compare(variant_spec, (ct, stray, folder), tmp_path, variant_package)
    finally:
        sitk.WriteImage(mask, str(folder / f"{CASE}_mask.nii.gz"))
