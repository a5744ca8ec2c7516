"""ROI crop around the pancreas: margins in mm per physical axis, clipping, geometry of the crop."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.preprocessing import RoiBox, largest_component, roi_from_mask


def _mask(size_xyz, spacing_xyz, boxes_zyx, direction=None) -> sitk.Image:
    array = np.zeros(size_xyz[::-1], np.uint8)
    for box in boxes_zyx:
        array[box] = 1
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing_xyz)
    image.SetOrigin((10.0, -20.0, 30.0))
    if direction is not None:
        image.SetDirection(direction)
    return image


def test_margins_in_mm_with_anisotropic_spacing() -> None:
    # Pancreas voxels x 40..49, y 30..34, z 20..21 on a 0.5 × 1 × 3 mm grid.
    mask = _mask((200, 120, 60), (0.5, 1.0, 3.0), [np.s_[20:22, 30:35, 40:50]])
    roi = roi_from_mask(mask, (10.0, 5.0, 6.0))
    # 10 mm / 0.5 mm = 20 voxels in x; 5 mm / 1 mm = 5 in y; 6 mm / 3 mm = 2 in z.
    assert roi.index == (20, 25, 18)
    assert roi.size == (10 + 40, 5 + 10, 2 + 4)


def test_margin_rounds_up_to_whole_voxels() -> None:
    mask = _mask((50, 50, 50), (1.0, 1.0, 4.0), [np.s_[25, 25, 25]])
    roi = roi_from_mask(mask, (0.0, 0.0, 5.0))  # 5 mm at 4 mm slices → 2 slices, never less than 5 mm
    assert roi.index[2] == 23 and roi.size[2] == 5


def test_clipped_at_the_image_borders() -> None:
    mask = _mask((64, 48, 20), (1.0, 1.0, 2.5), [np.s_[0:3, 40:48, 2:10]])
    roi = roi_from_mask(mask, (100.0, 50.0, 15.0))
    assert roi.index == (0, 0, 0)
    assert roi.size == (64, 48, 3 + 6)


def test_crop_keeps_physical_geometry_and_content() -> None:
    mask = _mask((80, 60, 30), (0.8, 0.8, 2.0), [np.s_[10:14, 20:30, 30:50]])
    roi = roi_from_mask(mask, (8.0, 4.0, 4.0))
    crop = roi.crop(mask)
    assert crop.GetSize() == roi.size
    assert crop.GetSpacing() == mask.GetSpacing() and crop.GetDirection() == mask.GetDirection()
    # The first voxel of the crop sits where voxel `index` of the original sits.
    assert np.allclose(crop.GetOrigin(), mask.TransformIndexToPhysicalPoint(roi.index))
    assert sitk.GetArrayViewFromImage(crop).sum() == sitk.GetArrayViewFromImage(mask).sum()
    array = sitk.GetArrayFromImage(mask)
    assert np.array_equal(array[roi.slices_zyx], sitk.GetArrayViewFromImage(crop))


def test_non_identity_direction_takes_margin_of_the_physical_axis() -> None:
    # Index x runs along physical z, index z along physical x (a permuted, flipped acquisition).
    direction = (0.0, 0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0)
    mask = _mask((100, 100, 100), (1.0, 1.0, 1.0), [np.s_[50, 50, 50]], direction)
    roi = roi_from_mask(mask, (30.0, 20.0, 10.0))
    assert roi.index == (40, 30, 20)  # x gets the z margin (10), y the y margin (20), z the x margin (30)
    assert roi.size == (21, 41, 61)
    crop = roi.crop(mask)
    assert np.allclose(crop.GetOrigin(), mask.TransformIndexToPhysicalPoint(roi.index))


def test_empty_mask_and_bad_margins_are_named_errors() -> None:
    empty = _mask((10, 10, 10), (1.0, 1.0, 1.0), [])
    with pytest.raises(InvalidInputError, match="empty mask"):
        roi_from_mask(empty)
    with pytest.raises(InvalidInputError, match="non-negative"):
        roi_from_mask(_mask((10, 10, 10), (1.0, 1.0, 1.0), [np.s_[5, 5, 5]]), (1.0, -1.0, 1.0))
    with pytest.raises(InvalidInputError, match="does not fit"):
        RoiBox(index=(5, 5, 5), size=(10, 1, 1)).crop(empty)


def test_largest_component_keeps_only_the_biggest_blob() -> None:
    mask = _mask((40, 40, 20), (1.0, 1.0, 2.0), [np.s_[2:8, 2:8, 2:8], np.s_[12:14, 30:32, 30:32]])
    largest = largest_component(mask)
    array = sitk.GetArrayViewFromImage(largest)
    assert array.sum() == 6 * 6 * 6 and array[5, 5, 5] == 1 and array[13, 31, 31] == 0
    assert largest.GetOrigin() == mask.GetOrigin() and largest.GetSpacing() == mask.GetSpacing()
    assert sitk.GetArrayViewFromImage(largest_component(_mask((5, 5, 5), (1, 1, 1), []))).sum() == 0
