"""Helpers shared by the matrix feature families GLRLM, GLSZM, GLDM and NGTDM (private to the engine).

Everything here works on a :class:`~pdacrad.radiomics.kernel.KernelBatch`'s ``(B, K)`` level indices and its
``(K, 3)`` offsets (z, y, x); nothing allocates more than a small multiple of ``B * K`` elements.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.kernel import KernelBatch, grid_extent, neighbour_index

EPS = float(torch.finfo(torch.float64).eps)
"""PyRadiomics' ``numpy.spacing(1)``: the epsilon inside ``log2(p + eps)`` of every entropy feature (also in
float32, so that both paths compute the same formula)."""


def moving_dims(offsets: torch.Tensor) -> list[int]:
    """Axes (0 = z, 1 = y, 2 = x) along which the kernel extends; ``force2D`` kernels are flat along one."""
    extent = offsets.max(dim=0).values - offsets.min(dim=0).values
    return [d for d in range(3) if int(extent[d]) > 0]


def angles(
    offsets: torch.Tensor, distances: Sequence[int] = (1,), bidirectional: bool = True
) -> torch.Tensor:
    """``(A, 3)`` int64 neighbour offsets (dz, dy, dx) of PyRadiomics' ``generate_angles``: every offset whose
    infinity norm is in ``distances``, moving only along :func:`moving_dims`. With ``bidirectional=False`` only
    one of each ``±a`` pair is kept (GLRLM: a run along ``a`` is the same run along ``-a``).

    PyRadiomics also drops offsets longer than the image; those never land inside a kernel, so omitting that
    check changes no count. The order differs from PyRadiomics'; features only sum or average over angles.
    """
    dims = moving_dims(offsets)
    wanted = {int(d) for d in distances}
    if any(d < 1 for d in wanted):
        raise InvalidInputError(f"distances must be positive integers, got {sorted(wanted)}")
    reach = max(wanted)
    steps = range(-reach, reach + 1)
    out: list[list[int]] = []
    for combo in itertools.product(steps, repeat=len(dims)):
        norm = max(abs(c) for c in combo) if combo else 0
        if norm not in wanted:
            continue
        a = [0, 0, 0]
        for d, c in zip(dims, combo, strict=True):
            a[d] = c
        if not bidirectional and tuple(-v for v in a) in {tuple(o) for o in out}:
            continue
        out.append(a)
    return torch.tensor(out, dtype=torch.int64, device=offsets.device).reshape(-1, 3)


def neighbour_table(offsets: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """``(A, K)`` int64: for each shift and kernel cell, the index of the shifted cell, or ``K`` (the pad column
    of :func:`pad_levels`) where it leaves the kernel."""
    k = offsets.shape[0]
    rows = [neighbour_index(offsets, s) for s in shifts]
    if not rows:
        return torch.empty((0, k), dtype=torch.int64, device=offsets.device)
    table = torch.stack(rows)
    return torch.where(table < 0, torch.full_like(table, k), table)


def grid_neighbour_table(offsets: torch.Tensor, shifts: torch.Tensor) -> np.ndarray:
    """:func:`neighbour_table` of a kernel whose ``offsets`` are a full grid in C order, as a read-only ``(A, K)``
    int32 array for the compiled CPU kernels; cached per grid extent and shift set (a key of all ``K`` offsets, or
    rebuilding the table per batch, cost more than the counting at radius 5)."""
    return _grid_neighbour_table(
        grid_extent(offsets), tuple(tuple(int(v) for v in row) for row in shifts.tolist())
    )


@lru_cache(maxsize=64)
def _grid_neighbour_table(extent: tuple[int, ...], shifts: tuple[tuple[int, ...], ...]) -> np.ndarray:
    grid = torch.from_numpy(np.indices(extent).reshape(len(extent), -1).T.copy())
    table = (
        neighbour_table(grid, torch.tensor(shifts, dtype=torch.int64).reshape(-1, 3)).to(torch.int32).numpy()
    )
    table.flags.writeable = False
    return table


def pad_levels(levels: torch.Tensor) -> torch.Tensor:
    """``(B, K + 1)``: ``levels`` with a trailing column of 0 ("not in kernel") for out-of-kernel lookups."""
    return torch.nn.functional.pad(levels, (0, 1), value=0)


def level_values(grey_levels: torch.Tensor) -> torch.Tensor:
    """``(G + 1,)`` grey-level values indexed by level index (index 0, "not in kernel", maps to 0)."""
    return torch.cat([grey_levels.new_zeros(1), grey_levels])


def histogram(index: torch.Tensor, weight: torch.Tensor, size: int) -> torch.Tensor:
    """Per-row histogram: ``out[b, c] = sum of weight[b, n] over n with index[b, n] == c``. ``index`` is ``(B, N)``
    int64 in ``[0, size)``; returns ``(B, size)`` of ``weight``'s dtype."""
    out = weight.new_zeros((index.shape[0], size))
    return out.scatter_add_(1, index, weight)


