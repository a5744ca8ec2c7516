"""Compiled GLSZM zone finding for kernels on the CPU (private to :mod:`pdacrad.radiomics.glszm`).

The zones of each kernel row are found by one union-find scan in cell order (C order over the kernel cube,
axis order z, y, x): every ROI cell is joined with those of its 13 preceding 26-neighbours (4 of 8 with
``force2D``) that have its grey level, always hanging the larger root under the smaller, so that each zone's root
is its smallest cell index. A second scan lists the roots in cell order and counts their cells: that is exactly
the zone list (kernel, level, size, ordered by kernel then smallest cell) that label propagation
(:func:`pdacrad.radiomics.glszm.zone_labels`, the torch path used on CUDA) gives.

Work is ``O(K)`` per kernel (a few neighbour reads per cell) instead of one ``(B, K)`` gather per direction and
sweep. The kernel releases the GIL (``nogil``), so the engine's CPU worker threads run it in parallel.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from pdacrad.radiomics._jit import jit
from pdacrad.radiomics.counting import common
from pdacrad.radiomics.kernel import KernelBatch, copy_kernel, grid_extent, kernel_reads


def preceding_neighbours(offsets: torch.Tensor) -> np.ndarray:
    """``(K, H)`` int32: for each kernel cell, the indices of its ``H`` distance-1 neighbours (26-/8-connectivity,
    PyRadiomics' angles) that come *before* it in cell order, or ``K`` where that neighbour lies outside the
    kernel. ``offsets`` is the kernel's ``(K, 3)`` (z, y, x) offsets, a full grid in C order (read-only result,
    cached per kernel shape)."""
    return _preceding_in_grid(grid_extent(offsets))


@lru_cache(maxsize=16)
def _preceding_in_grid(extent: tuple[int, ...]) -> np.ndarray:
    grid = torch.from_numpy(np.indices(extent).reshape(3, -1).T.copy())
    table = common.grid_neighbour_table(grid, common.angles(grid, (1,), bidirectional=True))
    # In C order a shift moves every cell by the same index step, so a direction precedes for all cells or none.
    before = (table < np.arange(table.shape[1])).any(axis=1)
    out = np.ascontiguousarray(table[before].T)
    out.flags.writeable = False
    return out


@jit
def _link_cells(
    row_levels: np.ndarray, preceding: np.ndarray, parent: np.ndarray
) -> None:  # pragma: no cover
    """Union-find of one kernel: ``parent`` ``(K,)`` ends as a forest whose roots are each zone's smallest cell
    (``parent[c] <= c``). ``row_levels`` ``(K + 1,)`` holds the kernel's levels and a 0 in slot ``K``."""
    for cell in range(parent.shape[0]):
        parent[cell] = cell
        level = row_levels[cell]
        if level == 0:
            continue
        root = cell
        for j in range(preceding.shape[1]):
            other = preceding[cell, j]
            if row_levels[other] != level:
                continue
            other_root = other
            while parent[other_root] != other_root:
                other_root = parent[other_root]
            while parent[other] != other_root:  # path compression
                up = parent[other]
                parent[other] = other_root
                other = up
            if other_root < root:
                parent[root] = other_root
                root = other_root
            elif other_root > root:
                parent[other_root] = root
        parent[cell] = root


@jit
def _list_zones(
    row_levels: np.ndarray,
    parent: np.ndarray,
    slot: np.ndarray,
    zone_cell: np.ndarray,
    zone_size: np.ndarray,
    zone_level: np.ndarray,
    n_zones: int,
) -> int:  # pragma: no cover
    """Append one kernel's zones (root cell, size, level) to ``zone_cell``/``zone_size``/``zone_level`` from
    position ``n_zones``, in root order; returns the new zone count. ``slot`` ``(K,)`` is scratch (a root's
    position in the list)."""
    for cell in range(parent.shape[0]):
        if row_levels[cell] == 0:
            continue
        # parent[cell] <= cell, and the cells before this one already point at their root: one step at most.
        root = parent[parent[cell]]
        parent[cell] = root
        if root == cell:  # a root comes before the rest of its zone
            slot[cell] = n_zones
            zone_cell[n_zones] = cell
            zone_size[n_zones] = 1
            zone_level[n_zones] = row_levels[cell]
            n_zones += 1
        else:
            zone_size[slot[root]] += 1
    return n_zones


@jit
def _find_zones(
    src: np.ndarray,
    corners: np.ndarray,
    dims: np.ndarray,
    preceding: np.ndarray,
    zone_cell: np.ndarray,
    zone_size: np.ndarray,
    zone_level: np.ndarray,
    counts: np.ndarray,
) -> int:  # pragma: no cover
    """The zones of every kernel (cell ``(z, y, x)`` of kernel ``b`` is ``src[corners[b] + z·sz + y·sy + x]``,
    ``dims`` ``(ez, ey, ex, sz, sy)``): each zone's root cell, size and level to ``zone_cell``/``zone_size``/
    ``zone_level`` (by kernel, then root), each kernel's zone count to ``counts``; returns the zone count."""
    k = dims[0] * dims[1] * dims[2]
    row_levels = np.zeros(k + 1, dtype=src.dtype)  # slot K (outside the kernel) keeps level 0
    parent = np.empty(k, dtype=np.int32)
    slot = np.empty(k, dtype=np.int32)
    n_zones = 0
    for row in range(corners.shape[0]):
        copy_kernel(src, corners[row], dims, row_levels)
        _link_cells(row_levels, preceding, parent)
        first = n_zones
        n_zones = _list_zones(row_levels, parent, slot, zone_cell, zone_size, zone_level, n_zones)
        counts[row] = n_zones - first
    return n_zones


def zone_list(batch: KernelBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The zones of every kernel of the CPU ``batch``: ``(voxel, level, size)``, each ``(Z,)`` int64, ordered by
    kernel, then by the zone's smallest cell index. The kernels are read from the padded level volume when the
    batch carries it and gathered none (the compiled backend), else from its gathered rows."""
    b, k = batch.n_voxels, len(batch.offsets)
    from_volume = batch.volume is not None and batch.levels.shape[1] == 0
    src, corners, dims = kernel_reads(batch, from_volume)
    preceding = preceding_neighbours(batch.offsets.cpu())
    # Room for the worst case (every cell its own zone): 12 bytes per cell, against the torch path's 26 int16
    # neighbour masks per cell.
    zone_cell = np.empty(b * k, dtype=np.int32)
    zone_size = np.empty(b * k, dtype=np.int32)
    zone_level = np.empty(b * k, dtype=np.int32)
    counts = np.empty(b, dtype=np.int64)
    n = _find_zones(src, corners, dims, preceding, zone_cell, zone_size, zone_level, counts)
    voxel = torch.repeat_interleave(torch.arange(b), torch.from_numpy(counts), output_size=n)
    return voxel, torch.from_numpy(zone_level[:n]).long(), torch.from_numpy(zone_size[:n]).long()
