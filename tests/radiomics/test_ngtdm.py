"""NGTDM voxel maps vs live PyRadiomics (pyradiomics-bhklab 3.1.4) on real CT."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import ngtdm
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.family import FamilyContext
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi, reference_kernel_batch, reference_levels


@pytest.mark.parametrize("radius", [1, 2])
def test_every_feature_matches_pyradiomics_float64(radius: int) -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(ngtdm, "ngtdm", image, mask, kernelRadius=radius)
    assert np.std(ref["Strength"]) > 0 and np.all(ref["Busyness"] >= 0)


def test_float32_within_1e4() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(ngtdm, "ngtdm", image, mask, dtype=torch.float32, kernelRadius=2)


@pytest.mark.parametrize("distances", [[1, 2], [2]])
def test_distances(distances: list[int]) -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(ngtdm, "ngtdm", image, mask, kernelRadius=2, distances=distances)


def test_force2d() -> None:
    image, mask = real_ct_roi()
    for dim in (0, 2):
        checks.compare_with_pyradiomics(
            ngtdm, "ngtdm", image, mask, kernelRadius=2, force2D=True, force2Ddimension=dim
        )


def test_unmasked_kernel() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(ngtdm, "ngtdm", image, mask, kernelRadius=1, maskedKernel=False)


def test_flat_kernels_take_the_zero_branches() -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(ngtdm, "ngtdm", checks.flat_image(image), mask, kernelRadius=1)
    assert np.all(ref["Coarseness"] == 1e6) and np.all(ref["Contrast"] == 0) and np.all(ref["Strength"] == 0)


def test_single_voxel_mask() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(ngtdm, "ngtdm", image, checks.single_voxel_mask(mask), kernelRadius=2)


def test_ring_sum_equals_explicit_neighbour_sum() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 9, (3, 5, 5, 5), generator=gen).double()
    got = ngtdm.ring_sum(x, [1, 2], dims=[0, 1, 2])
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2, 2, 2))
    want = torch.zeros_like(x)
    for dz in range(-2, 3):
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                if (dz, dy, dx) != (0, 0, 0):
                    want += padded[:, 2 + dz : 7 + dz, 2 + dy : 7 + dy, 2 + dx : 7 + dx]
    assert torch.equal(got, want)


def test_batch_split_invariance() -> None:
    checks.assert_batch_invariant(ngtdm, kernelRadius=2)


def test_unknown_feature_is_named() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1)
    with pytest.raises(InvalidInputError, match="Bogus"):
        ngtdm.compute(batch, ["Bogus"], {})


def test_every_feature_has_a_formula_docstring() -> None:
    for name, fn in ngtdm.FEATURES.items():
        assert fn.__doc__ and "=" in fn.__doc__, name


@pytest.mark.parametrize(
    "settings",
    [
        {"kernelRadius": 2},
        {"kernelRadius": 3, "binWidth": 10},
        {"kernelRadius": 2, "force2D": True, "force2Ddimension": 0},
        {"kernelRadius": 2, "force2D": True, "force2Ddimension": 2},
        {"kernelRadius": 1, "maskedKernel": False},
    ],
)
def test_volume_tone_path_equals_the_per_kernel_path(settings: dict) -> None:
    # compute_maps takes |i - A| from volume-level neighbour sums per truncation class, as exact integer multiples
    # of 1/lcm(1..26) on the compiled backend; the per-kernel box sums, checked against PyRadiomics above, round
    # each cell's mean: the two agree to a few ulps
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, **settings)
    level_idx, present = reference_levels(image, mask, **settings)
    roi = torch.as_tensor(sitk.GetArrayFromImage(mask) == 1)
    grey = torch.as_tensor(present, dtype=torch.float64)
    levels = checks.discretised_image(level_idx, roi, settings["kernelRadius"], grey)
    names = list(ngtdm.FEATURES)
    context = FamilyContext(prepared=ngtdm.prepare(levels, names, settings, Backend.choose("cpu")))
    assert isinstance(context.prepared, ngtdm.VolumeTones)
    slow, fast = ngtdm.compute(batch, names, settings), ngtdm.compute(batch, names, settings, context)
    for name in names:
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-12, atol=0, equal_nan=True)


def test_volume_tone_path_is_distance_one_only() -> None:
    image, mask = real_ct_roi()
    level_idx, present = reference_levels(image, mask)
    roi = torch.as_tensor(sitk.GetArrayFromImage(mask) == 1)
    grey = torch.as_tensor(present, dtype=torch.float64)
    levels = checks.discretised_image(level_idx, roi, 2, grey)
    assert ngtdm.prepare(levels, ["Strength"], {"distances": [1, 2]}, Backend.choose("cpu")) is None
