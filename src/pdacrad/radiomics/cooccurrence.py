"""Co-occurrence counting for the GLCM family, per backend: angles, the ROI-level angle check, pair counts, and
the per-block sums every formula of :mod:`pdacrad.radiomics.glcm` shares.

PyRadiomics semantics (C ``calculate_glcm`` in voxel mode): for each target voxel and angle ``a``, count kernel
cell pairs ``(k, k + a)`` with both cells inside the kernel (and the discretisation mask). Angles are every offset
whose Chebyshev norm is in ``distances``, one of each ``±a`` pair (first non-zero component positive), in
PyRadiomics' order. Axis order (z, y, x).

- torch backend (CUDA; CPU tensors in tests): :func:`sparse_pair_counts`, the non-zero entries of every voxel's
  and angle's matrix from one ``bincount`` over each kernel's own levels;
- compiled backend (CPU): per-angle count tables over a run's own levels, in cache, *slid* from one target voxel's
  kernel to the next along a scan line (:func:`begin_run`, :func:`count_row`, :func:`list_entries`; used by
  :func:`compiled_pair_counts` and by the fused driver of :mod:`~pdacrad.radiomics.glcm`); the same integers, bit
  for bit. Sliding by one voxel along x, the box of the cells ``p`` whose pair ``(p, p + a)`` lies in the kernel
  loses one x-slice and gains one: ``2 (2r+1)²`` pair updates per angle instead of ``(2r+1)³``. A kernel's table
  keeps zero rows for levels it lacks (PyRadiomics removes absent levels per ROI, not per kernel), and entries are
  listed in ascending level order, so the formulas see exactly the per-kernel tables' entries;
- :func:`entries`: the non-zero entries by either backend (angles merged for ``weightingNorm``);
- :func:`block_sums`: p(i,j), marginals, means, entropies and ``p_{x±y}`` of one block, from its entries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import _families_common as common
from pdacrad.radiomics._jit import jit, jit_inline
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.kernel import KernelBatch, voxel_spacing


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
    grey_levels: torch.Tensor | None = None,
    backend: object = None,
) -> dict[str, Any]:
    """ROI-level context for :func:`compute`: which angles have at least one pair in some kernel of the ROI.

    ``level_index`` is the ``(z, y, x)`` level-index volume (0 = outside the discretisation mask), ``roi`` the
    boolean target-voxel mask. A pair ``(p, p + a)`` lies in the kernel of ``v`` iff both are within Chebyshev
    ``radius`` of ``v``: ``p - v`` ranges over the box ``[-r, r] ∩ [-r - a, r - a]`` per axis, so "some ROI voxel
    sees a pair" is a box dilation (max-pool) of the pair-valid volume, tested on the ROI. ``grey_levels`` and
    ``backend`` are not used (the engine core passes every family's ``prepare`` the same arguments).
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


# --- The compiled CPU backend's counting, and the per-block sums every GLCM formula shares -----------------------

UX, UY, HXY, HX, HY, N_G, N_SUM, N_DIFF, SYMMETRIC = range(9)
"""Named slots of the per-block scalar array ``s`` that :func:`block_sums` fills for the formulas: μ_x, μ_y, HXY,
HX, HY, N_g, the number of non-zero ``p_{x+y}`` / ``p_{x-y}`` values listed in ``sk, sq`` / ``dk, dq``, and 1 for
the symmetrical GLCM (0 otherwise)."""
N_SLOTS = 9
NEEDS_LOGS, NEEDS_K = 1, 2
"""Bits of a formula's ``needs``: HXY, HX, HY (entropies); the ``p_{x+y}``, ``p_{x-y}`` lists."""
EPS = float(torch.finfo(torch.float64).eps)


LEVEL_CAP = 256
"""Grey levels a sliding run may gather before the next kernel of its scan line starts a new run: bounds the run's
``A × (L + 1)²`` tables (a single kernel may hold more; its tables are sized to it)."""


def kernel_layout(
    batch: KernelBatch, angles: torch.Tensor, slide: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the compiled counting reads each kernel: ``(src, corners, voxels, dims, geom, steps)``.

    Cell ``(z, y, x)`` of the kernel grid (extent ``ez, ey, ex``) of target ``b`` is
    ``src[corners[b] + z·sz + y·sy + x]``: in the engine's padded level volume (:attr:`KernelBatch.volume`, when the
    batch carries it and ``slide``; nothing gathered) or in the gathered rows ``batch.levels``. ``dims`` int64
    ``(ez, ey, ex, sz, sy)``; ``geom`` ``(A, 7)`` int64, per angle ``a`` the box of the cells ``p`` whose pair
    ``(p, p + a)`` lies inside the kernel, ``z0, z1, y0, y1, x0, x1`` (inclusive; ``x0 > x1``: no pair fits) and the
    flat offset of ``a``; ``steps`` the grid's ``(A, K)`` neighbour table (fresh counts); ``voxels`` ``(B, 3)``
    z, y, x, or ``(0, 3)`` (every kernel counted afresh) unless ``slide``."""
    ext = common.grid_extent(batch.offsets)
    n = batch.n_voxels
    vox = batch.voxels if slide else None
    if vox is not None and batch.volume is not None:
        vol = batch.volume.detach().cpu()
        src, (_, ny, nx) = vol.reshape(-1).numpy(), vol.shape
        corner = (vox.cpu() + batch.radius + batch.offsets.cpu().amin(dim=0)).to(torch.int64)
        corners = ((corner[:, 0] * ny + corner[:, 1]) * nx + corner[:, 2]).numpy()
        sz, sy = ny * nx, nx
    else:
        src = batch.levels.contiguous().reshape(-1).numpy()
        corners = np.arange(n, dtype=np.int64) * batch.levels.shape[1]
        sz, sy = ext[1] * ext[2], ext[2]
    geom = np.zeros((len(angles), 7), dtype=np.int64)
    for row, a in enumerate(angles.tolist()):
        for d in range(3):
            geom[row, 2 * d], geom[row, 2 * d + 1] = max(0, -a[d]), ext[d] - 1 - max(0, a[d])
        geom[row, 6] = a[0] * sz + a[1] * sy + a[2]
    voxels = np.zeros((0, 3), np.int64) if vox is None else vox.cpu().to(torch.int64).contiguous().numpy()
    steps = common.grid_neighbour_table(batch.offsets, angles)
    return src, corners, voxels, np.array([*ext, sz, sy], dtype=np.int64), geom, steps


@jit_inline
def _step(voxels: np.ndarray, b: int, ex: int) -> int:  # pragma: no cover - compiled
    """The x step ``s`` from target voxel ``b - 1`` to ``b`` (``voxels`` ``(B, 3)`` z, y, x) when both lie on one
    scan line and sliding is cheaper than a fresh count (``2 s < ex``: the kernel changes by ``2 s`` of its ``ex``
    x-slices); 0 otherwise (also without voxels, ``voxels`` of length 0)."""
    if b == 0 or voxels.shape[0] == 0 or voxels[b, 0] != voxels[b - 1, 0] or voxels[b, 1] != voxels[b - 1, 1]:
        return 0
    s = voxels[b, 2] - voxels[b - 1, 2]
    return s if s > 0 and 2 * s < ex else 0


@jit_inline
def _mark(
    src: np.ndarray, at: int, dims: np.ndarray, x0: int, lut: np.ndarray, glob: np.ndarray, n: int
) -> int:  # pragma: no cover - compiled
    """Add the levels of the kernel at ``at``'s cells with x-index ``≥ x0`` not yet marked in ``lut`` to
    ``glob[n + 1:]``; returns the new ``n``."""
    ex, sz, sy = dims[2], dims[3], dims[4]
    for z in range(dims[0]):
        for y in range(dims[1]):
            line = at + z * sz + y * sy
            for c in range(line + x0, line + ex):
                g = src[c]
                if g != 0 and lut[g] == 0:
                    lut[g] = 1
                    n += 1
                    glob[n] = g
    return n


@jit_inline
def begin_run(
    src: np.ndarray,
    corners: np.ndarray,
    voxels: np.ndarray,
    b0: int,
    dims: np.ndarray,
    lut: np.ndarray,
    glob: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Start a run at kernel ``b0``: the kernels ``b0..end-1`` whose target voxels follow each other on one scan
    line (:func:`_step`) until the run holds :data:`LEVEL_CAP` levels; renumber the levels present in their union
    to ``1..L`` ascending (``lut`` ``(G + 1,)`` global → run-local, zero on entry; ``glob`` run-local → global).
    The union is kernel ``b0`` and the entering x-slices of each later one. Returns ``(end, L + 1)``."""
    n = _mark(src, corners[b0], dims, 0, lut, glob, 0)
    end = b0 + 1
    while end < corners.shape[0] and n < LEVEL_CAP:
        s = _step(voxels, end, dims[2])
        if s == 0:
            break
        n = _mark(src, corners[end], dims, dims[2] - s, lut, glob, n)
        end += 1
    glob[1 : n + 1].sort()  # ascending run-local levels: entries keep a kernel's own (i, j) order
    for lv in range(1, n + 1):
        lut[glob[lv]] = lv
    return end, n + 1


@jit_inline
def _count_box(
    src: np.ndarray,
    at: int,
    g: np.ndarray,
    x0: int,
    x1: int,
    sign: int,
    sz: int,
    sy: int,
    lut: np.ndarray,
    table: np.ndarray,
    base: int,
    l1: int,
) -> None:  # pragma: no cover - compiled
    """Add ``sign`` to the run-local ``table[base + i·l1 + j]`` for every pair ``(p, p + a)`` of the kernel at
    ``at`` with ``p`` in angle geometry ``g``'s box cut to x-indices ``x0..x1``. A cell outside the kernel has level
    0 and lands in row or column 0, which nothing reads (no branch in the hot loop)."""
    delta, z0, z1, y0, y1 = g[6], g[0], g[1] + 1, g[2], g[3] + 1
    for z in range(z0, z1):
        for y in range(y0, y1):
            line = at + z * sz + y * sy
            if x0 == x1:  # one slice (a one-voxel slide): no inner loop (LLVM's vectorised one costs 3× here)
                c = line + x0
                table[base + lut[src[c]] * l1 + lut[src[c + delta]]] += sign
                continue
            for c in range(line + x0, line + x1 + 1):
                table[base + lut[src[c]] * l1 + lut[src[c + delta]]] += sign


@jit_inline
def count_row(
    src: np.ndarray,
    corners: np.ndarray,
    b: int,
    s: int,
    dims: np.ndarray,
    geom: np.ndarray,
    steps: np.ndarray,
    lut: np.ndarray,
    tables: np.ndarray,
    l1: int,
    hist: np.ndarray,
    present: np.ndarray,
    local: np.ndarray,
    cells: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Bring the run's per-angle count tables (``tables[a·l1² + i·l1 + j]``, run-local levels) and level histogram
    ``hist`` to kernel ``b``: counted afresh when ``s == 0`` (first kernel of a run, tables zero), else slid by
    ``s`` voxels along x from kernel ``b - 1``: per angle, the pairs starting in the x-slices that left the angle's
    box are removed (read from kernel ``b - 1``), those starting in the slices that entered added (read from
    kernel ``b``); the pairs in between are the same cells of the image, hence the same counts. Lists the levels
    present in the kernel, ascending, in ``present``; returns how many. ``steps`` ``(A, K)`` the kernel grid's neighbour table
    (:func:`~pdacrad.radiomics._families_common.grid_neighbour_table`); ``local``, ``cells`` scratch."""
    if s == 0:
        _fresh(src, corners[b], dims, steps, lut, tables, l1, hist, local, cells)
    else:
        _slide(src, corners[b - 1], corners[b], s, dims, geom, lut, tables, l1, hist)
    n = 0
    for lv in range(1, l1):
        if hist[lv] > 0:
            present[n] = lv
            n += 1
    return n


@jit
def _fresh(
    src: np.ndarray,
    at: int,
    dims: np.ndarray,
    steps: np.ndarray,
    lut: np.ndarray,
    tables: np.ndarray,
    l1: int,
    hist: np.ndarray,
    local: np.ndarray,
    cells: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """:func:`count_row` afresh: the kernel at ``at`` copied once to its run-local levels ``local`` ``(K + 1,)``
    (grid order; ``local[K]`` stays 0) and into ``hist``, its cells inside the kernel listed in ``cells``; then
    each angle's pairs ``(k, steps[a, k])`` counted from that list only (on a thin organ most cells of a large
    kernel lie outside the mask, as in PyRadiomics' C loop; a neighbour outside the kernel is ``K``, level 0)."""
    ez, ey, ex, sz, sy = dims[0], dims[1], dims[2], dims[3], dims[4]
    m, k = 0, 0
    for z in range(ez):
        for y in range(ey):
            line = at + z * sz + y * sy
            for x in range(ex):
                lv = lut[src[line + x]]
                local[k] = lv
                hist[lv] += 1
                if lv != 0:
                    cells[m] = k
                    m += 1
                k += 1
    for a in range(steps.shape[0]):
        step, base = steps[a], a * l1 * l1
        for n in range(m):
            c = cells[n]
            tables[base + local[c] * l1 + local[step[c]]] += 1


@jit
def _slide(
    src: np.ndarray,
    prev: int,
    at: int,
    s: int,
    dims: np.ndarray,
    geom: np.ndarray,
    lut: np.ndarray,
    tables: np.ndarray,
    l1: int,
    hist: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """:func:`count_row` by sliding ``s`` voxels from the kernel at ``prev`` to the one at ``at``."""
    ez, ey, ex, sz, sy = dims[0], dims[1], dims[2], dims[3], dims[4]
    for z in range(ez):
        for y in range(ey):
            line = z * sz + y * sy
            for x in range(s):
                hist[lut[src[prev + line + x]]] -= 1
                hist[lut[src[at + line + ex - s + x]]] += 1
    for a in range(geom.shape[0]):
        g, base = geom[a], a * l1 * l1
        x0, x1 = g[4], g[5]
        if x0 <= x1:
            _count_box(src, prev, g, x0, min(x0 + s, x1 + 1) - 1, -1, sz, sy, lut, tables, base, l1)
            _count_box(src, at, g, max(x1 + 1 - s, x0), x1, 1, sz, sy, lut, tables, base, l1)


@jit_inline
def end_run(
    tables: np.ndarray, n_angles: int, l1: int, hist: np.ndarray, lut: np.ndarray, glob: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Zero the run's tables, histogram and level map for the next run."""
    tables[: n_angles * l1 * l1] = 0
    hist[:l1] = 0
    for lv in range(1, l1):
        lut[glob[lv]] = 0


@jit_inline
def list_entries(
    tables: np.ndarray,
    base: int,
    l1: int,
    present: np.ndarray,
    n_present: int,
    symmetric: bool,
    ei: np.ndarray,
    ej: np.ndarray,
    ec: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """List one angle's non-zero entries of ``P`` (``P + Pᵀ`` with ``symmetric``; the table at ``base``) in
    ``(i, j)`` order to ``ei, ej, ec``, over the levels ``present`` in the kernel (no other row or column can hold
    a pair). Returns the number of entries (``ei, ej, ec`` hold one slot more than the entries of a block)."""
    n = 0
    for x in range(n_present):
        i = present[x]
        for y in range(n_present):
            j = present[y]
            c = tables[base + i * l1 + j]
            if symmetric:
                c += tables[base + j * l1 + i]
            # written always, kept only if non-zero: no branch to mispredict on half-empty tables
            ei[n], ej[n], ec[n] = i, j, c
            n += c != 0
    return n


@jit
def sliding_scratch(n_cells: int, n_levels: int, n_angles: int) -> tuple:  # type: ignore[type-arg]
    """Zeroed scratch of the sliding counting for kernels of ``n_cells`` cells: ``lut, glob, hist, present,
    tables, local, cells`` and ``ei, ej, ec`` for one angle's entries."""  # pragma: no cover - compiled
    l1 = min(n_cells, n_levels) + 1
    size = min(n_levels, LEVEL_CAP + n_cells) + 2
    return (
        np.zeros(n_levels + 1, np.int32),
        np.zeros(size, np.int64),
        np.zeros(size, np.int32),
        np.zeros(size, np.int32),
        np.zeros(n_angles * l1 * l1, np.int32),
        np.zeros(n_cells + 1, np.int32),
        np.zeros(n_cells, np.int32),
        np.zeros(2 * n_cells + 1, np.int32),
        np.zeros(2 * n_cells + 1, np.int32),
        np.zeros(2 * n_cells + 1, np.int64),
    )


@jit
def _pair_entries(
    src: np.ndarray,
    corners: np.ndarray,
    voxels: np.ndarray,
    dims: np.ndarray,
    geom: np.ndarray,
    steps: np.ndarray,
    symmetric: bool,
    n_levels: int,
    codes: np.ndarray,
    counts: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Every kernel's per-angle non-zero entries to ``codes``/``counts`` (see :func:`compiled_pair_counts`).
    Returns ``(entries, kernels slid)``."""
    n_angles, g1, e, slid, b0 = geom.shape[0], n_levels + 1, 0, 0, 0
    lut, glob, hist, present, tables, local, cells, ei, ej, ec = sliding_scratch(
        dims[0] * dims[1] * dims[2], n_levels, n_angles
    )
    while b0 < corners.shape[0]:
        end, l1 = begin_run(src, corners, voxels, b0, dims, lut, glob)
        if n_angles * l1 * l1 > tables.shape[0]:
            tables = np.zeros(n_angles * l1 * l1, np.int32)
        for b in range(b0, end):
            s = 0 if b == b0 else _step(voxels, b, dims[2])
            slid += s != 0
            n_present = count_row(
                src, corners, b, s, dims, geom, steps, lut, tables, l1, hist, present, local, cells
            )
            for a in range(n_angles):
                n = list_entries(tables, a * l1 * l1, l1, present, n_present, symmetric, ei, ej, ec)
                block = (b * n_angles + a) * g1
                for x in range(n):
                    codes[e] = (block + glob[ei[x]]) * g1 + glob[ej[x]]
                    counts[e] = ec[x]
                    e += 1
        end_run(tables, n_angles, l1, hist, lut, glob)
        b0 = end
    return e, slid


def compiled_pair_counts(
    batch: KernelBatch, angles: torch.Tensor, symmetric: bool, slide: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sparse_pair_counts` by the compiled CPU backend, for a CPU ``batch`` with its kernels gathered: the
    same integers, bit for bit (``tests/radiomics/test_glcm_counting.py``). With ``slide`` the kernels of target
    voxels that follow each other along x are slid (:func:`count_row`) instead of counted afresh."""
    layout = kernel_layout(replace(batch, volume=None), angles, slide)
    bound = int((batch.levels != 0).sum()) * len(angles) * (2 if symmetric else 1)
    codes, counts = np.empty(bound, dtype=np.int64), np.empty(bound, dtype=np.int64)
    n, _ = _pair_entries(*layout, symmetric, batch.n_levels, codes, counts)
    return torch.from_numpy(codes[:n]), torch.from_numpy(counts[:n])


def entries(
    batch: KernelBatch, backend: Backend, angles: torch.Tensor, symmetric: bool, settings: Mapping[str, Any]
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
    weights = angle_weights(angles, norm, settings).to(counts.device)
    merged = (block // len(angles)) * gg + codes % gg
    keys, where = torch.unique(merged, sorted=True, return_inverse=True)
    values = torch.zeros(len(keys), dtype=torch.float64, device=counts.device)
    return keys, values.index_add_(0, where, counts * weights[block % len(angles)]), 1


@jit_inline
def block_sums(
    ei: np.ndarray,
    ej: np.ndarray,
    ec: np.ndarray,
    n: int,
    l1: int,
    values: np.ndarray,
    ints: np.ndarray,
    needs: int,
    s: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    ep: np.ndarray,
    terms: np.ndarray,
    dense: np.ndarray,
    sk: np.ndarray,
    sq: np.ndarray,
    dk: np.ndarray,
    dq: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """The sums of one block that formulas share (PyRadiomics' coefficients), from its ``n`` entries (counts
    ``ec``): ``ep = p(i,j) = count / total``; ``px, py`` (summed in entry order, PyRadiomics' order, so Imc2's
    exact-independence test sees its bits); slots μ_x, μ_y; with :data:`NEEDS_LOGS` HXY, HX, HY (``p log2(p + ε)``
    computed once per small integer count, ``terms`` scratch); with :data:`NEEDS_K` the non-zero
    ``p_{x+y}(k)`` (k = 2..2N_g) and ``p_{x-y}(k)`` (k = 0..N_g-1) listed ascending (``dense`` zeroed scratch,
    left zeroed). ``values``/``ints`` are the float / integer grey-level values by level index."""
    symmetric = s[SYMMETRIC] != 0  # then p_y = p_x and μ_y = μ_x bit for bit: copied, not summed again
    total = 0.0
    for e in range(n):
        total += ec[e]
    px[:l1] = 0.0
    if not symmetric:
        py[:l1] = 0.0
    for e in range(n):
        p = ec[e] / total
        ep[e] = p
        px[ei[e]] += p
        if not symmetric:
            py[ej[e]] += p
    ux, uy = 0.0, 0.0
    for i in range(1, l1):
        ux += px[i] * values[i]
        if not symmetric:
            uy += py[i] * values[i]
    if symmetric:
        py[:l1] = px[:l1]
        uy = ux
    s[UX], s[UY] = ux, uy
    if needs & NEEDS_LOGS:
        terms[:] = np.nan
        hxy = 0.0
        for e in range(n):
            c = int(ec[e])
            cached = c == ec[e] and c < terms.shape[0]
            term = terms[c] if cached else np.nan
            if term != term:  # not cached (NaN)
                term = ep[e] * math.log2(ep[e] + EPS)
                if cached:
                    terms[c] = term
            hxy -= term
        hx, hy = 0.0, 0.0
        for i in range(1, l1):
            hx -= px[i] * math.log2(px[i] + EPS)
            if not symmetric:
                hy -= py[i] * math.log2(py[i] + EPS)
        if symmetric:
            hy = hx
        s[HXY], s[HX], s[HY] = hxy, hx, hy
    if needs & NEEDS_K:
        n_g = int(s[N_G])
        diff = dense[2 * n_g + 1 :]
        for e in range(n):
            vi, vj = ints[ei[e]], ints[ej[e]]
            dense[vi + vj] += ep[e]
            diff[abs(vi - vj)] += ep[e]
        m = 0
        for k in range(2, 2 * n_g + 1):
            if dense[k] != 0:
                sk[m], sq[m], dense[k] = k, dense[k], 0.0
                m += 1
        s[N_SUM] = m
        m = 0
        for k in range(n_g):
            if diff[k] != 0:
                dk[m], dq[m], diff[k] = k, diff[k], 0.0
                m += 1
        s[N_DIFF] = m
