"""Voxel neighbourhoods ("kernels") of PyRadiomics' voxel-based mode, gathered in batches.

This module holds what the engine core (discretisation, image types, batching, map writing) hands the feature
families (``glcm/``, ``glrlm.py``, ...) per voxel batch: a :class:`KernelBatch`, which a family turns into one value
per target voxel for each requested feature (the hooks and the rest of the contract:
:mod:`pdacrad.radiomics.family`).

Semantics (PyRadiomics 3.1, ``RadiomicsFeaturesBase._initVoxelBasedCalculation`` and the C matrices): the kernel of
a target voxel is the cube of Chebyshev radius ``kernelRadius`` around it (a square in the ``force2Ddimension`` plane
with ``force2D``), restricted to voxels inside the image and inside ``maskArray`` — the ROI mask when
``maskedKernel`` is true (default), the whole image otherwise. Grey levels are discretised once over ``maskArray``
(not per kernel); levels absent from the whole ROI are removed from the matrices (so matrices are indexed by the
*present* levels), while levels missing from one kernel stay as zero rows/columns.

Axis order is numpy's (z, y, x) throughout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pdacrad.radiomics._jit import jit_inline

if TYPE_CHECKING:
    from pdacrad.radiomics.backend import Backend


@dataclass(frozen=True)
class KernelBatch:
    """Discretised kernels of ``B`` target voxels.

    Attributes:
        levels: ``(B, K)`` int64. ``levels[b, k]`` is the grey-level *index* ``1..G`` (into :attr:`grey_levels`) of
            kernel cell ``k`` of target voxel ``b``, or ``0`` where that cell is not part of the kernel (outside the
            image, or outside ``maskArray``). ``(B, 0)`` when the family reads :attr:`volume` instead (its
            ``needs_kernels`` said so; the engine core then gathers nothing).
        grey_levels: ``(G,)`` float tensor (the batch's dtype) of the discretised grey-level *values* present in the
            whole ROI, ascending (PyRadiomics' ``coefficients['grayLevels']``; the ``i``/``j`` of the formulas).
        offsets: ``(K, 3)`` int64 offsets ``(dz, dy, dx)`` of the kernel cells, in C order over ``-r..r``
            (with ``force2D`` the offset along ``force2Ddimension`` is 0 for all cells, ``K = (2r+1)**2``).
        radius: the kernel radius ``r`` in voxels.
        values: optional ``(B, K)`` float tensor of the *undiscretised* intensities (first-order features), NaN where
            ``levels == 0``.
        voxels: optional ``(B, 3)`` int64 (z, y, x) of the target voxels in the volume the engine core discretised
            (set by the core; families with a volume-level fast path prepared in ``prepare`` use it, others and
            kernels built without a volume ignore it).
        backend: the :class:`~pdacrad.radiomics.backend.Backend` that counts this batch (set by the engine core);
            ``None``: the default backend of the batch's device.
        volume: optional ``(Z + 2r, Y + 2r, X + 2r)`` int64 level-index volume the kernels come from, padded by
            :attr:`radius` voxels of 0 on every side (set by the engine core with :attr:`voxels`; kernel cell
            ``offsets[k]`` of voxel ``v`` is ``volume[v + r + offsets[k]]``).
    """

    levels: torch.Tensor
    grey_levels: torch.Tensor
    offsets: torch.Tensor
    radius: int
    values: torch.Tensor | None = None
    voxels: torch.Tensor | None = None
    backend: Backend | None = None
    volume: torch.Tensor | None = None

    @property
    def n_voxels(self) -> int:
        return int(self.levels.shape[0])

    @property
    def n_levels(self) -> int:
        """``G``: number of grey levels present in the ROI."""
        return int(self.grey_levels.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.grey_levels.dtype

    @property
    def device(self) -> torch.device:
        return self.levels.device


def kernel_offsets(
    radius: int, force2d: bool = False, force2d_dimension: int = 0, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``(K, 3)`` int64 offsets ``(dz, dy, dx)`` of a cube (or square with ``force2d``) of Chebyshev radius
    ``radius``, in C order. ``force2d_dimension`` is PyRadiomics' axis index into (z, y, x) that is held at 0."""
    r = torch.arange(-radius, radius + 1, device=device)
    axes = [r, r, r]
    if force2d:
        axes[force2d_dimension] = torch.zeros(1, dtype=r.dtype, device=device)
    grid = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grid], dim=1)


