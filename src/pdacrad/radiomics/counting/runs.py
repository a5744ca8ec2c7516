"""GLRLM run counting from volume-level run lengths (the torch path of :mod:`pdacrad.radiomics.glrlm` on CUDA).

A run of a kernel along angle ``θ`` is a run of the whole volume clipped to the kernel cube. So, once per image
and angle, two volumes are computed: ``ahead(q)`` — how many cells after ``q`` along ``θ`` continue its run (same
level, inside the discretisation mask; capped at ``2r``, the longest run a kernel can hold) — and ``starts(q)`` —
``q`` begins a run (the cell before it has another level). A kernel cell ``k`` (at ``q = v + offset_k``) then
begins one of the kernel's runs iff ``starts(q)`` or ``k`` is the first cell of its kernel line along ``θ``, and
that run has ``min(ahead(q), cells left in the kernel line after k) + 1`` cells. Counting is one gather per ROI
cell of the kernel and angle — no tracing along lines per kernel, no work for cells outside the mask.

PyRadiomics' "empty angle" rule (no kernel line along ``θ`` holds two ROI cells) is checked per kernel from the
cells' line numbers. Axis order (z, y, x); volumes are padded by :func:`pad_width` cells of level 0.

CPU tensors are counted by :mod:`pdacrad.radiomics.counting.runs_cpu` instead (a compiled walk of each kernel's lines,
the same integers): there the torch passes over every ROI cell and angle, not the run volumes, were the cost
(:func:`run_counts`: 27 of 29 profiled CPU-s for the paper's LBP GLRLM maps at kernelRadius 5; run volumes 0.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from pdacrad.radiomics.kernel import neighbour_index


def pad_width(radius: int) -> int:
    """Cells of level 0 around the volume: a kernel cell lies within ``r`` of its voxel and looks ``2r`` ahead."""
    return 3 * radius + 1


@dataclass(frozen=True)
class VolumeRuns:
    """Per-angle run volumes of one discretised image (padded by :func:`pad_width` on every side).

    Attributes:
        angles: ``(A, 3)`` int64 angles (dz, dy, dx), in the order of ``glrlm`` (``common.angles``).
        ahead: ``(A, Z', Y', X')`` int16 cells after each cell that continue its run (≤ ``2r``).
        starts: ``(A, Z', Y', X')`` bool, the cell begins a run (level > 0 and the previous cell differs).
        pad: the padding width.
    """

    angles: torch.Tensor
    ahead: torch.Tensor
    starts: torch.Tensor
    pad: int


def _shifted(volume: torch.Tensor, shift: tuple[int, int, int]) -> torch.Tensor:
    """``out[p] = volume[p + shift]`` (0 where ``p + shift`` leaves the volume)."""
    out = torch.zeros_like(volume)
    dst = tuple(slice(max(-s, 0), n + min(-s, 0)) for s, n in zip(shift, volume.shape, strict=True))
    src = tuple(slice(max(s, 0), n + min(s, 0)) for s, n in zip(shift, volume.shape, strict=True))
    out[dst] = volume[src]
    return out


def volume_runs(level_index: torch.Tensor, angles: torch.Tensor, radius: int) -> VolumeRuns:
    """:class:`VolumeRuns` of the ``(z, y, x)`` level-index volume (0 = outside the discretisation mask)."""
    pad = pad_width(radius)
    levels = torch.nn.functional.pad(level_index.unsqueeze(0), (pad,) * 6).squeeze(0)
    inside = levels > 0
    aheads, starts = [], []
    for angle in angles.tolist():
        same = inside.clone()
        ahead = torch.zeros(levels.shape, dtype=torch.int16, device=levels.device)
        for t in range(1, 2 * radius + 1):
            same &= _shifted(levels, (t * angle[0], t * angle[1], t * angle[2])) == levels
            ahead += same
        aheads.append(ahead)
        starts.append(inside & (_shifted(levels, (-angle[0], -angle[1], -angle[2])) != levels))
    return VolumeRuns(angles=angles, ahead=torch.stack(aheads), starts=torch.stack(starts), pad=pad)


@lru_cache(maxsize=64)
def _kernel_tables(
    offsets_key: tuple[tuple[int, int, int], ...], angle: tuple[int, int, int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each kernel cell along ``angle``: (first cell of its kernel line: bool, cells left in the line after it,
    line number = index of the line's first cell), each ``(K,)``."""
    offsets = torch.tensor(offsets_key, dtype=torch.int64).reshape(-1, 3)
    step = neighbour_index(offsets, torch.tensor(angle))
    back = neighbour_index(offsets, -torch.tensor(angle))
    k = offsets.shape[0]
    left = torch.zeros(k, dtype=torch.int64)
    cur = step.clone()
    while bool((cur >= 0).any()):
        left += cur >= 0
        cur = torch.where(cur >= 0, step[cur.clamp(min=0)], cur)
    line = torch.arange(k)
    prev = back.clone()
    while bool((prev >= 0).any()):
        line = torch.where(prev >= 0, prev, line)
        prev = torch.where(prev >= 0, back[prev.clamp(min=0)], prev)
    return back < 0, left, line


@dataclass(frozen=True)
class KernelCells:
    """The ROI cells of a batch's kernels, shared by every angle: kernel row ``vox``, cell index ``cell``, flat
    position ``q`` in the padded run volumes, grey-level index ``level`` (all ``(M,)`` int64)."""

    vox: torch.Tensor
    cell: torch.Tensor
    q: torch.Tensor
    level: torch.Tensor
    n_voxels: int
    n_cells: int

    @classmethod
    def of(
        cls, levels: torch.Tensor, voxels: torch.Tensor, offsets: torch.Tensor, runs: VolumeRuns
    ) -> KernelCells:
        _, ny, nx = runs.ahead.shape[1:]
        flat_offsets = (offsets[:, 0] * ny + offsets[:, 1]) * nx + offsets[:, 2]
        pos = voxels + runs.pad
        base = (pos[:, 0] * ny + pos[:, 1]) * nx + pos[:, 2]
        vox, cell = torch.nonzero(levels, as_tuple=True)
        q = base.index_select(0, vox) + flat_offsets.index_select(0, cell)
        level = levels.reshape(-1).index_select(0, vox * levels.shape[1] + cell)
        return cls(vox, cell, q, level, levels.shape[0], levels.shape[1])


def run_counts(
    cells: KernelCells,
    offsets: torch.Tensor,
    runs: VolumeRuns,
    angle_index: int,
    n_levels: int,
    dtype: torch.dtype,
    by_level: bool = True,
) -> torch.Tensor:
    """``(B, G, J)`` run counts of one angle for the kernels of ``cells``, ``J = 2r + 1``; zero for kernels where
    the angle is empty. Same numbers as ``glrlm._angle_matrix``. With ``by_level=False`` the level axis is merged
    (``G = 1``)."""
    b, k = cells.n_voxels, cells.n_cells
    dev = cells.vox.device
    angle = tuple(runs.angles[angle_index].tolist())
    first, left, line = (t.to(dev) for t in _kernel_tables(tuple(map(tuple, offsets.tolist())), angle))
    j1 = int(left.max()) + 2  # run lengths 1..J plus the unused 0
    ahead = runs.ahead[angle_index].reshape(-1).index_select(0, cells.q)
    begins = runs.starts[angle_index].reshape(-1).index_select(0, cells.q) | first.index_select(0, cells.cell)
    length = torch.minimum(ahead.to(torch.int64), left.index_select(0, cells.cell)) + 1
    g1 = n_levels + 1 if by_level else 2
    level = cells.level if by_level else 1
    code = ((cells.vox * g1 + level) * j1 + length).masked_select(begins)
    counts = torch.bincount(code, minlength=b * g1 * j1).reshape(b, g1, j1)[:, 1:, 1:].to(dtype).contiguous()
    # PyRadiomics' "segmentation is 2D for this angle": no kernel line holds two ROI cells -> the angle is empty.
    per_line = torch.bincount(cells.vox * k + line.index_select(0, cells.cell), minlength=b * k)
    multi = (per_line.reshape(b, k) > 1).any(dim=1)
    return counts * multi[:, None, None].to(dtype)
