"""Reading and validating the input CT. Every rejection is an :class:`InvalidInputError` whose one-line message
says what is wrong, in which file, and what to do."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError

log = logging.getLogger(__name__)

#: Smallest accepted size along any axis, in voxels (smaller images cannot hold an abdomen at any usable spacing).
MIN_AXIS_VOXELS = 16


def read_image(path: Path) -> sitk.Image:
    """Read any ITK-readable image, keeping size/spacing/origin/direction. Raises :class:`InvalidInputError` for a
    missing, unreadable or truncated file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: file not found.")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown reason"
        raise InvalidInputError(
            f"{path}: cannot read the image (unreadable or truncated file: {reason}); re-export it as .mha or .nii.gz."
        ) from exc


def validate_ct(image: sitk.Image, source: str) -> None:
    """Check that ``image`` is a usable 3-D CT in Hounsfield units; ``source`` names it in messages."""
    dim = image.GetDimension()
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise InvalidInputError(
            f"{source}: vector image with {image.GetNumberOfComponentsPerPixel()} components per voxel; "
            "a scalar 3-D CT is expected."
        )
    if dim == 2:
        raise InvalidInputError(f"{source}: 2-D image {image.GetSize()}; a 3-D CT volume is expected.")
    if dim != 3:
        raise InvalidInputError(f"{source}: {dim}-D image {image.GetSize()}; a 3-D CT volume is expected.")
    size = image.GetSize()
    if min(size) < MIN_AXIS_VOXELS:
        raise InvalidInputError(
            f"{source}: image size {size} (x, y, z) has fewer than {MIN_AXIS_VOXELS} voxels on an axis; "
            "a whole abdominal CT is expected."
        )
    array = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        n_bad = int((~np.isfinite(array)).sum())
        raise InvalidInputError(
            f"{source}: {n_bad} voxels are NaN or infinite; a CT must be finite everywhere."
        )
    lo, hi = float(array.min()), float(array.max())
    if hi < 0:
        raise InvalidInputError(
            f"{source}: all intensities are negative (max {hi:g}); not a CT in Hounsfield units (HU)."
        )
    if lo >= 0 and hi <= 1:
        raise InvalidInputError(
            f"{source}: intensities lie in [{lo:g}, {hi:g}], which looks normalised; give the CT in Hounsfield units (HU)."
        )


def load_ct(path: Path) -> sitk.Image:
    """Read and validate the input CT (see :func:`validate_ct`)."""
    image = read_image(path)
    validate_ct(image, str(path))
    log.info(
        "Loaded CT %s: size %s (x, y, z), spacing %s mm",
        Path(path).name,
        image.GetSize(),
        tuple(round(s, 4) for s in image.GetSpacing()),
    )
    return image
