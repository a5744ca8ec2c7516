"""First-order family vs live PyRadiomics voxel mode on real CT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import firstorder
from pdacrad.radiomics.family import FamilyContext
from tests.radiomics.reference import pyradiomics_voxel_maps, real_ct_roi, reference_kernel_batch
from tests.radiomics.test_glcm import assert_parity

ALL = list(firstorder.FEATURES)


def _ours(dtype=torch.float64, **settings):
    image, mask = real_ct_roi()
    batch, vox = reference_kernel_batch(image, mask, dtype=dtype, **settings)
    context = FamilyContext(spacing_zyx=image.GetSpacing()[::-1])
    return {k: v.numpy() for k, v in firstorder.compute(batch, ALL, settings, context).items()}, vox


@pytest.mark.parametrize(
    "settings", [{"kernelRadius": 1}, {"kernelRadius": 2}, {"kernelRadius": 1, "force2D": True}]
)
def test_every_feature_matches_pyradiomics(settings: dict) -> None:
    image, mask = real_ct_roi()
    settings = {"binWidth": 25, **settings}
    ref = pyradiomics_voxel_maps(image, mask, "firstorder", ALL, **settings)
    ours, vox = _ours(**settings)
    for name in ALL:
        assert_parity(ours[name], ref[name][tuple(vox.T)])


def test_float32_within_1e4() -> None:
    ref, _ = _ours(kernelRadius=2, binWidth=25)
    fast, _ = _ours(dtype=torch.float32, kernelRadius=2, binWidth=25)
    for name in ALL:
        scale = np.maximum(np.abs(ref[name]), 1e-3 * np.nanmax(np.abs(ref[name])))
        assert np.all(np.abs(fast[name] - ref[name]) / scale < 1e-4), name


def test_total_energy_without_spacing_is_a_clear_error() -> None:
    # TotalEnergy scales by the voxel volume: no silent 1 mm³ when the context carries no spacing
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1)
    assert firstorder.compute(batch, ["Energy"], {})["Energy"].shape == (batch.n_voxels,)
    with pytest.raises(InvalidInputError, match="TotalEnergy needs the voxel spacing"):
        firstorder.compute(batch, ["TotalEnergy"], {})
    spaced = firstorder.compute(
        batch, ["TotalEnergy", "Energy"], {}, FamilyContext(spacing_zyx=(2.0, 0.5, 0.5))
    )
    torch.testing.assert_close(spaced["TotalEnergy"], spaced["Energy"] * 0.5, rtol=0, atol=0)
