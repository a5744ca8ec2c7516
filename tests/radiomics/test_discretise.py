"""Discretisation equals PyRadiomics' binImage bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import imageoperations

from pdacrad.radiomics.discretise import discretise
from tests.radiomics.reference import real_ct_roi


@pytest.mark.parametrize(
    "settings", [{"binWidth": 25}, {"binWidth": 7.5}, {"binCount": 16}, {"binWidth": 20}]
)
def test_bins_equal_pyradiomics_on_real_ct(settings: dict) -> None:
    image, mask = real_ct_roi()
    arr = sitk.GetArrayFromImage(image)
    roi = sitk.GetArrayFromImage(mask) == 1
    expected, _ = imageoperations.binImage(arr, roi, **settings)
    ours = discretise(arr, roi, settings)
    np.testing.assert_array_equal(ours.bins, np.where(roi, expected, 0))
    np.testing.assert_array_equal(ours.grey_levels, np.unique(expected[roi]))
    assert ours.n_bins == expected[roi].max()
    # level_index enumerates the present levels 1..G
    assert set(np.unique(ours.level_index[roi])) == set(range(1, len(ours.grey_levels) + 1))
    np.testing.assert_array_equal(ours.grey_levels[ours.level_index[roi] - 1], expected[roi])


def test_flat_roi_on_bin_edge_gives_one_bin() -> None:
    arr = np.full((3, 4, 5), 50.0)
    roi = np.zeros(arr.shape, bool)
    roi[1, 1:3, 1:4] = True
    ours = discretise(arr, roi, {"binWidth": 25})
    expected, _ = imageoperations.binImage(arr, roi, binWidth=25)
    np.testing.assert_array_equal(ours.bins[roi], expected[roi])
    assert ours.grey_levels.tolist() == [1]
    assert (ours.level_index[~roi] == 0).all()
