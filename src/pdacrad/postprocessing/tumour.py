"""Tumour probability restricted to the (dilated) pancreas predicted by Stage 2 (:func:`pancreas_region`, the
PANORAMA baseline's rule), optionally only where that region touches the pancreas Stage 1 found
(:func:`anchored_region`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from pdacrad.labels import PANCREAS_LABELS

PANCREAS_REGION_LABELS: tuple[int, ...] = PANCREAS_LABELS
"""Stage-2 labels that form the pancreas region: PDAC, pancreas parenchyma, pancreatic duct (PANORAMA)."""

DILATION_CUBE_VOXELS = 5
"""Edge of the cubic structuring element (voxels) used to dilate the pancreas region, as in the baseline."""


def pancreas_region(
    labels: np.ndarray,
    region_labels: Sequence[int] = PANCREAS_REGION_LABELS,
    cube_voxels: int = DILATION_CUBE_VOXELS,
) -> np.ndarray:
    """Boolean mask of voxels whose label is in ``region_labels``, dilated by a ``cube_voxels``³ cube.

    Args:
        labels: integer label map, any axis order (the cube is isotropic in voxels, not in mm).
        region_labels: labels that make up the region.
        cube_voxels: odd edge length of the structuring element in voxels; 1 means no dilation.
    """
    if cube_voxels < 1 or cube_voxels % 2 == 0:
        raise ValueError(f"cube_voxels must be a positive odd number, got {cube_voxels}")
    region = np.isin(labels, np.asarray(region_labels))
    if cube_voxels == 1 or not region.any():
        return region
    # A cube is the Minkowski sum of one segment per axis, so three 1-D dilations give exactly the cube dilation
    # at a fraction of the cost (cube_voxels instead of cube_voxels³ neighbours per voxel).
    for axis in range(labels.ndim):
        shape = [1] * labels.ndim
        shape[axis] = cube_voxels
        region = ndimage.binary_dilation(region, structure=np.ones(shape, dtype=bool))
    return region


def anchored_region(region: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The connected components of ``region`` (26-connectivity) that overlap ``anchor``.

    Why: Stage 2's own labels {PDAC, pancreas, duct} form the baseline's region, so a blob far from the pancreas
    that Stage 2 labels PDAC (an organ with a lesion's attenuation) keeps itself as a candidate. A PDAC lies in the
    pancreas: with ``anchor`` = the pancreas Stage 1 found (the one the ROI was cut around), such islands are
    dropped, while a tumour connected to the pancreas region — however much of it Stage 2 labels PDAC — stays.
    When no component overlaps ``anchor`` (the stages disagree entirely) ``region`` is returned unchanged, so
    that the rule never removes the only evidence there is.

    Raises:
        ValueError: the shapes differ.
    """
    if region.shape != anchor.shape:
        raise ValueError(f"region shape {region.shape} != anchor shape {anchor.shape}")
    region = region.astype(bool)
    components, _ = ndimage.label(region, structure=np.ones((3,) * region.ndim, dtype=bool))
    touching = np.unique(components[anchor.astype(bool) & region])
    if touching.size == 0:
        return region
    return np.isin(components, touching)


def restrict_to_region(probability: np.ndarray, region: np.ndarray) -> np.ndarray:
    """A copy of ``probability`` (float32) with every voxel outside ``region`` set to 0.

    Raises:
        ValueError: the shapes differ.
    """
    if probability.shape != region.shape:
        raise ValueError(f"probability shape {probability.shape} != region shape {region.shape}")
    out = np.asarray(probability, dtype=np.float32).copy()
    out[~region.astype(bool)] = 0.0
    return out
