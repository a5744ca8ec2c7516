"""Co-occurrence counting for the GLCM family, backend-independent and torch: angles, the ROI-level angle check,
the torch pair counts, angle weights, and every backend's entries.

PyRadiomics semantics (C ``calculate_glcm`` in voxel mode): for each target voxel and angle ``a``, count kernel
cell pairs ``(k, k + a)`` with both cells inside the kernel (and the discretisation mask). Angles are every offset
whose Chebyshev norm is in ``distances``, one of each ``±a`` pair (first non-zero component positive), in
PyRadiomics' order. Axis order (z, y, x).

- torch backend (CUDA; CPU tensors in tests): :func:`sparse_pair_counts`, the non-zero entries of every voxel's
  and angle's matrix from one ``bincount`` over each kernel's own levels;
- compiled backend (CPU): :func:`~pdacrad.radiomics.glcm.sliding.compiled_pair_counts`, the same integers, bit
  for bit (:mod:`~pdacrad.radiomics.glcm.sliding`);
- :func:`entries`: the non-zero entries by either backend (angles merged for ``weightingNorm``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.counting import common
from pdacrad.radiomics.family import FamilyContext
from pdacrad.radiomics.glcm.sliding import compiled_pair_counts
from pdacrad.radiomics.kernel import KernelBatch


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


def angles_present(
    level_index: torch.Tensor,
    roi: torch.Tensor,
    radius: int,
    settings: Mapping[str, Any],
    features: Sequence[str] = ("JointAverage",),
) -> tuple[bool, ...] | None:
    """ROI-level state for :func:`~pdacrad.radiomics.glcm.compute` (GLCM's ``prepare``): per angle, whether it has
    at least one pair in some kernel of the ROI (``None``: not needed by ``features``).

    ``level_index`` is the ``(z, y, x)`` level-index volume (0 = outside the discretisation mask), ``roi`` the
    boolean target-voxel mask. A pair ``(p, p + a)`` lies in the kernel of ``v`` iff both are within Chebyshev
    ``radius`` of ``v``: ``p - v`` ranges over the box ``[-r, r] ∩ [-r - a, r - a]`` per axis, so "some ROI voxel
    sees a pair" is a box dilation (max-pool) of the pair-valid volume, tested on the ROI.
    """
    if (
        "JointAverage" not in features
    ):  # the only feature an all-empty angle changes (plain mean, not nanmean)
        return None
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
    return tuple(present)


def pair_codes(
    levels: torch.Tensor, n_levels: int, offsets: torch.Tensor, angles: torch.Tensor
) -> torch.Tensor:
    """``(M, A)`` integer codes ``((voxel * A + angle) * (G+1) + i) * (G+1) + j`` of every kernel cell pair
    ``(k, k + a)``, one row per cell ``k`` inside the kernel (``i`` its level index ``1..G`` in ``levels``
    ``(B, K)``; ``j`` the level index of ``k + a``, 0 where that cell is outside the kernel); ``G = n_levels``.

    Only the cells inside the kernel (level > 0) are visited: on a thin organ most cells of a large kernel lie
    outside the mask, so this costs ``A`` lookups per *ROI* cell instead of per kernel cell (PyRadiomics' C loop
    skips them the same way).
    """
    b, k = levels.shape
    g1 = n_levels + 1
    n_a = len(angles)
    dev = levels.device
    table = torch.tensor(common.grid_neighbour_table(offsets, angles), dtype=torch.int64, device=dev).T
    # int32 codes halve the memory traffic of this, the hottest loop, when the codes fit.
    itype = torch.int32 if b * n_a * g1 * g1 < 2**31 and b * (k + 1) < 2**31 else torch.int64
    padded = torch.nn.functional.pad(levels.to(itype), (0, 1))  # (B, K + 1), last column level 0
    flat_levels = padded.reshape(-1)
    vox, cell = torch.nonzero(levels, as_tuple=True)  # the M cells inside the kernel (int64)
    rows = vox * (k + 1)
    # index_select rather than advanced indexing: several times faster on CPU for these 1-D lookups
    first = flat_levels.index_select(0, rows + cell)
    # (M, A): flat index of each cell's neighbour along each angle (int64, as indexing wants), then its level
    neighbour = table.index_select(0, cell)
    neighbour += rows[:, None]
    second = flat_levels.index_select(0, neighbour.reshape(-1)).reshape(neighbour.shape)
    base = (vox.to(itype) * (n_a * g1) + first) * g1
    angle_part = torch.arange(n_a, device=dev, dtype=itype) * (g1 * g1)
    return second.add_(base[:, None] + angle_part[None, :])


def local_levels(levels: torch.Tensor, n_levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Renumber each kernel's levels ``1..G`` to its own ``1..L`` (ascending order kept; 0 stays 0), ``L`` the
    most levels any kernel of the batch holds. Returns the ``(B, K)`` local levels and the ``(B, L + 1)`` global
    level index of each local one (0 for unused slots)."""
    b = levels.shape[0]
    present = torch.zeros((b, n_levels + 1), dtype=torch.int64, device=levels.device)
    present.scatter_(1, levels, 1)
    present[:, 0] = 0
    rank = torch.cumsum(present, dim=1)  # local index of each present level (monotone in the global one)
    n_local = int(rank[:, -1].max()) if b else 0
    local = rank.gather(1, levels)
    glob = torch.zeros((b, n_local + 1), dtype=torch.int64, device=levels.device)
    glob.scatter_(1, rank * present, torch.arange(n_levels + 1, device=levels.device).expand(b, -1) * present)
    return local, glob


def sparse_pair_counts(
    batch: KernelBatch, angles: torch.Tensor, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The non-zero entries of the ``(B, A, G, G)`` co-occurrence counts (symmetrised with ``symmetric``):
    ``(codes, counts)``, both ``(E,)`` int64, codes ``((voxel * A + angle) * (G+1) + i) * (G+1) + j`` ascending with
    ``i, j`` level indices ``1..G``.

    Counting runs over each kernel's own levels (:func:`local_levels`): a kernel of ``K`` cells holds at most ``K``
    of the ROI's ``G`` levels, so the bincount is ``(L+1)²`` rather than ``(G+1)²`` per voxel and angle."""
    n_a = len(angles)
    local, glob = local_levels(batch.levels, batch.n_levels)
    l1 = glob.shape[1]
    dense = torch.bincount(
        pair_codes(local, l1 - 1, batch.offsets, angles).reshape(-1),
        minlength=batch.n_voxels * n_a * l1 * l1,
    ).reshape(-1, l1, l1)
    dense[:, :, 0] = 0  # second cell outside the kernel: no pair
    if symmetric:
        dense = dense + dense.transpose(1, 2)
    flat = dense.reshape(-1)
    at = torch.nonzero(flat).squeeze(1)
    block, li, lj = at // (l1 * l1), (at // l1) % l1, at % l1
    row = torch.div(block, n_a, rounding_mode="floor") * l1
    glob_flat = glob.reshape(-1)
    g1 = batch.n_levels + 1
    i, j = glob_flat.index_select(0, row + li), glob_flat.index_select(0, row + lj)
    return (block * g1 + i) * g1 + j, flat.index_select(0, at)


def angle_weights(angles: torch.Tensor, norm: str, context: FamilyContext) -> torch.Tensor:
    """PyRadiomics' angle weights ``exp(-‖a·spacing‖²)`` for ``weightingNorm`` (spacing in mm, z, y, x, from
    ``context``); 1 for ``no_weighting`` and unknown norms."""
    if norm not in ("infinity", "euclidean", "manhattan"):
        return torch.ones(len(angles), dtype=torch.float64)
    spacing = torch.tensor(context.voxel_spacing("GLCM weightingNorm"), dtype=torch.float64)
    dist = angles.abs().to(torch.float64) * spacing
    if norm == "infinity":
        return torch.exp(-(dist.max(1).values ** 2))
    if norm == "euclidean":
        return torch.exp(-(dist**2).sum(1))
    return torch.exp(-(dist.sum(1) ** 2))


def entries(
    batch: KernelBatch,
    backend: Backend,
    angles: torch.Tensor,
    symmetric: bool,
    settings: Mapping[str, Any],
    context: FamilyContext,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The batch's non-zero entries by ``backend``'s counting: ``(codes, counts float64, A)`` (A = 1 with
    ``weightingNorm``: angles summed with their weights, in angle order, into one matrix per voxel)."""
    if backend.compiled:
        codes, counts = compiled_pair_counts(batch, angles, symmetric, backend.sliding)
    else:
        codes, counts = sparse_pair_counts(batch, angles, symmetric)
    counts = counts.to(torch.float64)
    norm = settings.get("weightingNorm")
    if norm is None:
        return codes, counts, len(angles)
    gg = (batch.n_levels + 1) ** 2
    block = codes // gg
    weights = angle_weights(angles, norm, context).to(counts.device)
    merged = (block // len(angles)) * gg + codes % gg
    keys, where = torch.unique(merged, sorted=True, return_inverse=True)
    values = torch.zeros(len(keys), dtype=torch.float64, device=counts.device)
    return keys, values.index_add_(0, where, counts * weights[block % len(angles)]), 1
