"""The Stage-2 region of interest: bounding box of a pancreas mask grown by margins in mm, clipped to the image.

The same code crops the training cases (from the ground-truth pancreas) and the inference case (from the
largest connected component of the Stage-1 prediction), so that Stage 2 sees the same kind of field of view in
both. Indices and sizes follow SimpleITK's (x, y, z) order; :attr:`RoiBox.slices_zyx` gives the numpy view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError

#: PANORAMA baseline margins around the pancreas in mm, in (x, y, z) order: left–right, anterior–posterior,
#: cranio–caudal.
DEFAULT_MARGINS_MM: tuple[float, float, float] = (100.0, 50.0, 15.0)


@dataclass(frozen=True)
class RoiBox:
    """A box of voxels of one image grid, in SimpleITK's (x, y, z) index order.

    ``index`` is the first voxel inside the box, ``size`` the number of voxels along each axis; the box always
    lies inside the image it was made for.
    """

    index: tuple[int, int, int]
    size: tuple[int, int, int]

    @property
    def slices_zyx(self) -> tuple[slice, slice, slice]:
        """The box as numpy slices for arrays from ``sitk.GetArrayFromImage`` (axis order z, y, x)."""
        return tuple(slice(i, i + s) for i, s in zip(self.index[::-1], self.size[::-1], strict=True))  # type: ignore[return-value]

    def crop(self, image: sitk.Image) -> sitk.Image:
        """The part of ``image`` inside the box, with its physical geometry kept (origin moved, same spacing and
        direction), so that the crop overlays the original in world coordinates."""
        if any(i + s > n for i, s, n in zip(self.index, self.size, image.GetSize(), strict=True)):
            raise InvalidInputError(
                f"ROI index {self.index} size {self.size} does not fit an image of size {image.GetSize()}; "
                "crop the image the box was computed for."
            )
        return sitk.RegionOfInterest(image, list(self.size), list(self.index))


def _physical_axis_of_index_axes(image: sitk.Image) -> list[int]:
    """For each index axis (x, y, z), the physical axis (0 = x, 1 = y, 2 = z) it runs most closely along.

    The direction matrix's columns are the index axes in world coordinates; an oblique or permuted acquisition
    thus still gets the left–right margin along whichever index axis runs left–right.
    """
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    return [int(np.argmax(np.abs(direction[:, axis]))) for axis in range(3)]


def roi_from_mask(mask: sitk.Image, margins_mm: tuple[float, float, float] = DEFAULT_MARGINS_MM) -> RoiBox:
    """Bounding box of the non-zero voxels of ``mask`` grown by ``margins_mm`` and clipped to the image.

    Args:
        mask: a 3-D label image; every non-zero voxel counts as pancreas.
        margins_mm: margins on each side in mm, in physical (x, y, z) order; each index axis takes the margin of
            the physical axis it runs along (see the direction matrix) and converts it to voxels with that
            axis's spacing, rounding up so that the box never holds less than the requested margin.

    Returns:
        The box on the grid of ``mask`` (and of any image sharing that grid).

    Raises:
        InvalidInputError: the mask is not 3-D, has no non-zero voxel, or a margin is negative.
    """
    if mask.GetDimension() != 3:
        raise InvalidInputError(f"roi_from_mask needs a 3-D mask, got {mask.GetDimension()}-D.")
    if len(margins_mm) != 3 or any(m < 0 for m in margins_mm):
        raise InvalidInputError(f"margins_mm must be three non-negative numbers (x, y, z), got {margins_mm}.")
    array_zyx = sitk.GetArrayViewFromImage(mask)
    nonzero = np.nonzero(array_zyx)
    if nonzero[0].size == 0:
        raise InvalidInputError("roi_from_mask got an empty mask: there is no pancreas to crop around.")
    low_xyz = [int(axis.min()) for axis in reversed(nonzero)]
    high_xyz = [int(axis.max()) for axis in reversed(nonzero)]
    physical = _physical_axis_of_index_axes(mask)
    index, size = [], []
    for axis in range(3):
        # A tiny epsilon keeps e.g. 15 mm / 1.5 mm = 10 voxels from becoming 11 through float rounding.
        margin_vox = math.ceil(margins_mm[physical[axis]] / mask.GetSpacing()[axis] - 1e-6)
        start = max(0, low_xyz[axis] - margin_vox)
        stop = min(mask.GetSize()[axis], high_xyz[axis] + margin_vox + 1)
        index.append(start)
        size.append(stop - start)
    return RoiBox(index=(index[0], index[1], index[2]), size=(size[0], size[1], size[2]))


def largest_component(mask: sitk.Image) -> sitk.Image:
    """The largest 26-connected component of the non-zero voxels of ``mask`` as a uint8 0/1 image on the same
    grid; an all-zero image when ``mask`` is empty."""
    binary = sitk.Cast(mask != 0, sitk.sitkUInt8)
    components = sitk.ConnectedComponent(binary, True)
    relabelled = sitk.RelabelComponent(components, sortByObjectSize=True)
    largest = sitk.Cast(relabelled == 1, sitk.sitkUInt8)
    largest.CopyInformation(mask)
    return largest
