"""Image preparation and image types (Original, LoG, Wavelet, LBP2D, ...) exactly as PyRadiomics' extractor.

Filters are PyRadiomics' own ``imageoperations.get<Type>Image`` generators run on CPU: they *are* the reference, so
reusing them is exact by construction. The steps mirror ``RadiomicsFeatureExtractor.execute`` in voxel mode:
optional intensity window (pdacrad) → load/normalise/resample/pre-crop (``loadImage``) → ``checkMask`` →
optional resegmentation → each image type on the whole (resampled) image → crop to the mask's bounding box padded
by ``kernelRadius`` voxels. Output names follow PyRadiomics: ``original``, ``log-sigma-4-0-mm-3D``,
``wavelet-LLH``, ``lbp-2D``, ...
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.settings import RadiomicsSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedCase:
    """Image and mask after PyRadiomics' pre-processing, before any filter.

    Attributes:
        image: the (clipped, normalised, resampled) image, float or integer pixels.
        mask: the label map on the same grid as :attr:`image` (UInt32, PyRadiomics' ``getMask``).
        bounding_box: PyRadiomics' ``checkMask`` bounding box ``(Lx, Ux, Ly, Uy, Lz, Uz)`` in voxels of :attr:`mask`.
        settings: merged ``setting`` + ``voxelSetting`` dict passed on to filters and feature classes.
    """

    image: sitk.Image
    mask: sitk.Image
    bounding_box: np.ndarray
    settings: dict[str, Any]


@dataclass(frozen=True)
class FilteredImage:
    """One image type, cropped to the ROI's bounding box plus ``kernelRadius`` voxels of padding.

    Attributes:
        name: PyRadiomics image-type name (``original``, ``log-sigma-4-0-mm-3D``, ``wavelet-LLH``, ...).
        image: the filtered, cropped image.
        mask: the mask cropped the same way.
        settings: settings for the feature classes on this image type (custom image-type keys applied).
    """

    name: str
    image: sitk.Image
    mask: sitk.Image
    settings: dict[str, Any]


def clip_intensities(image: sitk.Image, window: tuple[float, float]) -> sitk.Image:
    """Clip ``image`` to ``[low, high]`` (same units as the image, e.g. HU), keeping its pixel type and geometry."""
    return sitk.Clamp(image, image.GetPixelID(), window[0], window[1])


def prepare(image: sitk.Image, mask: sitk.Image, settings: RadiomicsSettings, label: int = 1) -> PreparedCase:
    """Pre-process ``image``/``mask`` like PyRadiomics' extractor (``voxelBased=True``).

    Raises :class:`InvalidInputError` if the mask has no voxel with ``label`` or fails PyRadiomics' ROI checks.
    """
    from radiomics import featureextractor, imageoperations

    merged = settings.merged()
    merged["label"] = label
    merged["voxelBased"] = True
    if settings.intensity_window is not None:
        image = clip_intensities(image, settings.intensity_window)
    try:
        image, mask = featureextractor.RadiomicsFeatureExtractor.loadImage(image, mask, None, **merged)
        box, corrected = imageoperations.checkMask(image, mask, **merged)
        if corrected is not None:
            mask = corrected
        if merged.get("resegmentRange") is not None:
            mask = imageoperations.resegmentMask(image, mask, **merged)
            box, _ = imageoperations.checkMask(image, mask, **merged)
    except ValueError as exc:
        raise InvalidInputError(
            f"mask label {label} is not a usable ROI: {' '.join(str(exc).split())}"
        ) from None
    if box is None:
        raise InvalidInputError(f"mask label {label} is not a usable ROI (PyRadiomics checkMask failed)")
    return PreparedCase(image=image, mask=mask, bounding_box=np.asarray(box), settings=merged)


def iter_image_types(
    case: PreparedCase, image_types: dict[str, dict[str, Any]] | None = None
) -> Iterator[FilteredImage]:
    """Yield every enabled image type of ``case``, filtered on the whole image, then cropped with
    ``padDistance = kernelRadius`` (PyRadiomics' voxel mode). ``image_types`` defaults to the settings' own."""
    from radiomics import imageoperations

    radius = int(case.settings.get("kernelRadius", 1))
    for image_type, custom in (image_types or {}).items():
        generator = getattr(imageoperations, f"get{image_type}Image", None)
        if generator is None:
            raise InvalidInputError(f"unknown PyRadiomics image type {image_type!r}")
        args = {**case.settings, **(custom or {})}
        for filtered, name, kwargs in generator(case.image, case.mask, **args):
            cropped, cropped_mask = imageoperations.cropToTumorMask(
                filtered, case.mask, case.bounding_box, padDistance=radius
            )
            yield FilteredImage(name=name, image=cropped, mask=cropped_mask, settings=dict(kwargs))


def image_type_of(name: str) -> str:
    """The PyRadiomics image-type *class* (``Original``, ``LoG``, ``Wavelet``, ``LBP2D``, ...) that produces the
    image named ``name`` (``original``, ``log-sigma-4-0-mm-3D``, ``wavelet-LLH``, ``lbp-2D``, ...)."""
    prefix = name.split("-")[0]
    classes = {
        "original": "Original",
        "log": "LoG",
        "wavelet": "Wavelet",
        "lbp": "LBP2D" if name.startswith("lbp-2D") else "LBP3D",
        "square": "Square",
        "squareroot": "SquareRoot",
        "logarithm": "Logarithm",
        "exponential": "Exponential",
        "gradient": "Gradient",
    }
    if prefix not in classes:
        raise InvalidInputError(f"cannot tell the image type of feature prefix {name!r}")
    return classes[prefix]
