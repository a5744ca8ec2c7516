"""Compiled GLCM counting and features for kernels on the CPU (private to :mod:`pdacrad.radiomics.glcm`).

Each kernel row is renumbered to its own levels ``1..L`` (ascending, as :func:`~pdacrad.radiomics.cooccurrence.
local_levels`), then, angle by angle, its ROI cells are paired with their neighbour along the angle into one small
``(L+1)²`` count table (in cache; the torch path bincounts ``B·A·(L+1)²`` entries at once). A scan of the table in
``(i, j)`` order gives the non-zero entries in the order of :func:`~pdacrad.radiomics.cooccurrence.
sparse_pair_counts`, zeroing the table for the next angle. From there either

- :func:`sparse_pair_counts` writes the entries out (the same integers as the torch path, bit for bit;
  ``tests/radiomics/test_glcm_cpu.py``), or
- :func:`features` evaluates the features of the symmetrical GLCM (all but MCC) directly from the entries, with the
  formulas, symbols and branch rules of :mod:`pdacrad.radiomics.glcm` and, for Correlation, Joint Entropy, Imc1
  and Imc2, of :mod:`pdacrad.radiomics.glcm_sparse` (whose docstrings are the specification), and averages the
  angles (``nanmean``; Joint Average a plain mean). ``p_x(i)`` is summed over ``j`` in the torch path's entry
  order, so Imc2's exact-independence test sees the same bits; the other sums run in another order than torch's
  vectorised reductions, so the floats agree to rounding (~1e-15 relative; more near 0 for sums that cancel).

:func:`pair_counts` counts the dense ``(B, A, G, G)`` matrices (for MCC) the same way.
Work is ``O(A·M)`` table increments plus ``O(A·L²)`` table reads per kernel of ``M`` ROI cells; no ``(B, K, A)``
temporaries and no ``G × G`` matrices. The kernels release the GIL (``nogil``), so the engine's CPU worker threads
run them in parallel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
import torch

from pdacrad.radiomics import _families_common as common

EPS = float(np.finfo(np.float64).eps)
SPARSE_FEATURES = ("Correlation", "JointEntropy", "Imc1", "Imc2")
"""The features of the sparse path (:mod:`pdacrad.radiomics.glcm_sparse`): sums over the non-zero entries."""
FEATURES = (
    *SPARSE_FEATURES,
    *("Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast"),
    *("JointEnergy", "MaximumProbability", "SumSquares", "SumAverage", "SumEntropy", "DifferenceAverage"),
    *("DifferenceEntropy", "DifferenceVariance", "Idm", "Idmn", "Id", "Idn", "InverseVariance"),
)
"""Every feature :func:`features` evaluates (all of :mod:`pdacrad.radiomics.glcm` but MCC), in its column order."""
_EPS_OVER_LN2 = EPS / math.log(2.0)


def neighbours(offsets: torch.Tensor, angles: torch.Tensor) -> np.ndarray:
    """``(A, K)`` int32: for angle ``a`` and kernel cell ``k``, the index of cell ``k + a``, or ``K`` (a slot that
    always reads level 0) where it leaves the kernel. ``offsets`` ``(K, 3)`` are the kernel's (z, y, x) offsets, a
    full grid in C order, ``angles`` ``(A, 3)``. Read-only, cached per kernel shape and angle set
    (:func:`~pdacrad.radiomics._families_common.grid_neighbour_table`)."""
    return common.grid_neighbour_table(offsets, angles)


@numba.njit(cache=False, nogil=True)
def _renumber(
    levels: np.ndarray, present: np.ndarray, local: np.ndarray, glob: np.ndarray, cells: np.ndarray
) -> tuple[int, int]:  # pragma: no cover - compiled; covered through the public functions
    """Renumber one kernel row ``levels`` ``(K,)`` (global level indices, 0 = not in the kernel) to ``1..L``:
    ``local[k]`` the local level of cell ``k`` (``local[K]`` stays 0), ``glob[l]`` the global index of local ``l``,
    ``cells[:M]`` the cells inside the kernel. ``present`` ``(G + 1,)`` is zeroed scratch, left zeroed. Returns
    ``(L, M)``."""
    k = levels.shape[0]
    m = 0
    for c in range(k):
        g = levels[c]
        if g != 0:
            present[g] = 1
            cells[m] = c
            m += 1
    n = 0
    for g in range(1, present.shape[0]):
        if present[g]:
            n += 1
            present[g] = n
            glob[n] = g
    for c in range(k):
        local[c] = present[levels[c]]  # present[0] stays 0
    for lv in range(1, n + 1):
        present[glob[lv]] = 0
    return n, m


@numba.njit(cache=False, nogil=True)
def _count_angle(
    local: np.ndarray, cells: np.ndarray, m: int, step: np.ndarray, table: np.ndarray, l1: int
) -> None:  # pragma: no cover - compiled; covered through the public functions
    """Add the pairs ``(c, step[c])`` of the first ``m`` ``cells`` to the flat ``(l1, l1)`` count ``table``
    (``P``, not symmetrised). A neighbour outside the kernel (local level 0) lands in column 0, which the scans
    skip: no branch on it (a third of the time of this loop on masked kernels, where it is unpredictable)."""
    for idx in range(m):
        c = cells[idx]
        table[local[c] * l1 + local[step[c]]] += 1


@numba.njit(cache=False, nogil=True)
def _table_entries(
    table: np.ndarray, l1: int, symmetric: bool, ei: np.ndarray, ej: np.ndarray, ec: np.ndarray
) -> int:  # pragma: no cover - compiled; covered through the public functions
    """The non-zero entries of ``P`` (``P + Pᵀ`` with ``symmetric``) in the flat ``(l1, l1)`` count ``table``, in
    ``(i, j)`` order: local levels to ``ei, ej``, counts to ``ec``; returns their number and zeroes the table."""
    n = 0
    for i in range(1, l1):
        for j in range(1, l1):
            c = table[i * l1 + j]
            if symmetric:
                c += table[j * l1 + i]
            if c != 0:
                ei[n] = i
                ej[n] = j
                ec[n] = c
                n += 1
    table[: l1 * l1] = 0
    return n


def _scratch(n_cells: int, n_levels: int) -> tuple[np.ndarray, ...]:
    """Per-call scratch of the compiled kernels: ``present`` (G+1), ``local`` (K+1), ``glob`` (L+1), ``cells``
    (K), ``table`` ((L+1)²) with ``L ≤ min(K, G)`` levels in one kernel, and one angle's entries ``ei, ej, ec``
    (at most two per pair: 2K)."""
    l1 = min(n_cells, n_levels) + 1
    return (
        np.zeros(n_levels + 1, dtype=np.int32),
        np.zeros(n_cells + 1, dtype=np.int32),
        np.zeros(l1, dtype=np.int64),
        np.zeros(n_cells, dtype=np.int32),
        np.zeros(l1 * l1, dtype=np.int32),
        np.zeros(2 * n_cells, dtype=np.int32),
        np.zeros(2 * n_cells, dtype=np.int32),
        np.zeros(2 * n_cells, dtype=np.int64),
    )


@numba.njit(cache=False, nogil=True)
def _sparse_counts(
    levels: np.ndarray,
    steps: np.ndarray,
    symmetric: bool,
    scratch: tuple[np.ndarray, ...],
    codes: np.ndarray,
    counts: np.ndarray,
) -> int:  # pragma: no cover - compiled; covered through sparse_pair_counts
    """Non-zero entries of every row's per-angle GLCM to ``codes``/``counts`` (ascending codes, see
    :func:`sparse_pair_counts`); returns their number."""
    present, local, glob, cells, table, ei, ej, ec = scratch
    n_angles = steps.shape[0]
    g1 = present.shape[0]
    e = 0
    for b in range(levels.shape[0]):
        n_local, m = _renumber(levels[b], present, local, glob, cells)
        l1 = n_local + 1
        for a in range(n_angles):
            _count_angle(local, cells, m, steps[a], table, l1)
            n = _table_entries(table, l1, symmetric, ei, ej, ec)
            base = (b * n_angles + a) * g1
            for x in range(n):
                codes[e] = (base + glob[ei[x]]) * g1 + glob[ej[x]]
                counts[e] = ec[x]
                e += 1
    return e


def sparse_pair_counts(
    levels: torch.Tensor, offsets: torch.Tensor, angles: torch.Tensor, n_levels: int, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`pdacrad.radiomics.cooccurrence.sparse_pair_counts` for CPU ``levels`` ``(B, K)`` (level indices
    ``1..G``, ``G = n_levels``, 0 outside the kernel): ``(codes, counts)``, both ``(E,)`` int64, codes
    ``((voxel * A + angle) * (G+1) + i) * (G+1) + j`` ascending; the same integers, bit for bit."""
    rows = levels.contiguous().numpy()
    k = rows.shape[1]
    steps = neighbours(offsets, angles)
    # Each angle has at most one entry per pair (two with symmetric): 16 bytes each, where the torch path holds
    # 4-8 bytes per pair and 8 per cell of a (B·A, L+1, L+1) bincount.
    bound = int((levels != 0).sum()) * steps.shape[0] * (2 if symmetric else 1)
    codes = np.empty(bound, dtype=np.int64)
    counts = np.empty(bound, dtype=np.int64)
    n = _sparse_counts(rows, steps, symmetric, _scratch(k, n_levels), codes, counts)
    return torch.from_numpy(codes[:n]), torch.from_numpy(counts[:n])


