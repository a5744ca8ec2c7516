"""Compiled GLRLM run counting for kernels on the CPU (private to :mod:`pdacrad.radiomics.glrlm`).

Each kernel row is walked line by line along every angle: the kernel cube's cells are listed once per angle in
*run order* (line after line, each line in step order along the angle and closed by a sentinel cell of level 0;
:func:`line_order`), and one pass over that list counts every maximal run of equal non-zero levels where it
ends: the same runs that :func:`pdacrad.radiomics.glrlm._angle_matrix` (line tracing) and
:func:`pdacrad.radiomics.counting.runs.run_counts` (volume-level run lengths, the torch path used on CUDA) count.
PyRadiomics' "empty angle" rule (no line holds two ROI cells) zeroes an angle's counts; a run longer than one
cell already proves it false, so the lines are walked a second time only for kernels without one.

Work is ``O(A·K)`` integer steps per kernel on its ``(K,)`` row (copied from the engine's padded level volume, in
cache): ~1.5 ns a step where runs are long (the paper's LBP image), ~3.5 ns on noise (mispredicted branches); no
``(B, K)`` temporaries and no image-level run volumes. The kernel releases the GIL (``nogil``), so the engine's
CPU worker threads run it in parallel. The integers are those of the torch paths, bit for bit
(``tests/radiomics/counting/test_runs_cpu.py``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from pdacrad.radiomics._jit import jit
from pdacrad.radiomics.counting import common
from pdacrad.radiomics.kernel import KernelBatch, copy_kernel, grid_extent, kernel_reads


def line_order(offsets: torch.Tensor, angles: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Run order of the kernel's cells along each angle.

    ``offsets`` is the kernel's ``(K, 3)`` (z, y, x) offsets (a full grid in C order), ``angles`` ``(A, 3)``.
    Returns ``order`` ``(A, S)`` int32: per angle the cell indices line after line, each line in step order and
    followed by the sentinel ``K`` (a cell of level 0 that ends the line's last run), padded with ``K`` to the
    longest angle's ``S``; and ``lengths`` ``(A,)`` int64, the longest line per angle in cells (the run-length
    axis ``J`` of that angle's matrix). Read-only, shared between calls.
    """
    key = tuple(tuple(int(v) for v in a) for a in angles.tolist())
    return _line_order_in_grid(grid_extent(offsets), key)


@lru_cache(maxsize=32)
def _line_order_in_grid(
    extent: tuple[int, ...], angles: tuple[tuple[int, ...], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`line_order` of a ``ez × ey × ex`` grid kernel (computed once per shape and angle set)."""
    cells = torch.from_numpy(np.indices(extent).reshape(3, -1).T.copy())  # (K, 3) grid positions, C order
    k = cells.shape[0]
    forward = torch.tensor(angles, dtype=torch.int64).reshape(-1, 3)
    table = common.grid_neighbour_table(cells, torch.cat([forward, -forward]))  # K: outside the kernel
    sequences, lengths = [], []
    for a in range(len(angles)):
        step, back = table[a].tolist(), table[len(angles) + a].tolist()
        seq, longest = [], 0
        for first in (c for c in range(k) if back[c] == k):
            cell, n = first, 0
            while cell < k:
                seq.append(cell)
                n, cell = n + 1, step[cell]
            seq.append(k)
            longest = max(longest, n)
        sequences.append(seq)
        lengths.append(longest)
    order = np.full((len(angles), max((len(q) for q in sequences), default=0)), k, dtype=np.int32)
    for a, seq in enumerate(sequences):
        order[a, : len(seq)] = seq
    out = order, np.array(lengths, dtype=np.int64)
    for table in out:
        table.flags.writeable = False
    return out


@jit
def _count_runs(
    src: np.ndarray,
    corners: np.ndarray,
    dims: np.ndarray,
    order: np.ndarray,
    by_level: bool,
    counts: np.ndarray,
) -> None:  # pragma: no cover - compiled; covered through run_counts
    """Add each kernel's runs to ``counts`` ``(A, B, G, J)`` (zeroed; ``G = 1`` unless ``by_level``): a run of level
    index ``g`` and length ``j`` -> ``counts[a, b, g - 1, j - 1]``. Angles with no line of two ROI cells are
    zeroed. Cell ``(z, y, x)`` of kernel ``b`` is ``src[corners[b] + z·sz + y·sy + x]``, ``dims`` ``(ez, ey, ex,
    sz, sy)``."""
    k = dims[0] * dims[1] * dims[2]
    n_angles, n_steps = order.shape
    row = np.zeros(k + 1, dtype=src.dtype)  # slot K, the line-end sentinel, keeps level 0
    for b in range(corners.shape[0]):
        copy_kernel(src, corners[b], dims, row)
        for a in range(n_angles):
            out = counts[a, b]
            prev = 0  # level of the run being walked (0: none)
            length = 0
            for p in range(n_steps):
                level = row[order[a, p]]
                if level != prev:  # the run of `prev` ended at the previous cell
                    if prev != 0:
                        out[prev - 1 if by_level else 0, length - 1] += 1
                    prev, length = level, 1
                else:
                    length += 1
            if not _holds_two(out, row, order[a]):
                out[:] = 0


@jit
def _holds_two(
    counts: np.ndarray, row: np.ndarray, order: np.ndarray
) -> bool:  # pragma: no cover - compiled; covered through run_counts
    """Whether a line of ``order`` (one angle's run order) holds two ROI cells of ``row``: surely so when a run
    of ``counts`` ``(G, J)`` is longer than 1 cell (the usual case, no second walk), else walk the lines.
    False makes the angle *empty* (PyRadiomics' "segmentation is 2D for this angle")."""
    if counts[:, 1:].any():
        return True
    k = row.shape[0] - 1
    in_line = 0  # ROI cells seen in the current line
    for cell in order:
        in_line = 0 if cell == k else in_line + (row[cell] != 0)
        if in_line > 1:
            return True
    return False


def run_counts(batch: KernelBatch, angles: torch.Tensor, by_level: bool = True) -> list[torch.Tensor]:
    """Per angle, the ``(B, G, J_a)`` integer run counts of the CPU kernels of ``batch`` (read from the padded level
    volume when the batch carries it and gathered none, as on the compiled backend, else from its gathered rows):
    grey-level index ``1..G`` × run length ``1..J_a`` (``J_a`` the longest line along angle ``a``), zero where the
    angle is empty. ``G = 1`` (levels merged) with ``by_level=False``. The same integers as
    ``glrlm._angle_matrix`` and ``runs.run_counts`` before their cast to float; views into one ``(A, B, G, J)``
    array of int16 (a count never exceeds ``K``; int32 for kernels of 2**15 cells or more): ``2·A·G·J`` bytes per
    kernel, e.g. 2.1 kB at r = 2 and G = 16, where the torch volume path holds ~60 bytes per ROI cell of the
    kernel (7.5 kB at r = 2)."""
    order, lengths = line_order(batch.offsets.cpu(), angles.cpu())
    k = len(batch.offsets)
    src, corners, dims = kernel_reads(batch, batch.volume is not None and batch.levels.shape[1] == 0)
    n_codes = batch.n_levels if by_level else 1
    dtype = np.int16 if k < 2**15 else np.int32
    counts = np.zeros((order.shape[0], batch.n_voxels, n_codes, int(lengths.max(initial=0))), dtype)
    _count_runs(src, corners, dims, order, by_level, counts)
    out = torch.from_numpy(counts)
    return [out[a, :, :, : int(n)] for a, n in enumerate(lengths)]
