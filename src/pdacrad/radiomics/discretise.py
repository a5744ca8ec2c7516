"""Grey-level discretisation with PyRadiomics' semantics (``imageoperations.getBinEdges`` / ``binImage``).

Fixed bin width ``W`` (default 25): edges are multiples of ``W`` starting at the largest multiple ``<= min``, so
``X_b = floor(X / W) - floor(min / W) + 1`` over the voxels of ``maskArray``; bins are half-open ``[lo, hi)``.
Fixed bin count ``N``: ``numpy.histogram`` edges over ``[min, max]`` with the top edge raised by 1 so that the
maximum falls in bin ``N``. Discretisation happens once over ``maskArray`` (the ROI, or the whole image when
``maskedKernel`` is false), never per kernel. Axis order (z, y, x).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


def bin_edges(values: np.ndarray, bin_width: float = 25.0, bin_count: int | None = None) -> np.ndarray:
    """Bin edges for the 1-D ``values`` (intensities of the discretisation mask), PyRadiomics' ``getBinEdges``."""
    if bin_count is not None:
        edges = np.histogram(values, bin_count)[1]
        edges[-1] += 1  # numpy.digitize treats the top edge as open: raise it so the maximum stays in bin N
        return edges
    minimum = values.min()
    maximum = values.max()
    # Same arithmetic (and dtype) as PyRadiomics so edges, hence bins, agree bit for bit.
    low = minimum - (minimum % bin_width)
    edges = np.arange(low, maximum + 2 * bin_width, bin_width)
    if (
        len(edges) == 1
    ):  # a flat ROI on a bin boundary: one bin of width 1 around it, as numpy.histogram would
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return edges


@dataclass(frozen=True)
class Discretised:
    """A discretised volume.

    Attributes:
        bins: ``(z, y, x)`` int64 PyRadiomics bin numbers ``1..Ng`` inside the discretisation mask, 0 outside.
        level_index: ``(z, y, x)`` int64 index ``1..G`` into :attr:`grey_levels` (only the bins present in the
            mask are kept), 0 outside the mask — what :class:`~pdacrad.radiomics.kernel.KernelBatch` holds.
        grey_levels: ``(G,)`` int64 bin numbers present in the mask, ascending (PyRadiomics ``grayLevels``).
        n_bins: ``Ng``, the largest bin number present (PyRadiomics ``coefficients['Ng']``).
    """

    bins: np.ndarray
    level_index: np.ndarray
    grey_levels: np.ndarray
    n_bins: int


def discretise(image: np.ndarray, mask: np.ndarray, settings: Mapping[str, Any]) -> Discretised:
    """Discretise ``image`` over the boolean ``mask`` (both ``(z, y, x)``) with ``binWidth`` / ``binCount`` from
    ``settings`` (PyRadiomics keys)."""
    mask = mask.astype(bool)
    inside = image[mask]
    edges = bin_edges(inside, float(settings.get("binWidth", 25)), settings.get("binCount"))
    bins = np.zeros(image.shape, dtype=np.int64)
    bins[mask] = np.digitize(inside, edges)
    present = np.unique(bins[mask])
    lookup = np.zeros(int(present.max()) + 1, dtype=np.int64)
    lookup[present] = np.arange(1, len(present) + 1)
    level_index = np.where(mask, lookup[bins], 0)
    return Discretised(bins=bins, level_index=level_index, grey_levels=present, n_bins=int(present.max()))
