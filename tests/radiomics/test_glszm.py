"""GLSZM voxel maps vs live PyRadiomics (pyradiomics-bhklab 3.1.4) on real CT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import glszm
from pdacrad.radiomics.kernel import KernelBatch, kernel_offsets
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi, reference_kernel_batch


@pytest.mark.parametrize("radius", [1, 2])
def test_every_feature_matches_pyradiomics_float64(radius: int) -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(glszm, "glszm", image, mask, kernelRadius=radius)
    assert np.std(ref["LargeAreaEmphasis"]) > 1.0  # zones of many sizes: a real test of the labelling


def test_float32_within_1e4() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(glszm, "glszm", image, mask, dtype=torch.float32, kernelRadius=2)


def test_force2d_kernels_are_8_connected() -> None:
    image, mask = real_ct_roi()
    for dim in (0, 1):
        checks.compare_with_pyradiomics(
            glszm, "glszm", image, mask, kernelRadius=2, force2D=True, force2Ddimension=dim
        )


def test_unmasked_kernel_and_finer_bins() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(
        glszm, "glszm", image, mask, kernelRadius=1, maskedKernel=False, binWidth=10
    )


def test_flat_kernels_are_one_zone() -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(glszm, "glszm", checks.flat_image(image), mask, kernelRadius=1)
    assert np.all(ref["GrayLevelNonUniformity"] >= 1.0)


def test_single_voxel_mask() -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(
        glszm, "glszm", image, checks.single_voxel_mask(mask), kernelRadius=2
    )
    assert ref["ZonePercentage"].tolist() == [1.0]


def test_zone_labels_join_a_snake_that_needs_many_sweeps() -> None:
    # One 2D zone (level 1) winding through a 7x7 kernel: connected only through its ends, so labels must travel far;
    # the three level-2 gaps between its rows are 6 cells each.
    snake = np.zeros((7, 7), dtype=np.int64)
    snake[0, :] = snake[2, :] = snake[4, :] = snake[6, :] = 1
    snake[1, 6] = snake[3, 0] = snake[5, 6] = 1
    levels = torch.as_tensor(np.where(snake > 0, 1, 2).reshape(1, -1))
    offsets = kernel_offsets(3, force2d=True, force2d_dimension=0)
    batch = KernelBatch(
        levels=levels, grey_levels=torch.tensor([1.0, 2.0], dtype=torch.float64), offsets=offsets, radius=3
    )
    labels = glszm.zone_labels(batch.levels, batch.offsets)[0].reshape(7, 7)
    assert (labels[snake > 0] == 0).all()
    zones = glszm.size_zones(batch)
    assert sorted(zones.size.tolist()) == [6, 6, 6, int(snake.sum())]


def test_batch_split_invariance() -> None:
    checks.assert_batch_invariant(glszm, kernelRadius=2)


def test_unknown_feature_is_named() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1)
    with pytest.raises(InvalidInputError, match="Bogus"):
        glszm.compute(batch, ["Bogus"], {})


def test_every_feature_has_a_formula_docstring() -> None:
    for name, fn in glszm.FEATURES.items():
        assert fn.__doc__ and "=" in fn.__doc__, name