@numba.njit(cache=False, nogil=True)
def _dense_counts(
    levels: np.ndarray, steps: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled; covered through pair_counts
    """Add every row's pairs to ``out`` ``(B, A, G, G)`` (zeroed): a pair of level indices ``(i, j)`` along angle
    ``a`` -> ``out[b, a, i - 1, j - 1]``. Counted as in :func:`_count_angle`, into a ``(G+1)²`` table whose row
    and column 0 are dropped."""
    n_rows, k = levels.shape
    g1 = out.shape[2] + 1
    row = np.zeros(k + 1, dtype=np.int64)  # slot K (outside the kernel) keeps level 0
    cells = np.empty(k, dtype=np.int64)
    table = np.zeros((g1, g1), dtype=out.dtype)
    for b in range(n_rows):
        m = 0
        for c in range(k):
            row[c] = levels[b, c]
            if row[c] != 0:
                cells[m] = c
                m += 1
        for a in range(steps.shape[0]):
            step = steps[a]
            for idx in range(m):
                c = cells[idx]
                table[row[c], row[step[c]]] += 1
            out[b, a] = table[1:, 1:]
            table[:, :] = 0


def pair_counts(
    levels: torch.Tensor, offsets: torch.Tensor, angles: torch.Tensor, n_levels: int
) -> torch.Tensor:
    """:func:`pdacrad.radiomics.cooccurrence.pair_counts` for CPU ``levels`` ``(B, K)``: ``(B, A, G, G)`` integer
    counts (int32; not yet symmetrised), the same integers as the torch path before its cast to float. Holds
    4 bytes per matrix cell where the torch bincount holds 8 per cell of ``(G+1)²``."""
    rows = levels.contiguous().numpy()
    steps = neighbours(offsets, angles)
    out = np.zeros((rows.shape[0], steps.shape[0], n_levels, n_levels), dtype=np.int32)
    _dense_counts(rows, steps, out)
    return torch.from_numpy(out)


@numba.njit(cache=False, nogil=True)
def _probabilities(
    ei: np.ndarray, ec: np.ndarray, n: int, l1: int, px: np.ndarray, ep: np.ndarray
) -> None:  # pragma: no cover - compiled; covered through features
    """``ep[e] = p(i,j) = count / total`` of the ``n`` entries and ``px[i] = Σ_j p(i,j)``, summed in entry order
    (the torch path's ``index_add_`` order, so ``p_x`` has the same bits)."""
    total = 0
    for e in range(n):
        total += ec[e]
    px[:l1] = 0.0
    for e in range(n):
        p = ec[e] / total
        ep[e] = p
        px[ei[e]] += p


@numba.njit(cache=False, nogil=True)
def _correlation(
    l1: int, values: np.ndarray, px: np.ndarray, ei: np.ndarray, ej: np.ndarray, ep: np.ndarray, n: int
) -> float:  # pragma: no cover - compiled; covered through features
    """Correlation of one symmetrical block (μ_x = μ_y, σ_x = σ_y); 1 where σ_x σ_y = 0."""
    ux = 0.0
    for i in range(1, l1):
        ux += px[i] * values[i]
    var = 0.0
    for i in range(1, l1):
        d = values[i] - ux
        var += px[i] * (d * d)
    sig = math.sqrt(var)
    corm = 0.0
    for e in range(n):
        corm += ep[e] * (values[ei[e]] - ux) * (values[ej[e]] - ux)
    if sig * sig == 0:
        return 1.0
    return corm / (sig * sig + EPS)


@numba.njit(cache=False, nogil=True)
def _entropies(
    l1: int,
    px: np.ndarray,
    ei: np.ndarray,
    ej: np.ndarray,
    ep: np.ndarray,
    ec: np.ndarray,
    n: int,
    terms: np.ndarray,
    res: np.ndarray,
) -> None:  # pragma: no cover - compiled; covered through features
    """Joint Entropy, Imc1 and Imc2 of one symmetrical block (p_y = p_x) to ``res[1:4]``. ``p log2(p + ε)`` depends
    on the entry's count only (``p = count / total``): computed once per small count into ``terms`` (scratch), the
    same bits, about half the logarithms of a block."""
    terms[:] = np.nan
    hxy = 0.0
    for e in range(n):
        c = ec[e]
        term = terms[c] if c < terms.shape[0] else np.nan
        if term != term:  # not cached (NaN)
            term = ep[e] * math.log2(ep[e] + EPS)
            if c < terms.shape[0]:
                terms[c] = term
        hxy -= term
    hx, x_log, sx, nx = 0.0, 0.0, 0.0, 0
    for i in range(1, l1):
        x = px[i]
        hx -= x * math.log2(x + EPS)
        sx += x
        if x > 0:
            x_log += x * math.log2(x)
            nx += 1
    hxy1 = 0.0
    independent = n == nx * nx
    for e in range(n):
        q = px[ei[e]] * px[ej[e]]
        hxy1 -= ep[e] * math.log2(q + EPS)
        independent = independent and ep[e] == q
    res[1] = hxy
    res[2] = 0.0 if hx == 0 else (hxy - hxy1) / hx
    hxy2 = -(sx * x_log + sx * x_log) - (nx * nx) * _EPS_OVER_LN2
    res[3] = 0.0 if independent else math.sqrt(max(1.0 - math.exp(-2.0 * (hxy2 - hxy)), 0.0))


@numba.njit(cache=False, nogil=True)
def _matrix_sums(
    ei: np.ndarray, ej: np.ndarray, ep: np.ndarray, n: int, values: np.ndarray, ux: float, res: np.ndarray
) -> None:  # pragma: no cover - compiled; covered through features
    """Features that sum a function of ``(i, j)`` over the entries of a symmetrical block, to ``res[4:13]``
    (:data:`FEATURES` order; μ_x = μ_y = ``ux``)."""
    auto, t2, t3, t4, contrast, energy, top, squares = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for e in range(n):
        p, vi, vj = ep[e], values[ei[e]], values[ej[e]]
        auto += p * (vi * vj)
        centre = vi + vj - ux - ux
        c2 = centre * centre
        t2 += p * c2
        t3 += p * (c2 * centre)
        t4 += p * (c2 * c2)
        contrast += p * ((vi - vj) * (vi - vj))
        energy += p * p
        top = max(top, p)
        squares += p * ((vi - ux) * (vi - ux))
    for f, value in enumerate((auto, ux, t4, t3, t2, contrast, energy, top, squares)):
        res[4 + f] = value


@numba.njit(cache=False, nogil=True)
def _sum_diff_sums(
    ei: np.ndarray,
    ej: np.ndarray,
    ep: np.ndarray,
    n: int,
    index: np.ndarray,
    n_g: int,
    p_sum: np.ndarray,
    p_diff: np.ndarray,
    res: np.ndarray,
) -> None:  # pragma: no cover - compiled; covered through features
    """Features of p_{x+y}(k) (k = 2..2N_g) and p_{x-y}(k) (k = 0..N_g-1) to ``res[13:23]``; ``index`` the
    integer grey-level value of each local level, ``p_sum``/``p_diff`` zeroed scratch, left zeroed."""
    for e in range(n):
        vi, vj = index[ei[e]], index[ej[e]]
        p_sum[vi + vj] += ep[e]
        p_diff[abs(vi - vj)] += ep[e]
    average, entropy = 0.0, 0.0
    for k in range(2, 2 * n_g + 1):
        q = p_sum[k]
        if q != 0:
            average += k * q
            entropy -= q * math.log2(q + EPS)
            p_sum[k] = 0.0
    d_avg, d_ent, idm, idmn, inv, idn, inv_var = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for k in range(n_g):
        q = p_diff[k]
        if q != 0:
            d_avg += k * q
            d_ent -= q * math.log2(q + EPS)
            idm += q / (1 + k * k)
            idmn += q / (1 + (k * k) / (n_g * n_g))
            inv += q / (1 + k)
            idn += q / (1 + k / n_g)
            if k > 0:
                inv_var += q / (k * k)
    d_var = 0.0
    for k in range(n_g):
        if p_diff[k] != 0:
            d_var += p_diff[k] * ((k - d_avg) * (k - d_avg))
            p_diff[k] = 0.0
    for f, value in enumerate((average, entropy, d_avg, d_ent, d_var, idm, idmn, inv, idn, inv_var)):
        res[13 + f] = value


@numba.njit(cache=False, nogil=True)
def _features(
    levels: np.ndarray,
    steps: np.ndarray,
    grey: np.ndarray,
    index: np.ndarray,
    want: np.ndarray,
    scratch: tuple[np.ndarray, ...],
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled; covered through features
    """``out`` ``(B, F)``: the :data:`FEATURES` of each row (``F`` columns; those not in ``want`` left 0), mean over
    the angles with pairs (``nanmean``), NaN where none has one; Joint Average a plain mean (NaN as soon as one
    angle has no pair). ``grey``/``index`` ``(G + 1,)`` level values (float / integer) by global level index."""
    present, local, glob, cells, table, ei, ej, ec = scratch
    n_g = int(index.max())
    p_sum = np.zeros(2 * n_g + 1)
    p_diff = np.zeros(n_g + 1)
    values = np.zeros(glob.shape[0])
    ints = np.zeros(glob.shape[0], dtype=np.int64)
    px = np.zeros(glob.shape[0])
    ep = np.empty(ec.shape[0])
    n_f = out.shape[1]
    res = np.zeros(n_f)
    acc = np.zeros(n_f)
    terms = np.empty(64)
    logs = want[1] or want[2] or want[3]
    sums = want[4:13].any()
    sum_diff = want[13:].any()
    for b in range(levels.shape[0]):
        n_local, m = _renumber(levels[b], present, local, glob, cells)
        l1 = n_local + 1
        for lv in range(1, l1):
            values[lv] = grey[glob[lv]]
            ints[lv] = index[glob[lv]]
        acc[:] = 0.0
        n_valid = 0
        for a in range(steps.shape[0]):
            _count_angle(local, cells, m, steps[a], table, l1)
            n = _table_entries(table, l1, True, ei, ej, ec)
            if n == 0:
                continue  # no pair along this angle: NaN, left out of the nanmean
            _probabilities(ei, ec, n, l1, px, ep)
            if want[0]:
                res[0] = _correlation(l1, values, px, ei, ej, ep, n)
            if logs:
                _entropies(l1, px, ei, ej, ep, ec, n, terms, res)
            if sums:
                ux = 0.0
                for i in range(1, l1):
                    ux += px[i] * values[i]
                _matrix_sums(ei, ej, ep, n, values, ux, res)
            if sum_diff:
                _sum_diff_sums(ei, ej, ep, n, ints, n_g, p_sum, p_diff, res)
            acc += res
            n_valid += 1
        for f in range(n_f):
            out[b, f] = acc[f] / n_valid if n_valid else np.nan
        if n_f > 5 and n_valid < steps.shape[0]:
            out[b, 5] = np.nan  # Joint Average: plain mean over the angles


def features(
    levels: torch.Tensor,
    offsets: torch.Tensor,
    angles: torch.Tensor,
    grey_levels: torch.Tensor,
    names: Sequence[str],
) -> dict[str, torch.Tensor]:
    """The :data:`FEATURES` in ``names`` of the symmetrical, unweighted GLCM for CPU ``levels`` ``(B, K)``: one
    ``(B,)`` tensor each, of ``grey_levels``' dtype (computed in float64 either way)."""
    rows = levels.contiguous().numpy()
    steps = neighbours(offsets, angles)
    grey64 = grey_levels.detach().cpu().to(torch.float64)
    grey = np.concatenate([np.zeros(1), grey64.numpy()])
    index = np.concatenate([np.zeros(1, dtype=np.int64), grey64.round().to(torch.int64).numpy()])
    n_columns = len(SPARSE_FEATURES) if set(names) <= set(SPARSE_FEATURES) else len(FEATURES)
    want = np.array([name in names for name in FEATURES[:n_columns]])
    out = np.zeros((rows.shape[0], n_columns))
    _features(rows, steps, grey, index, want, _scratch(rows.shape[1], len(grey_levels)), out)
    values = torch.from_numpy(out).to(grey_levels.dtype)
    return {name: values[:, FEATURES.index(name)].contiguous() for name in names}
