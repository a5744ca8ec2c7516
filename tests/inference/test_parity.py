"""Train/inference parity of the Stage-2 inputs: the training tree's preparation of one case (``global-features``'
``extract_case`` and ``maps``' ``compute_case``, on the case's Stage-2 ROI crop) and the inference side's
(:meth:`Stage2Pipeline.prepare`) give the same global vector and the same map channels, on a synthetic case whose
Stage-1 mask is its ground-truth pancreas; and, with a Stage-1 mask that differs from the ground truth (so the
training ROI, cut around the ground truth, and the inference ROI, cut around Stage 1, differ), the same
**normalised network input** — what nnU-Net's preprocessing makes of either — once the maps are scaled by
``map_scaler``."""

from __future__ import annotations

import dataclasses
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
from pdacrad_train.parallel import MapCompute
from pdacrad_train.steps.radiomics.global_features import extract_case

#: The map settings of these tests: CPU, float64, one in-process worker thread.
IN_PROCESS = MapCompute("cpu", "float64", n_workers=1, processes=False)

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
        MapCaseJob(CASE, roi_path, mask_path, None, "sha"), wanted, spec.preprocessing, maps_cache, IN_PROCESS
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


# --- parity of the normalised network input with a Stage-1 mask that is not the ground truth ---------------------
# Training cuts the Stage-2 ROI around the ground-truth pancreas (convert) and computes the maps inside the map mask
# of the out-of-fold Stage-1 mask; inference cuts the ROI around the Stage-1 pancreas. With the map channels scaled
# by radiomics.json's map_scaler (plans: NoNormalization) the network input nnU-Net's preprocessor makes is the same
# on both sides wherever both ROIs see the voxel; with nnU-Net's per-case z-score (no map_scaler) it is not.
NARROW = Preprocessing(roi_margins_mm_xyz=(20.0, 15.0, 9.0))  # ROIs that differ when the masks do


def _stage1_mask(gt: sitk.Image) -> sitk.Image:
    """A Stage-1 mask that differs from the ground truth: eroded in-plane by one voxel, moved 3 voxels in x and
    2 in y (3.6 mm, 2.4 mm)."""
    eroded = sitk.BinaryErode(gt, [1, 1, 0], sitk.sitkBall, 0, 1)
    array = np.roll(sitk.GetArrayFromImage(eroded), (2, 3), axis=(1, 2))
    out = sitk.GetImageFromArray(array.astype(np.uint8))
    out.CopyInformation(gt)
    return out


def _preprocessed(model, image_czyx: np.ndarray, spacing_zyx, plans_manager=None, configuration=None):
    """What nnU-Net's predictor feeds the network (``run_case_npy`` with the model's plans, as
    ``predict_single_npy_array`` calls it) and the crop nnU-Net applied (per axis, z, y, x)."""
    predictor = model._predictor
    configuration = configuration or predictor.configuration_manager
    data, _, properties = configuration.preprocessor_class(verbose=False).run_case_npy(
        np.ascontiguousarray(image_czyx, dtype=np.float32),
        None,
        {"spacing": [float(s) for s in spacing_zyx]},
        plans_manager or predictor.plans_manager,
        configuration,
        predictor.dataset_json,
    )
    return data, [b[0] for b in properties["bbox_used_for_cropping"]]


def _on_full_grid(data: np.ndarray, roi_index_xyz, crop_zyx, shape_zyx) -> np.ndarray:
    """``data`` (C, z, y, x) placed on the full image grid, NaN where the ROI does not reach."""
    out = np.full((data.shape[0], *shape_zyx), np.nan, np.float32)
    start = [int(i) + int(c) for i, c in zip(roi_index_xyz[::-1], crop_zyx, strict=True)]
    out[(slice(None), *(slice(s, s + n) for s, n in zip(start, data.shape[1:], strict=True)))] = data
    return out


