"""Compiled NGTDM / GLDM neighbourhood counting for kernels on the CPU (private to :mod:`pdacrad.radiomics.ngtdm`
and :mod:`pdacrad.radiomics.gldm`).

Both families' fast paths (distance 1) work from image-level volumes, one per kernel *truncation class* (see
:func:`pdacrad.radiomics.counting.common.truncation_classes`): NGTDM's ``|i - Ā|`` and GLDM's dependent-neighbour
count of every cell, as seen from inside any kernel whose cube cuts the cell's neighbourhood that way. Here both are
built in one pass over the ROI cells (cells of level index > 0): each cell reads its 3×3×3 block once and sums it
separably (x, then y, then z) into the sums of every per-axis class (low face ``{0, +1}``, inside ``{-1, 0, +1}``,
high face ``{-1, 0}``, flat ``{0}``). The torch path (:func:`pdacrad.radiomics.ngtdm.volume_tones`,
:func:`pdacrad.radiomics.gldm.volume_dependence`, kept for CUDA) does the same with whole-volume shifted sums.
Cells outside the ROI are left 0 here (the torch path fills them with values no kernel reads: a kernel only
counts its cells of level > 0).

**Exact integers.** Grey levels are PyRadiomics' bin numbers (integers), so a cell with ``c`` neighbours whose
levels sum to ``S`` has ``|i - Ā| = |i·c - S| / c``, an integer multiple of ``1 / L`` with
``L = lcm(1..26)`` (:data:`NEIGHBOURS_LCM`). The NGTDM class volumes hold ``|i·c - S| · L / c`` as int64 and
every kernel's ``s_i`` is an integer sum of them, divided by ``L`` once at the end: exact up to that one rounding
(PyRadiomics and the torch path round every cell's mean), and the same integers in any order of addition — which
is what lets kernels slide. GLDM's dependence counts are small integers anyway.

**Sliding.** The per-batch walk (:func:`_walk`) reads each target voxel's kernel cells (from the engine's padded
level volume, :attr:`~pdacrad.radiomics.kernel.KernelBatch.volume`, or from gathered kernel rows) and adds their
class values to the kernel's tables ``(n_i, s_i)`` (NGTDM) or ``P(i, j)`` (GLDM). When the target voxel is the
previous one moved ``t`` voxels along x (one scan line), its tables are the previous kernel's with x-slices taken
out and put in: the ``t`` slices that leave, and the two whose truncation class changes (the new low face was
inside, the old high face becomes inside), each removed with its old class and added with its new one —
``2·(t + 2)`` slices of ``(2r + 1)²`` cells instead of ``2r + 1`` slices, so it pays from kernelRadius 3 on
(:func:`slide_limit`). The integer tables equal a fresh count bit for bit
(``tests/radiomics/counting/test_neighbourhood_cpu.py``).
The kernels release the GIL (``nogil``), so the engine's CPU worker threads run them in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numba
import numpy as np
import torch

from pdacrad.radiomics._jit import jit, jit_inline
from pdacrad.radiomics.backend import COMPILED_BATCH, Backend, BatchCost, kernel_cost
from pdacrad.radiomics.counting import common
from pdacrad.radiomics.kernel import KernelBatch, kernel_reads, scan_step, volume_corners

NEIGHBOURS_LCM = math.lcm(*range(1, 27))
"""``lcm(1..26)`` = 26,771,144,400: ``|i - Ā| · NEIGHBOURS_LCM`` is an integer for any count of 1..26 neighbours
(the 26-neighbourhood) of integer grey levels."""


def integer_tones(grey_levels: torch.Tensor, n_cells: int) -> bool:
    """Whether the exact integer NGTDM path holds for these grey-level values and kernels of ``n_cells`` cells:
    integer values (PyRadiomics' bin numbers always are) whose kernel sums of ``|i·c - S| · L / c`` fit in int64."""
    grey = grey_levels.detach().cpu().to(torch.float64)
    if grey.numel() == 0:
        return True
    integral = bool(torch.all(grey == grey.round()))
    largest = float(grey.abs().max())
    return integral and 2 * largest * NEIGHBOURS_LCM * max(1, n_cells) < 2**62


@numba.njit(cache=True, nogil=True, inline="always")
def _axis_sum(below: float, centre: float, above: float, cls: int) -> float:  # pragma: no cover - compiled
    """Sum of one axis' three cells (steps -1, 0, +1) allowed by per-axis truncation class ``cls``
    (``counting.common.TRUNCATED_STEPS``: 0 low face, 1 inside, 2 high face, 3 flat)."""
    total = centre
    if cls == 1 or cls == 2:
        total += below
    if cls == 0 or cls == 1:
        total += above
    return total


@jit
def _class_sums(
    block: np.ndarray, keys: np.ndarray, sx: np.ndarray, sxy: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Sum of the ``(3, 3, 3)`` ``block`` (steps -1..1 along z, y, x) over the neighbourhood of each class of
    ``keys`` ``(C, 3)`` (per-axis classes z, y, x) to ``out`` ``(C,)``, the centre included; ``sx`` ``(4, 3, 3)``
    and ``sxy`` ``(4, 4, 3)`` are scratch (the partial sums along x, then y)."""
    for a in range(4):
        for zi in range(3):
            for yi in range(3):
                sx[a, zi, yi] = _axis_sum(block[zi, yi, 0], block[zi, yi, 1], block[zi, yi, 2], a)
    for a in range(4):
        for b in range(4):
            for zi in range(3):
                sxy[b, a, zi] = _axis_sum(sx[a, zi, 0], sx[a, zi, 1], sx[a, zi, 2], b)
    for c in range(keys.shape[0]):
        kz, ky, kx = keys[c, 0], keys[c, 1], keys[c, 2]
        out[c] = _axis_sum(sxy[ky, kx, 0], sxy[ky, kx, 1], sxy[ky, kx, 2], kz)


@jit
def _tones(
    levels: np.ndarray, values: np.ndarray, keys: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    """NGTDM ``|i - Ā| · L`` per class as exact integers: ``levels`` ``(Z + 2, Y + 2, X + 2)`` level indices with a
    border of 0, ``values`` ``(G + 1,)`` int64 grey-level values by index, ``out`` ``(C, Z, Y, X)`` int64 zeroed
    (0 for cells without neighbours)."""
    nz, ny, nx = levels.shape
    inside = np.zeros((3, 3, 3))
    total = np.zeros((3, 3, 3))
    counts = np.empty(keys.shape[0])
    sums = np.empty(keys.shape[0])
    sx, sxy = np.empty((4, 3, 3)), np.empty((4, 4, 3))
    for z in range(1, nz - 1):
        for y in range(1, ny - 1):
            for x in range(1, nx - 1):
                level = levels[z, y, x]
                if level == 0:
                    continue
                for dz in range(3):
                    for dy in range(3):
                        for dx in range(3):
                            other = levels[z + dz - 1, y + dy - 1, x + dx - 1]
                            inside[dz, dy, dx] = 1.0 if other > 0 else 0.0
                            total[dz, dy, dx] = values[other]  # integers: float sums of them are exact
                _class_sums(inside, keys, sx, sxy, counts)
                _class_sums(total, keys, sx, sxy, sums)
                value = values[level]
                for c in range(keys.shape[0]):
                    count = np.int64(counts[c]) - 1  # the centre is not its own neighbour
                    if count > 0:
                        neighbours = np.int64(sums[c]) - value
                        out[c, z - 1, y - 1, x - 1] = abs(value * count - neighbours) * (
                            NEIGHBOURS_LCM // count
                        )


@jit
def _dependence(
    levels: np.ndarray, values: np.ndarray, alpha: np.ndarray, keys: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """GLDM dependent-neighbour counts per class: ``levels`` as :func:`_tones`, ``values`` ``(G + 1,)`` and
    ``alpha`` ``(1,)`` in the batch dtype (torch compares ``|i - j| <= alpha`` in it), ``out`` ``(C, Z, Y, X)``
    int8 zeroed."""
    nz, ny, nx = levels.shape
    depends = np.zeros((3, 3, 3))
    counts = np.empty(keys.shape[0])
    sx, sxy = np.empty((4, 3, 3)), np.empty((4, 4, 3))
    limit = alpha[0]
    for z in range(1, nz - 1):
        for y in range(1, ny - 1):
            for x in range(1, nx - 1):
                level = levels[z, y, x]
                if level == 0:
                    continue
                value = values[level]
                for dz in range(3):
                    for dy in range(3):
                        for dx in range(3):
                            other = levels[z + dz - 1, y + dy - 1, x + dx - 1]
                            near = other > 0 and abs(values[other] - value) <= limit
                            depends[dz, dy, dx] = 1.0 if near else 0.0
                depends[1, 1, 1] = 0.0  # the centre is not its own neighbour
                _class_sums(depends, keys, sx, sxy, counts)
                for c in range(keys.shape[0]):
                    out[c, z - 1, y - 1, x - 1] = np.int8(counts[c])


def _class_volume_inputs(
    level_index: torch.Tensor, offsets: torch.Tensor, radius: int
) -> tuple[np.ndarray, np.ndarray, torch.Tensor, tuple[int, ...]]:
    """Padded levels (``radius + 1``: a border of 0 around the kernels' ``radius`` padding), the class keys
    ``(C, 3)``, each kernel cell's class index ``(K,)`` and the ``(C, Z', Y', X')`` output shape (padding
    ``radius``)."""
    keys, cell_class = torch.unique(common.truncation_classes(offsets.cpu()), dim=0, return_inverse=True)
    levels = np.pad(level_index.cpu().numpy(), radius + 1)
    shape = (keys.shape[0], *(n - 2 for n in levels.shape))
    return levels, keys.numpy().astype(np.int64), cell_class, shape


def volume_tones(
    level_index: torch.Tensor, grey_levels: torch.Tensor, offsets: torch.Tensor, radius: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(numerators, cell_class)``: :class:`pdacrad.radiomics.ngtdm.VolumeTones`' ``|i - Ā| · NEIGHBOURS_LCM``
    per class as int64 (padding ``radius``) for the CPU ``(z, y, x)`` level-index volume, 0 outside the ROI. The
    grey levels must pass :func:`integer_tones`."""
    levels, keys, cell_class, shape = _class_volume_inputs(level_index, offsets, radius)
    values = common.level_values(grey_levels.detach().cpu().to(torch.float64)).round().to(torch.int64).numpy()
    out = np.zeros(shape, dtype=np.int64)
    _tones(levels, values, keys, out)
    return torch.from_numpy(out), cell_class


def volume_dependence(
    level_index: torch.Tensor, grey_levels: torch.Tensor, offsets: torch.Tensor, radius: int, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dependent, cell_class)`` of :class:`pdacrad.radiomics.gldm.VolumeDependence` (padding ``radius``) for
    the CPU ``(z, y, x)`` level-index volume, 0 outside the ROI."""
    levels, keys, cell_class, shape = _class_volume_inputs(level_index, offsets, radius)
    values = common.level_values(grey_levels.cpu()).numpy()
    out = np.zeros(shape, dtype=np.int8)
    _dependence(levels, values, np.array([alpha], dtype=values.dtype), keys, out)
    return torch.from_numpy(out), cell_class


def slide_limit(x_extent: int) -> int:
    """The longest x step a kernel of ``x_extent`` x-slices slides rather than counts afresh: a step of ``t``
    updates ``2·(t + 2)`` slices, so it pays while that is fewer than ``x_extent`` (none below kernelRadius 3)."""
    return max(0, (x_extent - 5) // 2)


@jit_inline
def _tally(
    src: np.ndarray,
    at: int,
    vat: int,
    dims: np.ndarray,
    cell_class: np.ndarray,
    data: np.ndarray,
    x0: int,
    x1: int,
    sign: int,
    n: np.ndarray,
    s: np.ndarray,
    width: int,
) -> None:  # pragma: no cover - compiled
    """Add (``sign`` 1) or take out (-1) the cells of x-index ``x0 <= x < x1`` of the kernel read at ``src[at]``
    whose class values sit at ``data[class · size + vat]`` (``dims``: see :func:`_walk`). NGTDM (``width`` 0):
    ``n[i] += sign``, ``s[i] += sign · value``; GLDM (``width`` = dependence bins):
    ``n[i · width + value] += sign``."""
    ey, ex, sz, sy, vsz, vsy, size = dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], dims[7]
    for z in range(dims[0]):
        for y in range(ey):
            line, vline, row = at + z * sz + y * sy, vat + z * vsz + y * vsy, (z * ey + y) * ex
            for x in range(x0, x1):
                lv = src[line + x]
                if lv != 0:
                    value = data[cell_class[row + x] * size + vline + x]
                    if width == 0:
                        n[lv] += sign
                        s[lv] += sign * value
                    else:
                        n[lv * width + int(value)] += sign


@jit
def _walk(
    src: np.ndarray,
    corners: np.ndarray,
    vcorners: np.ndarray,
    voxels: np.ndarray,
    dims: np.ndarray,
    cell_class: np.ndarray,
    data: np.ndarray,
    limit: int,
    width: int,
    n: np.ndarray,
    s: np.ndarray,
    n_out: np.ndarray,
    s_out: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Tables of every target ``b``'s kernel into row ``b`` of ``n_out`` (and ``s_out``, NGTDM), level 0 left out
    (``n``, ``s``: the running tables, one level row longer); returns how many kernels were slid.

    Kernel cell ``(z, y, x)`` of target ``b`` is ``src[corners[b] + z·sz + y·sy + x]`` and its class value
    ``data[class · size + vcorners[b] + z·vsz + y·vsy + x]``, ``dims`` int64 ``(ez, ey, ex, sz, sy, vsz, vsy,
    size)``; ``width`` as :func:`_tally`; steps up to ``limit`` slide
    (:func:`~pdacrad.radiomics.kernel.scan_step`)."""
    ex = dims[2]
    rows = max(width, 1)
    slid = 0
    for b in range(corners.shape[0]):
        t = scan_step(voxels, b, limit)
        if t == 0:
            n[:] = 0
            s[:] = 0
            _tally(src, corners[b], vcorners[b], dims, cell_class, data, 0, ex, 1, n, s, width)
        else:
            slid += 1
            prev, vprev = corners[b - 1], vcorners[b - 1]
            _tally(src, prev, vprev, dims, cell_class, data, 0, t + 1, -1, n, s, width)
            _tally(src, prev, vprev, dims, cell_class, data, ex - 1, ex, -1, n, s, width)
            _tally(src, corners[b], vcorners[b], dims, cell_class, data, 0, 1, 1, n, s, width)
            _tally(src, corners[b], vcorners[b], dims, cell_class, data, ex - 1 - t, ex, 1, n, s, width)
        n_out[b] = n[rows:]
        if width == 0:
            s_out[b] = s[rows:]
    return slid


def walk(
    batch: KernelBatch, data: torch.Tensor, cell_class: torch.Tensor, width: int, slide: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(n, s, slid)``: the tables of the CPU kernels of ``batch`` from the class volumes ``data``
    ``(C, Z', Y', X')`` (padded like :attr:`KernelBatch.volume`): NGTDM (``width`` 0) ``n`` int64 and ``s`` of
    ``data``'s dtype, ``(B, G)``; GLDM ``n`` ``(B, G · width)`` (``s`` empty). The kernels are read from the
    padded level volume when the batch carries it, else from its gathered rows; they slide along scan lines when
    ``slide`` and the tables are integers (float ``s`` sums are not the same in every order of addition), else
    each is counted afresh (the reference the tests compare with)."""
    assert batch.voxels is not None
    _, nz, ny, nx = data.shape
    from_volume = batch.volume is not None and (slide or batch.levels.shape[1] == 0)
    assert batch.volume is None or tuple(batch.volume.shape) == (nz, ny, nx)
    src, corners, reads = kernel_reads(batch, from_volume)
    vcorners = volume_corners(batch, (nz, ny, nx))
    dims = np.concatenate([reads, [ny * nx, nx, nz * ny * nx]])
    flat = data.contiguous().reshape(-1).numpy()
    g, rows = batch.n_levels, max(width, 1)
    n = np.zeros((batch.n_voxels, g * rows), dtype=np.int64)
    sums = flat.dtype if width == 0 else np.dtype(np.int64)
    s = np.zeros((batch.n_voxels, g if width == 0 else 0), dtype=sums)
    tables = np.zeros((g + 1) * rows, dtype=np.int64), np.zeros(g + 1, dtype=sums)
    voxels = batch.voxels.cpu().to(torch.int64).contiguous().numpy()
    exact = not np.issubdtype(flat.dtype, np.floating)
    limit = slide_limit(int(dims[2])) if slide and exact else 0
    cells = cell_class.cpu().numpy()
    slid = _walk(src, corners, vcorners, voxels, dims, cells, flat, limit, width, *tables, n, s)
    return n, s, int(slid)


def needs_kernels(backend: Backend, features: Sequence[str], settings: Mapping[str, Any]) -> bool:
    """Whether a GLDM or NGTDM ``compute`` reads the batch's gathered kernels: not on the compiled backend at
    distance 1 (:func:`walk` reads the engine's padded level volume)."""
    return not (backend.compiled and common.setting_distances(settings) == [1])


def batch_cost(backend: Backend, n_cells: int, n_levels: int, gathers: bool) -> BatchCost:
    """Memory per voxel of a GLDM or NGTDM batch on ``backend``. Without gathered kernels (``gathers`` False: the
    compiled walk reads the padded level volume) a batch holds its output tables, up to
    :data:`~pdacrad.radiomics.backend.COMPILED_BATCH` voxels (long batches keep scan lines whole for sliding). The
    compiled walk over gathered ``(B, K)`` int64 levels ran 1.7× faster at kernelRadius 5 with batches whose
    levels stay within ~4 MB (cache) than with one batch of the ROI (measured, 3,315 voxels: ~500 vs 3,315 per
    batch; at kernelRadius 2 the 2,048 cap is as fast)."""
    if backend.compiled and not gathers:  # the int64 output tables: at most GLDM's 27 bins + 1 per level
        return BatchCost(8 * (n_levels + 1) * 28, COMPILED_BATCH)
    if backend.compiled:
        return BatchCost(
            kernel_cost(n_cells, n_levels), min(max(1, 4 * 2**20 // (8 * n_cells)), COMPILED_BATCH)
        )
    return BatchCost(kernel_cost(n_cells, n_levels))
