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
def _neighbour_table(
    offsets_key: tuple[tuple[int, int, int], ...], angles_key: tuple[tuple[int, int, int], ...]
) -> torch.Tensor:
    """``(K, A)`` int64: for kernel cell ``k`` and angle ``a``, the index of cell ``k + a``, or ``K`` (a pad column
    that always reads level 0) where it leaves the kernel; cached per kernel shape and angle set."""
    offsets = torch.tensor(offsets_key, dtype=torch.int64).reshape(-1, 3)
    k = offsets.shape[0]
    cols = [neighbour_index(offsets, torch.tensor(a, dtype=torch.int64)) for a in angles_key]
    table = torch.stack(cols, dim=1) if cols else torch.zeros((k, 0), dtype=torch.int64)
    return torch.where(table < 0, torch.full_like(table, k), table)


def pair_counts(batch: KernelBatch, angles: torch.Tensor) -> torch.Tensor:
    """``(B, A, G, G)`` co-occurrence counts (float of the batch's dtype), not yet symmetrised.

    Only the kernel cells inside the kernel (level > 0) are visited: on a thin organ most cells of a large kernel
    lie outside the mask, so this costs ``A`` lookups per *ROI* cell instead of per kernel cell (PyRadiomics' C
    loop skips them the same way). Pairs whose second cell is outside read level 0 and land in row/column 0 of a
    ``(G+1)²`` matrix that is dropped, so one ``bincount`` counts every pair of every voxel and angle.
    """
    b, k = batch.levels.shape
    g1 = batch.n_levels + 1
    n_a = len(angles)
    dev = batch.device
    table = _neighbour_table(tuple(map(tuple, batch.offsets.tolist())), tuple(map(tuple, angles.tolist())))
    table = table.to(dev)
    # int32 codes halve the memory traffic of this, the hottest loop, when the codes fit.
    itype = torch.int32 if b * n_a * g1 * g1 < 2**31 and b * (k + 1) < 2**31 else torch.int64
    padded = torch.nn.functional.pad(batch.levels.to(itype), (0, 1))  # (B, K + 1), last column level 0
    flat_levels = padded.reshape(-1)
    vox, cell = torch.nonzero(batch.levels, as_tuple=True)  # the M cells inside the kernel (int64)
    rows = vox * (k + 1)
    first = flat_levels[rows + cell]
    # (M, A): flat index of each cell's neighbour along each angle (int64, as indexing wants), then its level
    neighbour = table[cell]
    neighbour += rows[:, None]
    second = flat_levels[neighbour]
    # code = ((voxel * A + angle) * (G+1) + first) * (G+1) + second, built from (M,) and (A,) parts
    base = (vox.to(itype) * (n_a * g1) + first) * g1
    angle_part = torch.arange(n_a, device=dev, dtype=itype) * (g1 * g1)
    code = second.add_(base[:, None] + angle_part[None, :])
    counts = torch.bincount(code.reshape(-1), minlength=b * n_a * g1 * g1)
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
