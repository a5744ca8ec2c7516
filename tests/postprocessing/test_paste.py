"""Paste-back of an ROI map into the full image's geometry, including ROIs clipped at the image border."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.postprocessing.paste import paste_into_reference, zeros_like_reference
from pdacrad.preprocessing.roi import RoiBox


@pytest.fixture
def reference() -> sitk.Image:
    """A 20×16×12 (x, y, z) image with anisotropic spacing, an offset origin and an oblique direction."""
    image = sitk.Image([20, 16, 12], sitk.sitkInt16)
    image.SetSpacing((0.8, 0.7, 2.5))
    image.SetOrigin((-12.0, 30.5, 101.0))
    c, s = np.cos(0.3), np.sin(0.3)
    image.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, -1.0))
    return image


def _same_geometry(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    assert np.allclose(a.GetSpacing(), b.GetSpacing())
    assert np.allclose(a.GetOrigin(), b.GetOrigin())
    assert np.allclose(a.GetDirection(), b.GetDirection())


@pytest.mark.parametrize(
    ("index", "size"),
    [((3, 2, 1), (10, 8, 5)), ((0, 0, 0), (7, 5, 4)), ((12, 9, 7), (8, 7, 5)), ((0, 0, 0), (20, 16, 12))],
    ids=["inside", "low-corner", "high-corner", "whole-image"],
)
def test_paste_puts_values_at_the_roi_and_zeros_elsewhere(reference, index, size):
    box = RoiBox(index=index, size=size)
    crop = box.crop(reference)
    values = np.random.default_rng(0).random(tuple(reversed(size))).astype(np.float32) + 0.1
    out = paste_into_reference(reference, values, crop)
    _same_geometry(out, reference)
    assert out.GetPixelID() == sitk.sitkFloat32
    array = sitk.GetArrayFromImage(out)
    np.testing.assert_array_equal(array[box.slices_zyx], values)
    assert np.count_nonzero(array) == values.size
    # the voxel at the crop's first index is the same physical point in both images
    point = crop.TransformIndexToPhysicalPoint((0, 0, 0))
    assert out.GetPixel(reference.TransformPhysicalPointToIndex(point)) == pytest.approx(values[0, 0, 0])


def test_paste_rejects_wrong_shape_and_foreign_grid(reference):
    crop = RoiBox(index=(1, 1, 1), size=(4, 4, 4)).crop(reference)
    with pytest.raises(ValueError, match="shape"):
        paste_into_reference(reference, np.zeros((4, 4, 5), np.float32), crop)
    shifted = sitk.Image(crop)
    shifted.SetOrigin(tuple(o + 0.3 for o in crop.GetOrigin()))
    with pytest.raises(ValueError, match="grid"):
        paste_into_reference(reference, np.zeros((4, 4, 4), np.float32), shifted)
    resampled = sitk.Image(crop)
    resampled.SetSpacing((1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        paste_into_reference(reference, np.zeros((4, 4, 4), np.float32), resampled)


def test_zeros_like_reference_has_its_geometry(reference):
    out = zeros_like_reference(reference)
    _same_geometry(out, reference)
    assert out.GetPixelID() == sitk.sitkFloat32 and not sitk.GetArrayViewFromImage(out).any()