def _both_sides(spec, ct, gt, stage1, folder, package):
    """Training side (ROI around ``gt``; maps of ``stage1``'s map mask, written by the map dataset's own function)
    and inference side (:meth:`Stage2Pipeline.prepare` with ``stage1``), each run through nnU-Net's preprocessing
    of the package's Stage-2 plans, on the full image grid; and the inference map mask there."""
    from pdacrad_train.map_scaling import write_case_channels

    config = InferenceConfig(resources_dir=package, device="cpu", show_progress=False)
    stage2 = Stage2Pipeline.load(package / "stage2", package / "radiomics.json", config, torch.device("cpu"))
    prepared = stage2.prepare(ct, stage1)
    assert prepared.inputs is not None and prepared.roi is not None
    shape = sitk.GetArrayViewFromImage(ct).shape
    spacing = ct.GetSpacing()[::-1]
    data, crop = _preprocessed(stage2.model, prepared.inputs.as_array(), spacing)
    inference = _on_full_grid(data, prepared.roi.index, crop, shape)

    train_roi = roi_from_mask(gt, spec.preprocessing.roi_margins_mm_xyz)
    assert train_roi.index != prepared.roi.index, "the test needs ROIs that differ"
    roi_path, mask_path = folder / f"{CASE}_gt_roi_0000.nii.gz", folder / f"{CASE}_stage1.nii.gz"
    sitk.WriteImage(train_roi.crop(ct), str(roi_path))
    sitk.WriteImage(stage1, str(mask_path))
    job, wanted = MapCaseJob(CASE, roi_path, mask_path, None, "s1"), map_features(spec, MAP_DTYPE)
    compute_case(job, wanted, spec.preprocessing, folder / "map_cache", IN_PROCESS)
    channels = [folder / f"{CASE}_gt_roi_{k:04d}.nii.gz" for k in range(1, len(wanted) + 1)]
    write_case_channels(job, wanted, spec, folder / "map_cache", channels)
    stack = np.stack([sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in (roi_path, *channels)])
    data, crop = _preprocessed(stage2.model, stack, spacing)
    training = _on_full_grid(data, train_roi.index, crop, shape)

    from pdacrad.inference.radiomics_inputs import map_mask, radiomics_pancreas

    mask = sitk.GetArrayFromImage(
        map_mask(radiomics_pancreas(stage1), spec.preprocessing.map_mask_dilation_mm)
    )
    return training, inference, mask != 0


def _package(tmp_path, variant_spec, ct, scaled: bool) -> tuple[RadiomicsSpec, Path]:
    """A ``maps`` package planned at the case's own spacing (so that nnU-Net does not resample and voxels can be
    compared one to one), its radiomics.json with the narrow ROI and, when ``scaled``, a map_scaler and plans that
    say NoNormalization for the maps."""
    from pdacrad.model.manifest import write_manifest
    from pdacrad.model.map_scaler import MapScaler, with_fixed_map_normalisation
    from tests.inference.conftest import write_variant_resources

    package = write_variant_resources(
        tmp_path / "resources", "maps", plans={"stage2_spacing_zyx": ct.GetSpacing()[::-1]}
    )
    spec = dataclasses.replace(variant_spec.for_variant("maps"), preprocessing=NARROW)
    if scaled:
        scaler = MapScaler(lower=(-200.0, -200.0), upper=(300.0, 300.0), mean=(60.0, 55.0), std=(40.0, 45.0))
        spec = dataclasses.replace(spec, map_scaler=scaler)
        plans_file = package / "stage2" / "plans.json"
        plans = with_fixed_map_normalisation(json.loads(plans_file.read_text()), len(spec.map_features))
        plans_file.write_text(json.dumps(plans, indent=2))
    spec.save(package / "radiomics.json")
    write_manifest(package, demo=True, trained_on="nothing (random weights)", training_config="none")
    return spec, package


def test_normalised_network_inputs_agree_with_a_stage1_mask_that_differs_from_the_ground_truth(
    case, tmp_path, variant_spec
):
    ct, gt, folder = case
    stage1 = _stage1_mask(gt)
    assert sitk.GetArrayViewFromImage(stage1).sum() < sitk.GetArrayViewFromImage(gt).sum()
    spec, package = _package(tmp_path, variant_spec, ct, scaled=True)
    training, inference, mask = _both_sides(spec, ct, gt, stage1, folder, package)
    seen = ~np.isnan(training[0]) & ~np.isnan(inference[0])
    assert seen[mask].all(), "both ROIs hold the whole map mask"
    assert (~seen).sum() > 1000, "the ROIs differ"
    # CT: nnU-Net's CTNormalization with the dataset's fixed statistics — equal wherever both ROIs reach.
    np.testing.assert_allclose(training[0][seen], inference[0][seen], atol=1e-5)
    for c, name in enumerate(spec.map_features, start=1):
        np.testing.assert_allclose(training[c][mask], inference[c][mask], atol=1e-5, err_msg=name)
        assert np.all(training[c][seen & ~mask] == 0) and np.all(inference[c][seen & ~mask] == 0), name
        assert np.ptp(inference[c][mask]) > 0.5, f"{name}: real contrast inside the mask"


def test_per_case_zscore_of_raw_maps_gave_training_and_inference_different_inputs(
    case, tmp_path, variant_spec
):
    """The same comparison without map_scaler (a model from before it: raw maps, z-scored per case over the ROI by
    nnU-Net): the in-mask inputs differ by the mask-to-ROI volume fraction — what the scaler removes."""
    ct, gt, folder = case
    spec, package = _package(tmp_path, variant_spec, ct, scaled=False)
    training, inference, mask = _both_sides(spec, ct, gt, _stage1_mask(gt), folder, package)
    np.testing.assert_allclose(training[0][mask], inference[0][mask], atol=1e-5)  # the CT still agrees
    gap = np.abs(training[1][mask] - inference[1][mask])
    assert np.median(gap) > 0.05, f"per-case z-scores agree anyway (median gap {np.median(gap):.3g})"
