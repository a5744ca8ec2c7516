"""Shared by the lesion tests: live PyRadiomics GLCM of a region, the pancreas shell around a lesion, and
lesion-shaped patches of lesion-free pancreas (the reference distribution a lesion's texture is compared with)."""

from __future__ import annotations

import logging

import numpy as np
import radiomics
import SimpleITK as sitk
from radiomics import glcm
from scipy import ndimage
from scipy.signal import fftconvolve

radiomics.setVerbosity(logging.ERROR)

N_PATCHES = 20


def glcm_features(image: sitk.Image, mask: np.ndarray) -> dict[str, float]:
    """Every PyRadiomics GLCM feature of ``image`` inside ``mask`` (z, y, x), bin width 25 HU."""
    m = sitk.GetImageFromArray(mask.astype(np.uint8))
    m.CopyInformation(image)
    extractor = glcm.RadiomicsGLCM(image, m, binWidth=25, label=1)
    extractor.enableAllFeatures()
    return {k: float(v) for k, v in extractor.execute().items()}


def shell(labels: np.ndarray, lesion: np.ndarray, spacing_xyz: tuple[float, ...], mm: float) -> np.ndarray:
    """Pancreas voxels (label 4) within ``mm`` of the lesion."""
    sx, sy, sz = spacing_xyz
    return (labels == 4) & (ndimage.distance_transform_edt(~lesion, sampling=(sz, sy, sx)) <= mm)


def interior(lesion: np.ndarray, voxels: int = 2) -> np.ndarray:
    """``lesion`` eroded by ``voxels`` in-plane: away from the partial-volume rim that any attenuation step has
    (the scanner blur is 0.5 mm in-plane, ≤ 1 voxel; 0.35 slices through-plane, so z is not eroded)."""
    structure = np.zeros((1, 3, 3), dtype=bool)
    structure[0] = True
    return ndimage.binary_erosion(lesion, structure, iterations=voxels)


def patches(pancreas: np.ndarray, lesion: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Up to N_PATCHES copies of the lesion's shape translated to where they lie wholly inside ``pancreas``."""
    zz, yy, xx = np.nonzero(lesion)
    shape = lesion[zz.min() : zz.max() + 1, yy.min() : yy.max() + 1, xx.min() : xx.max() + 1]
    counts = fftconvolve(pancreas.astype(float), shape[::-1, ::-1, ::-1].astype(float), mode="valid")
    corners = np.argwhere(counts > shape.sum() - 0.5)
    chosen = corners[rng.choice(len(corners), size=min(N_PATCHES, len(corners)), replace=False)]
    out = []
    for z, y, x in chosen:
        m = np.zeros_like(lesion)
        m[z : z + shape.shape[0], y : y + shape.shape[1], x : x + shape.shape[2]] = shape
        out.append(m)
    return out
