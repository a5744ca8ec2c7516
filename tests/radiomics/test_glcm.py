"""GLCM family vs live PyRadiomics voxel mode on real CT (tests/data), on PyRadiomics' own binning."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.radiomics import glcm
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.family import FamilyContext
from tests.radiomics.family_checks import discretised_image
from tests.radiomics.reference import pyradiomics_voxel_maps, real_ct_roi, reference_kernel_batch

ALL = [f for f in glcm.FEATURES if f != "MCC"]


def _ours(image: sitk.Image, mask: sitk.Image, features: list[str], dtype=torch.float64, **settings):
    batch, vox = reference_kernel_batch(image, mask, dtype=dtype, **settings)
    roi = torch.as_tensor(sitk.GetArrayFromImage(mask) == 1)
    level_volume = (
        roi.to(torch.int64) if settings.get("maskedKernel", True) else torch.ones_like(roi, dtype=torch.int64)
    )
    levels = discretised_image(
        level_volume, roi, int(settings["kernelRadius"]), spacing_zyx=image.GetSpacing()[::-1]
    )
    context = FamilyContext(
        levels.spacing_zyx, glcm.prepare(levels, features, settings, Backend.choose("cpu"))
    )
    return {k: v.numpy() for k, v in glcm.compute(batch, features, settings, context).items()}, vox


def assert_parity(ours: np.ndarray, ref: np.ndarray, rel: float = 1e-9, abs_: float = 1e-12) -> None:
    assert ours.shape == ref.shape
    assert np.array_equal(np.isnan(ours), np.isnan(ref)), "NaN pattern differs"
    ok = ~np.isnan(ref)
    err = np.abs(ours[ok] - ref[ok])
    assert np.all((err <= abs_) | (err <= rel * np.abs(ref[ok]))), f"max abs err {err.max():.3e}"


@pytest.mark.parametrize("radius", [1, 2])
def test_every_feature_matches_pyradiomics(radius: int) -> None:
    image, mask = real_ct_roi()
    settings = {"kernelRadius": radius, "binWidth": 25}
    ref = pyradiomics_voxel_maps(image, mask, "glcm", ALL, **settings)
    ours, vox = _ours(image, mask, ALL, **settings)
    for name in ALL:
        assert_parity(ours[name], ref[name][tuple(vox.T)])


@pytest.mark.parametrize(
    "settings",
    [
        {"distances": [1, 2]},
        {"force2D": True, "force2Ddimension": 0},
        # Correlation left out below for the asymmetric GLCM: there a one-level marginal makes σ exactly 0 or
        # ~1e-16 depending on summation order, which flips PyRadiomics' "σxσy = 0 → 1" branch either way.
        {"symmetricalGLCM": False},
        {"weightingNorm": "euclidean"},
    ],
)
def test_settings_variants_match_pyradiomics(settings: dict) -> None:
    image, mask = real_ct_roi()
    settings = {"kernelRadius": 1, "binWidth": 25, **settings}
    names = ["JointAverage", "Contrast", "Correlation", "Imc2", "ClusterShade", "SumEntropy"]
    if settings.get("symmetricalGLCM") is False:
        names.remove("Correlation")
    ref = pyradiomics_voxel_maps(image, mask, "glcm", names, **settings)
    ours, vox = _ours(image, mask, names, **settings)
    for name in names:
        assert_parity(ours[name], ref[name][tuple(vox.T)])


def _small_roi() -> tuple[sitk.Image, sitk.Image]:
    image, mask = real_ct_roi()
    return image[10:22, 6:16, 8:14], mask[10:22, 6:16, 8:14]


def test_mcc_matches_pyradiomics_to_1e8() -> None:
    # Unmasked kernels: PyRadiomics' MCC fails for a whole batch as soon as one voxel has an angle without pairs
    # (NaN reaches numpy.linalg.eigvals), so the reference only exists where no kernel is empty in some angle.
    image, mask = _small_roi()
    settings = {"kernelRadius": 1, "binWidth": 25, "maskedKernel": False}
    ref = pyradiomics_voxel_maps(image, mask, "glcm", ["MCC"], **settings)
    ours, vox = _ours(image, mask, ["MCC"], **settings)
    assert_parity(ours["MCC"], ref["MCC"][tuple(vox.T)], rel=1e-8, abs_=1e-8)


def test_float32_within_1e4() -> None:
    image, mask = real_ct_roi()
    settings = {"kernelRadius": 2, "binWidth": 25}
    names = ALL
    ref, _ = _ours(image, mask, names, **settings)
    fast, _ = _ours(image, mask, names, dtype=torch.float32, **settings)
    for name in names:
        # relative to the map's magnitude: features that cancel (ClusterShade, Imc2) lose digits near 0 in float32
        scale = np.nanmax(np.abs(ref[name]))
        assert np.nanmax(np.abs(fast[name] - ref[name])) <= 1e-4 * scale, name


def test_flat_and_single_cell_kernels() -> None:
    levels = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 2, 0, 0, 0, 0]])
    offsets = torch.tensor([[0, y, x] for y in (-1, 0, 1) for x in (-1, 0, 1)])
    batch = glcm.KernelBatch(levels, torch.tensor([1.0, 3.0], dtype=torch.float64), offsets, 1)
    out = glcm.compute(batch, ["Contrast", "Correlation", "JointEntropy", "MCC"], {"force2D": True})
    assert out["Contrast"][0] == 0 and out["Correlation"][0] == 1 and out["MCC"][0] == 0
    assert torch.isnan(out["JointEntropy"][1])  # no pair in any angle: NaN, as PyRadiomics


def test_batch_invariance() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1, binWidth=25)
    full = glcm.compute(batch, ALL, {})
    for lo, hi in [(0, 7), (7, 300), (300, batch.n_voxels)]:
        part = glcm.KernelBatch(batch.levels[lo:hi], batch.grey_levels, batch.offsets, 1)
        for name, value in glcm.compute(part, ALL, {}).items():
            torch.testing.assert_close(value, full[name][lo:hi], rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("radius", [1, 2])
def test_angles_empty_in_the_whole_roi_are_dropped(radius: int) -> None:
    # a one-slice ROI: every angle with dz != 0 has no pair anywhere, PyRadiomics drops it, so Joint Average (a
    # plain mean over angles) stays finite instead of NaN
    image, mask = real_ct_roi()
    arr = sitk.GetArrayFromImage(mask)
    z = int(np.argmax((arr == 1).sum((1, 2))))
    one = np.zeros_like(arr)
    one[z] = arr[z]
    flat = sitk.GetImageFromArray(one)
    flat.CopyInformation(mask)
    settings = {"kernelRadius": radius, "binWidth": 25, "distances": [1, 2]}
    ref = pyradiomics_voxel_maps(image, flat, "glcm", ["JointAverage", "Contrast"], **settings)
    ours, vox = _ours(image, flat, ["JointAverage", "Contrast"], **settings)
    assert np.isfinite(ours["JointAverage"]).any()
    for name in ("JointAverage", "Contrast"):
        assert_parity(ours[name], ref[name][tuple(vox.T)])


SPARSE = ["Correlation", "Imc1", "Imc2", "JointEntropy"]  # the paper's GLCM maps


@pytest.mark.parametrize(
    "settings",
    [
        {"kernelRadius": 1},
        {"kernelRadius": 2},
        {"kernelRadius": 2, "binWidth": 5},  # ~60 grey levels: where the sparse path pays off
        {"kernelRadius": 1, "distances": [1, 2]},
        {"kernelRadius": 2, "force2D": True, "force2Ddimension": 0},
        {"kernelRadius": 1, "maskedKernel": False},
    ],
)
def test_paper_features_match_pyradiomics(settings: dict) -> None:
    # Correlation, Imc1, Imc2 and JointEntropy alone (the paper's maps): only the formulas they need run
    image, mask = real_ct_roi()
    settings = {"binWidth": 25, **settings}
    ref = pyradiomics_voxel_maps(image, mask, "glcm", SPARSE, **settings)
    ours, vox = _ours(image, mask, SPARSE, **settings)
    for name in SPARSE:
        assert_parity(ours[name], ref[name][tuple(vox.T)])


def test_values_do_not_depend_on_the_other_requested_features_or_the_batch() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=2, binWidth=10)
    sparse = glcm.compute(batch, SPARSE, {})
    dense = glcm.compute(batch, [*SPARSE, "Contrast"], {})
    for name in SPARSE:
        torch.testing.assert_close(sparse[name], dense[name], rtol=1e-12, atol=1e-14, equal_nan=True)
    for lo, hi in [(0, 5), (5, 400), (400, batch.n_voxels)]:
        part = glcm.KernelBatch(batch.levels[lo:hi], batch.grey_levels, batch.offsets, 2)
        for name, value in glcm.compute(part, SPARSE, {}).items():
            torch.testing.assert_close(value, sparse[name][lo:hi], rtol=0, atol=0, equal_nan=True)
