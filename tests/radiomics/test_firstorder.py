"""First-order family vs live PyRadiomics voxel mode on real CT."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdacrad.radiomics import firstorder
from tests.radiomics.reference import pyradiomics_voxel_maps, real_ct_roi, reference_kernel_batch
from tests.radiomics.test_glcm import assert_parity

ALL = list(firstorder.FEATURES)


def _ours(dtype=torch.float64, **settings):
    image, mask = real_ct_roi()
    batch, vox = reference_kernel_batch(image, mask, dtype=dtype, **settings)
    cfg = {**settings, "_spacing_zyx": image.GetSpacing()[::-1]}
    return {k: v.numpy() for k, v in firstorder.compute(batch, ALL, cfg).items()}, vox


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
