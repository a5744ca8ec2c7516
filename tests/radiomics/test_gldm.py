"""GLDM voxel maps vs live PyRadiomics (pyradiomics-bhklab 3.1.4) on real CT."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import gldm
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.family import FamilyContext
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi, reference_kernel_batch, reference_levels


@pytest.mark.parametrize("radius", [1, 2])
def test_every_feature_matches_pyradiomics_float64(radius: int) -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(gldm, "gldm", image, mask, kernelRadius=radius)
    assert np.std(ref["LargeDependenceEmphasis"]) > 1.0


def test_float32_within_1e4() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(gldm, "gldm", image, mask, dtype=torch.float32, kernelRadius=2)


@pytest.mark.parametrize(("distances", "alpha"), [([1, 2], 0), ([1], 1), ([2], 2)])
def test_distances_and_alpha(distances: list[int], alpha: int) -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(
        gldm, "gldm", image, mask, kernelRadius=2, distances=distances, gldm_a=alpha
    )


def test_force2d() -> None:
    image, mask = real_ct_roi()
    for dim in (0, 1):
        checks.compare_with_pyradiomics(
            gldm, "gldm", image, mask, kernelRadius=2, force2D=True, force2Ddimension=dim
        )


def test_unmasked_kernel() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(
        gldm, "gldm", image, mask, kernelRadius=1, maskedKernel=False, binWidth=10
    )


def test_flat_kernels() -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(gldm, "gldm", checks.flat_image(image), mask, kernelRadius=1)
    assert np.all(ref["GrayLevelVariance"] == 0)


def test_single_voxel_mask() -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(gldm, "gldm", image, checks.single_voxel_mask(mask), kernelRadius=2)
    assert ref["SmallDependenceEmphasis"].tolist() == [1.0]  # one cell, no dependent neighbour: j = 1


def test_batch_split_invariance() -> None:
    checks.assert_batch_invariant(gldm, kernelRadius=2, distances=[1, 2])


def test_unknown_or_deprecated_feature_is_named() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1)
    with pytest.raises(InvalidInputError, match="DependencePercentage"):
        gldm.compute(batch, ["DependencePercentage"], {})


def test_every_feature_has_a_formula_docstring() -> None:
    for name, fn in gldm.FEATURES.items():
        assert fn.__doc__ and "=" in fn.__doc__, name


@pytest.mark.parametrize(
    "settings",
    [
        {"kernelRadius": 2},
        {"kernelRadius": 3, "binWidth": 10, "gldm_a": 1},
        {"kernelRadius": 2, "force2D": True, "force2Ddimension": 0},
        {"kernelRadius": 1, "maskedKernel": False},
    ],
)
def test_volume_dependence_path_equals_the_per_kernel_path(settings: dict) -> None:
    # compute_maps gathers dependent-neighbour counts computed once per image and kernel truncation class; the
    # per-kernel counting, checked against PyRadiomics above, must give the same numbers bit for bit
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, **settings)
    level_idx, present = reference_levels(image, mask, **settings)
    roi = torch.as_tensor(sitk.GetArrayFromImage(mask) == 1)
    grey = torch.as_tensor(present, dtype=torch.float64)
    levels = checks.discretised_image(level_idx, roi, settings["kernelRadius"], grey)
    names = list(gldm.FEATURES)
    context = FamilyContext(prepared=gldm.prepare(levels, names, settings, Backend.choose("cpu")))
    assert isinstance(context.prepared, gldm.VolumeDependence)
    slow, fast = gldm.compute(batch, names, settings), gldm.compute(batch, names, settings, context)
    for name in names:
        torch.testing.assert_close(fast[name], slow[name], rtol=0, atol=0, equal_nan=True)
