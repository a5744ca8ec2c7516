"""Paste a map computed on an ROI crop back into the full input CT's grid."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def zeros_like_reference(reference: sitk.Image) -> sitk.Image:
    """An all-zero float32 image with the size, spacing, origin and direction of ``reference``."""
    out = sitk.Image(reference.GetSize(), sitk.sitkFloat32)
    out.CopyInformation(reference)
    return out


def _crop_start_index(reference: sitk.Image, crop: sitk.Image) -> tuple[int, int, int]:
    """Index (x, y, z) in ``reference`` of the crop's first voxel; checks that the crop lies on the same grid."""
    if not np.allclose(reference.GetSpacing(), crop.GetSpacing(), rtol=1e-6, atol=1e-6) or not np.allclose(
        reference.GetDirection(), crop.GetDirection(), atol=1e-6
    ):
        raise ValueError("crop does not share spacing/direction with the reference image")
    continuous = reference.TransformPhysicalPointToContinuousIndex(crop.GetOrigin())
    start = tuple(round(c) for c in continuous)
    if not np.allclose(continuous, start, atol=1e-3):
        raise ValueError(f"crop origin is not on the reference grid (continuous index {continuous})")
    if any(s < 0 or s + n > N for s, n, N in zip(start, crop.GetSize(), reference.GetSize(), strict=True)):
        raise ValueError(
            f"crop at index {start} with size {crop.GetSize()} exceeds reference size {reference.GetSize()}"
        )
    return (int(start[0]), int(start[1]), int(start[2]))


def paste_into_reference(reference: sitk.Image, crop_values: np.ndarray, crop: sitk.Image) -> sitk.Image:
    """Place ``crop_values`` into a float32 image on ``reference``'s grid, zeros outside the crop.

    Args:
        reference: the full input CT (its size/spacing/origin/direction define the output).
        crop_values: array on the crop's grid, numpy axis order (z, y, x) = reversed ``crop.GetSize()``.
        crop: a sub-image of ``reference`` (e.g. from ``RoiBox.crop``) that defines where the values go; only its
            geometry is used.

    Raises:
        ValueError: the crop is not a sub-grid of ``reference`` or ``crop_values`` does not match its size.
    """
    expected = tuple(reversed(crop.GetSize()))
    if crop_values.shape != expected:
        raise ValueError(f"crop_values shape {crop_values.shape} != crop array shape (z, y, x) {expected}")
    sx, sy, sz = _crop_start_index(reference, crop)
    full = np.zeros(tuple(reversed(reference.GetSize())), dtype=np.float32)
    nz, ny, nx = expected
    full[sz : sz + nz, sy : sy + ny, sx : sx + nx] = crop_values
    out = sitk.GetImageFromArray(full)
    out.CopyInformation(reference)
    return out