def entropy(p: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``-sum(p * log2(p + eps))`` over ``dims`` (PyRadiomics' entropy, eps = float64 spacing(1))."""
    return -torch.sum(p * torch.log2(p + EPS), dim=dims)


def setting_distances(settings: Mapping[str, Any]) -> list[int]:
    """PyRadiomics' ``distances`` setting (default ``[1]``) as a list of ints."""
    raw = settings.get("distances", [1])
    return [int(d) for d in (raw if isinstance(raw, (list, tuple)) else [raw])]


def narrow_levels(levels: torch.Tensor, n_levels: int, n_extra: int = 0) -> torch.Tensor:
    """``levels`` as int16 (half the memory traffic of int64 in the counting loops) when codes up to
    ``(n_levels + 1) * (n_extra + 1) * (K + 1)`` still fit; otherwise unchanged. Callers widen to int64
    before indexing."""
    bound = (n_levels + 1) * (n_extra + 1) * (levels.shape[1] + 1)
    return levels.to(torch.int16) if bound < torch.iinfo(torch.int16).max else levels


TRUNCATED_STEPS = {0: (0, 1), 1: (-1, 0, 1), 2: (-1, 0), 3: (0,)}
"""Neighbour steps along one axis that stay inside the kernel cube, by the cell's class along that axis (see
:func:`truncation_classes`): 0 low face, 1 inside, 2 high face, 3 flat (``force2D``) axis."""


def truncation_classes(offsets: torch.Tensor) -> torch.Tensor:
    """``(K, 3)`` per-axis *truncation class* of each kernel cell: 0 low face, 1 inside, 2 high face, 3 flat axis.
    A cell's distance-1 neighbourhood cut by the kernel cube depends only on these (NGTDM, GLDM fast paths)."""
    lo, hi = offsets.min(dim=0).values, offsets.max(dim=0).values
    cls = torch.ones_like(offsets)
    cls = torch.where(offsets == lo, torch.zeros_like(cls), cls)
    cls = torch.where(offsets == hi, torch.full_like(cls, 2), cls)
    return torch.where((hi == lo).expand_as(offsets), torch.full_like(cls, 3), cls)


def gather_by_cell_class(
    volumes: torch.Tensor, cell_class: torch.Tensor, pad: int, batch: KernelBatch
) -> torch.Tensor:
    """``(B, K)`` values of per-truncation-class image volumes at the batch's kernel cells.

    ``volumes`` is ``(C, Z, Y, X)``, one volume per truncation class (padded by ``pad`` voxels); kernel cell ``k`` of
    target voxel ``b`` reads ``volumes[cell_class[k]]`` at ``batch.voxels[b] + batch.offsets[k]``.
    """
    assert batch.voxels is not None
    _, nz, ny, nx = volumes.shape
    offsets = batch.offsets
    flat_offsets = cell_class.to(offsets.device) * (nz * ny * nx)
    flat_offsets = flat_offsets + (offsets[:, 0] * ny + offsets[:, 1]) * nx + offsets[:, 2]
    pos = batch.voxels + pad
    base = (pos[:, 0] * ny + pos[:, 1]) * nx + pos[:, 2]
    index = (base[:, None] + flat_offsets[None, :]).reshape(-1)
    return volumes.reshape(-1).index_select(0, index).reshape(batch.levels.shape)


def needs_kernels_off_compiled(
    backend: Backend, features: Sequence[str], settings: Mapping[str, Any]
) -> bool:
    """``needs_kernels`` of a family whose compiled counting always reads the engine's padded level volume (GLSZM,
    GLRLM): gathered kernels only on the torch backend."""
    return not backend.compiled
