"""The GLCM family's compiled CPU counting: per-angle count tables over a run's own levels, in cache, *slid* from
one target voxel's kernel to the next along a scan line (:func:`begin_run`, :func:`count_row`,
:func:`list_entries`; used by :func:`compiled_pair_counts` and by the fused driver
:func:`~pdacrad.radiomics.glcm.drivers.fused_features`); the same integers as the torch counting of
:mod:`~pdacrad.radiomics.glcm.counting`, bit for bit.

Sliding by one voxel along x, the box of the cells ``p`` whose pair ``(p, p + a)`` lies in the kernel loses one
x-slice and gains one: ``2 (2r+1)²`` pair updates per angle instead of ``(2r+1)³``. A kernel's table keeps zero rows
for levels it lacks (PyRadiomics removes absent levels per ROI, not per kernel), and entries are listed in ascending
level order, so the formulas see exactly the per-kernel tables' entries.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from pdacrad.radiomics._jit import jit, jit_inline
from pdacrad.radiomics.counting import common
from pdacrad.radiomics.kernel import KernelBatch, grid_extent, kernel_reads, scan_step

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
    ext = grid_extent(batch.offsets)
    vox = batch.voxels if slide else None
    src, corners, dims = kernel_reads(batch, vox is not None and batch.volume is not None)
    sz, sy = int(dims[3]), int(dims[4])
    geom = np.zeros((len(angles), 7), dtype=np.int64)
    for row, a in enumerate(angles.tolist()):
        for d in range(3):
            geom[row, 2 * d], geom[row, 2 * d + 1] = max(0, -a[d]), ext[d] - 1 - max(0, a[d])
        geom[row, 6] = a[0] * sz + a[1] * sy + a[2]
    voxels = np.zeros((0, 3), np.int64) if vox is None else vox.cpu().to(torch.int64).contiguous().numpy()
    steps = common.grid_neighbour_table(batch.offsets, angles)
    return src, corners, voxels, dims, geom, steps


@jit_inline
def slide_limit(x_extent: int) -> int:  # pragma: no cover - compiled
    """The longest x step a GLCM kernel of ``x_extent`` x-slices slides rather than counts afresh: a step of ``s``
    changes ``2 s`` of its x-slices (``s`` leave, ``s`` enter), so it pays while ``2 s < x_extent``."""
    return (x_extent - 1) // 2


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
    line (:func:`~pdacrad.radiomics.kernel.scan_step` within :func:`slide_limit`) until the run holds
    :data:`LEVEL_CAP` levels; renumber the levels present in their union to ``1..L`` ascending (``lut`` ``(G + 1,)``
    global → run-local, zero on entry; ``glob`` run-local → global). The union is kernel ``b0`` and the entering
    x-slices of each later one. Returns ``(end, L + 1)``."""
    n = _mark(src, corners[b0], dims, 0, lut, glob, 0)
    end = b0 + 1
    while end < corners.shape[0] and n < LEVEL_CAP:
        s = scan_step(voxels, end, slide_limit(dims[2]))
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
    present in the kernel, ascending, in ``present``; returns how many. ``steps`` ``(A, K)`` the kernel grid's
    neighbour table (:func:`~pdacrad.radiomics.counting.common.grid_neighbour_table`); ``local``, ``cells``
    scratch."""
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
            s = 0 if b == b0 else scan_step(voxels, b, slide_limit(dims[2]))
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
    """:func:`~pdacrad.radiomics.glcm.counting.sparse_pair_counts` by the compiled CPU backend, for a CPU ``batch``
    with its kernels gathered: the same integers, bit for bit (``tests/radiomics/test_glcm_counting.py``). With
    ``slide`` the kernels of target voxels that follow each other along x are slid (:func:`count_row`) instead of
    counted afresh."""
    layout = kernel_layout(replace(batch, volume=None), angles, slide)
    bound = int((batch.levels != 0).sum()) * len(angles) * (2 if symmetric else 1)
    codes, counts = np.empty(bound, dtype=np.int64), np.empty(bound, dtype=np.int64)
    n, _ = _pair_entries(*layout, symmetric, batch.n_levels, codes, counts)
    return torch.from_numpy(codes[:n]), torch.from_numpy(counts[:n])