def settings_offsets(
    radius: int, settings: Mapping[str, Any], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """:func:`kernel_offsets` for PyRadiomics ``settings`` (their ``force2D`` and ``force2Ddimension``)."""
    return kernel_offsets(
        radius, bool(settings.get("force2D", False)), int(settings.get("force2Ddimension", 0)), device
    )


def neighbour_index(offsets: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """For each kernel cell ``k``, the index of the cell at ``offsets[k] + shift`` in ``offsets``, or ``-1`` where
    that position lies outside the kernel. ``shift`` is ``(3,)`` int64 ``(dz, dy, dx)``. Returns ``(K,)`` int64."""
    target = offsets + shift.to(offsets)
    # Offsets form a full grid in C order, so a position's index follows from its coordinates.
    lo = offsets.min(dim=0).values
    extent = offsets.max(dim=0).values - lo + 1
    rel = target - lo
    inside = ((rel >= 0) & (rel < extent)).all(dim=1)
    flat = (rel[:, 0] * extent[1] + rel[:, 1]) * extent[2] + rel[:, 2]
    return torch.where(inside, flat, torch.full_like(flat, -1))


def pad_volume(volume: torch.Tensor, pad: int, fill: float | int = 0) -> torch.Tensor:
    """``volume`` (``(Z, Y, X)``) padded by ``pad`` voxels of ``fill`` on every side (once per image, so that
    :func:`gather_kernels` of many voxel batches does not copy the volume each time)."""
    if not pad:
        return volume
    return torch.nn.functional.pad(volume.unsqueeze(0), (pad,) * 6, value=fill).squeeze(0)


def gather_kernels(
    volume: torch.Tensor,
    voxels: torch.Tensor,
    offsets: torch.Tensor,
    fill: float | int = 0,
    padded_by: int | None = None,
) -> torch.Tensor:
    """Gather ``volume`` (``(Z, Y, X)``) at ``voxels[:, None, :] + offsets[None]``.

    ``voxels`` is ``(B, 3)`` int64 (z, y, x) inside the (unpadded) volume; positions outside the volume read
    ``fill``. With ``padded_by`` the volume is already :func:`pad_volume`'d by that many voxels (at least the
    kernel radius) and ``fill`` is ignored. Returns ``(B, K)`` with ``volume``'s dtype, on its device.
    """
    if padded_by is None:
        padded_by = int(offsets.abs().max().item()) if offsets.numel() else 0
        volume = pad_volume(volume, padded_by, fill)
    _, ny, nx = volume.shape
    # One flat index per cell: a single 1-D gather is cheaper than three advanced indices.
    flat_offsets = (offsets[:, 0] * ny + offsets[:, 1]) * nx + offsets[:, 2]
    pos = voxels + padded_by
    base = (pos[:, 0] * ny + pos[:, 1]) * nx + pos[:, 2]
    return volume.reshape(-1)[base[:, None] + flat_offsets[None, :]]


def grid_extent(offsets: torch.Tensor) -> tuple[int, ...]:
    """Cells per axis of the grid spanned by a kernel's ``(K, 3)`` offsets (the cache key of its lookup tables)."""
    return tuple(int(v) + 1 for v in (offsets.amax(dim=0) - offsets.amin(dim=0)).tolist())


def volume_corners(batch: KernelBatch, shape: tuple[int, ...]) -> np.ndarray:
    """``(B,)`` int64 flat index, in a ``(Z', Y', X')`` volume of ``shape`` padded like :attr:`KernelBatch.volume`
    (by :attr:`KernelBatch.radius`), of the first cell (smallest offsets) of each target voxel's kernel."""
    assert batch.voxels is not None
    _, ny, nx = shape
    corner = (batch.voxels.cpu() + batch.radius + batch.offsets.cpu().amin(dim=0)).to(torch.int64)
    return ((corner[:, 0] * ny + corner[:, 1]) * nx + corner[:, 2]).numpy()


def kernel_reads(batch: KernelBatch, from_volume: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, corners, dims)``: where compiled CPU counting reads the kernels of ``batch``. Cell ``(z, y, x)`` of
    target ``b``'s kernel grid (C order over the offsets' extent ``ez, ey, ex``) is ``src[corners[b] + z·sz + y·sy
    + x]``, ``dims`` int64 ``(ez, ey, ex, sz, sy)``: in the padded level volume :attr:`KernelBatch.volume` when
    ``from_volume`` (nothing gathered), else in the gathered rows :attr:`KernelBatch.levels`."""
    ez, ey, ex = grid_extent(batch.offsets)
    if from_volume:
        assert batch.volume is not None
        volume = batch.volume.detach().cpu()
        _, ny, nx = volume.shape
        src, corners, sz, sy = (
            volume.reshape(-1).numpy(),
            volume_corners(batch, tuple(volume.shape)),
            ny * nx,
            nx,
        )
    else:
        k = batch.levels.shape[1]
        assert k == len(batch.offsets), "neither gathered kernels nor the level volume"
        src = batch.levels.contiguous().reshape(-1).numpy()
        corners, sz, sy = np.arange(batch.n_voxels, dtype=np.int64) * k, ey * ex, ex
    return src, corners, np.array([ez, ey, ex, sz, sy], dtype=np.int64)


@jit_inline
def scan_step(voxels: np.ndarray, b: int, limit: int) -> int:  # pragma: no cover - compiled
    """The x step ``s`` from target voxel ``b - 1`` to ``b`` (``voxels`` ``(B, 3)`` z, y, x, in the engine core's C
    order) when both lie on one scan line and ``0 < s <= limit`` — a step a sliding family's compiled counting
    takes by moving the previous kernel's tables; 0 otherwise (also without voxels, ``voxels`` of length 0)."""
    if b == 0 or voxels.shape[0] == 0 or voxels[b, 0] != voxels[b - 1, 0] or voxels[b, 1] != voxels[b - 1, 1]:
        return 0
    s = voxels[b, 2] - voxels[b - 1, 2]
    return s if 0 < s <= limit else 0


@jit_inline
def copy_kernel(src: np.ndarray, corner: int, dims: np.ndarray, row: np.ndarray) -> None:  # pragma: no cover
    """Copy one kernel, read as :func:`kernel_reads` says (``src[corner + z·sz + y·sy + x]`` and its ``dims``), into
    ``row[:K]`` in grid C order."""
    ez, ey, ex, sz, sy = dims[0], dims[1], dims[2], dims[3], dims[4]
    cell = 0
    for z in range(ez):
        for y in range(ey):
            line = corner + z * sz + y * sy
            for x in range(ex):
                row[cell] = src[line + x]
                cell += 1
