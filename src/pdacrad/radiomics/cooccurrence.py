"""Co-occurrence counting for the GLCM family: angles, per-voxel pair counts, and the ROI-level angle check.

PyRadiomics semantics (C ``calculate_glcm`` in voxel mode): for each target voxel and angle ``a``, count kernel
cell pairs ``(k, k + a)`` with both cells inside the kernel (and the discretisation mask). Angles are every offset
whose Chebyshev norm is in ``distances``, one of each ``±a`` pair (first non-zero component positive), in
PyRadiomics' order. Axis order (z, y, x).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.kernel import KernelBatch, neighbour_index, voxel_spacing


def glcm_angles(distances: Sequence[int], force2d: bool = False, force2d_dimension: int = 0) -> torch.Tensor:
    """``(A, 3)`` int64 angles (dz, dy, dx) in PyRadiomics' order and sign (first non-zero component positive):
    every offset whose Chebyshev norm is in ``distances``; with ``force2d`` the ``force2d_dimension`` axis is 0."""
    wanted = sorted({int(d) for d in distances})
    if not wanted or wanted[0] < 1:
        raise InvalidInputError(f"GLCM distances must be positive integers, got {list(distances)}")
    reach = wanted[-1]
    steps = range(reach, -reach - 1, -1)
    out = []
    for dz in steps:
        for dy in steps:
            for dx in steps:
                a = (dz, dy, dx)
                if force2d and a[force2d_dimension] != 0:
                    continue
                first = next((c for c in a if c != 0), 0)
                if first > 0 and max(abs(c) for c in a) in wanted:
                    out.append(a)
    return torch.tensor(out, dtype=torch.int64).reshape(-1, 3)


def angles_from_settings(settings: Mapping[str, Any]) -> torch.Tensor:
    distances = settings.get("distances", [1])
    distances = distances if isinstance(distances, (list, tuple)) else [distances]
    return glcm_angles(
        distances, bool(settings.get("force2D", False)), int(settings.get("force2Ddimension", 0))
    )


def prepare(
    level_index: torch.Tensor,
    roi: torch.Tensor,
    radius: int,
    settings: Mapping[str, Any],
    features: Sequence[str] = ("JointAverage",),
) -> dict[str, Any]:
    """ROI-level context for :func:`compute`: which angles have at least one pair in some kernel of the ROI.

    ``level_index`` is the ``(z, y, x)`` level-index volume (0 = outside the discretisation mask), ``roi`` the
    boolean target-voxel mask. A pair ``(p, p + a)`` lies in the kernel of ``v`` iff both are within Chebyshev
    ``radius`` of ``v``: ``p - v`` ranges over the box ``[-r, r] ∩ [-r - a, r - a]`` per axis, so "some ROI voxel
    sees a pair" is a box dilation (max-pool) of the pair-valid volume, tested on the ROI.
    """
    if (
        "JointAverage" not in features
    ):  # the only feature an all-empty angle changes (plain mean, not nanmean)
        return {}
    angles = angles_from_settings(settings)
    inside = (level_index > 0).to(torch.float32)
    pad = 2 * radius + (int(angles.abs().max()) if len(angles) else 0)
    padded = torch.nn.functional.pad(inside[None, None], (pad,) * 6)[0, 0]
    n = padded.shape
    present = []
    same_mask = bool(torch.equal(level_index > 0, roi))
    for a in angles.tolist():
        if same_mask and max(abs(c) for c in a) <= radius:
            # v = p is itself a ROI voxel whose kernel holds the pair, so a plain shifted AND decides.
            src = tuple(slice(max(c, 0), n + min(c, 0)) for c, n in zip(a, roi.shape, strict=True))
            dst = tuple(slice(max(-c, 0), n + min(-c, 0)) for c, n in zip(a, roi.shape, strict=True))
            present.append(bool((roi[dst] & roi[src]).any()))
            continue
        lo = [max(-radius, -radius - c) for c in a]
        hi = [min(radius, radius - c) for c in a]
        if any(h < low for low, h in zip(lo, hi, strict=True)):
            present.append(False)
            continue
        # shifted[q] = padded[q + a]: pairs[q] says "q and q + a are both in the discretisation mask".
        shifted = torch.zeros_like(padded)
        dst = tuple(slice(max(-c, 0), n[d] + min(-c, 0)) for d, c in enumerate(a))
        src = tuple(slice(max(c, 0), n[d] + min(c, 0)) for d, c in enumerate(a))
        shifted[dst] = padded[src]
        pairs = padded * shifted
        kernel = [h - low + 1 for low, h in zip(lo, hi, strict=True)]
        seen = torch.nn.functional.max_pool3d(pairs[None, None], kernel, stride=1)[0, 0]
        window = seen[tuple(slice(pad + low, pad + low + s) for low, s in zip(lo, inside.shape, strict=True))]
        present.append(bool((window[roi] > 0).any()))
    return {"_glcm_angles_present": present}


@lru_cache(maxsize=32)
def _pair_table(
    offsets_key: tuple[tuple[int, int, int], ...], angles_key: tuple[tuple[int, int, int], ...]
) -> torch.Tensor:
    """``(3, M)`` int64 rows (first cell, second cell, angle index) of every kernel cell pair ``(k, k + a)`` inside
    the kernel, for all angles; cached per kernel shape and angle set (the same for every batch of a run)."""
    offsets = torch.tensor(offsets_key, dtype=torch.int64).reshape(-1, 3)
    rows = []
    for a_idx, a in enumerate(angles_key):
        nb = neighbour_index(offsets, torch.tensor(a, dtype=torch.int64))
        cells = torch.nonzero(nb >= 0).squeeze(1)
        rows.append(torch.stack([cells, nb[cells], torch.full_like(cells, a_idx)]))
    return torch.cat(rows, dim=1) if rows else torch.zeros((3, 0), dtype=torch.int64)


def pair_counts(batch: KernelBatch, angles: torch.Tensor) -> torch.Tensor:
    """``(B, A, G, G)`` co-occurrence counts (float of the batch's dtype), not yet symmetrised."""
    b = batch.n_voxels
    g1 = batch.n_levels + 1
    n_a = len(angles)
    dev = batch.device
    table = _pair_table(tuple(map(tuple, batch.offsets.tolist())), tuple(map(tuple, angles.tolist()))).to(dev)
    # Level 0 (not in kernel) goes to row/column 0 of a (G+1)² matrix that is dropped afterwards, so pairs need no
    # masking pass: one bincount counts every pair of every voxel and angle.
    # int32 codes and index_select halve the memory traffic of this, the hottest loop, when the codes fit.
    itype = torch.int32 if b * n_a * g1 * g1 < 2**31 else torch.int64
    levels = batch.levels.to(itype)
    pair = torch.index_select(levels, 1, table[0]) * g1 + torch.index_select(levels, 1, table[1])
    pair += (table[2] * (g1 * g1)).to(itype)[None, :]
    pair += (torch.arange(b, device=dev) * (n_a * g1 * g1)).to(itype)[:, None]
    counts = torch.bincount(pair.reshape(-1), minlength=b * n_a * g1 * g1)
    return counts.reshape(b, n_a, g1, g1)[:, :, 1:, 1:].to(batch.dtype)


def angle_weights(angles: torch.Tensor, norm: str, settings: Mapping[str, Any]) -> torch.Tensor:
    """PyRadiomics' angle weights ``exp(-‖a·spacing‖²)`` for ``weightingNorm`` (spacing in mm, z, y, x, from
    :data:`~pdacrad.radiomics.kernel.SPACING_KEY`); 1 for ``no_weighting`` and unknown norms."""
    if norm not in ("infinity", "euclidean", "manhattan"):
        return torch.ones(len(angles), dtype=torch.float64)
    spacing = torch.tensor(voxel_spacing(settings, "GLCM"), dtype=torch.float64)
    dist = angles.abs().to(torch.float64) * spacing
    if norm == "infinity":
        return torch.exp(-(dist.max(1).values ** 2))
    if norm == "euclidean":
        return torch.exp(-(dist**2).sum(1))
    return torch.exp(-(dist.sum(1) ** 2))
