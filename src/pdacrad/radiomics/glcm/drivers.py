"""The GLCM family's compiled drivers: the per-block sums every formula shares, and the two loops that run the
formulas of :mod:`~pdacrad.radiomics.glcm.formulas` over a batch's kernels.

- :func:`block_sums`: p(i,j), marginals, means, entropies and ``p_{x±y}`` of one block, from its entries;
- :func:`fused_features` (compiled backend, CPU): counts each kernel's angles with the sliding counting of
  :mod:`~pdacrad.radiomics.glcm.sliding` and evaluates the formulas at once, nothing written out;
- :func:`entries_features`: the formulas over entries counted by any backend
  (:func:`~pdacrad.radiomics.glcm.counting.entries`).

Both drivers hand the formulas the same entries in the same order, so the backends agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from pdacrad.radiomics._jit import jit, jit_inline, literal_unroll
from pdacrad.radiomics.glcm.formulas import (
    EPS,
    FORMULAS,
    HX,
    HXY,
    HY,
    MCC_COLUMN,
    N_DIFF,
    N_G,
    N_SLOTS,
    N_SUM,
    NEEDS_K,
    NEEDS_LOGS,
    SYMMETRIC,
    UX,
    UY,
    mcc,
)
from pdacrad.radiomics.glcm.sliding import (
    begin_run,
    count_row,
    end_run,
    list_entries,
    slide_limit,
    sliding_scratch,
)
from pdacrad.radiomics.kernel import scan_step


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


@jit
def _scratch(l1: int, n_entries: int, n_g: int, symmetric: bool, n_f: int) -> tuple:  # type: ignore[type-arg]
    """Per-call scratch of the drivers: ``s, px, py, ep, terms, dense, sk, sq, dk, dq`` for the formulas and the
    per-voxel sums and counts of valid values ``acc, cnt`` (``n_f`` formulas)."""  # pragma: no cover - compiled
    s = np.zeros(N_SLOTS)
    s[N_G], s[SYMMETRIC] = n_g, 1.0 if symmetric else 0.0
    return (
        s,
        np.zeros(l1),
        np.zeros(l1),
        np.zeros(n_entries),
        np.empty(64),
        np.zeros(3 * n_g + 2),
        np.zeros(2 * n_g + 1),
        np.zeros(2 * n_g + 1),
        np.zeros(n_g + 1),
        np.zeros(n_g + 1),
        np.zeros(n_f),
        np.zeros(n_f, np.int64),
    )


@jit
def _mcc_scratch(l1: int, n_levels: int, want_mcc: bool) -> tuple:  # type: ignore[type-arg]
    """Scratch of :func:`~pdacrad.radiomics.glcm.formulas.mcc` for blocks over level indices ``< l1`` holding at
    most ``n_levels`` levels (1 × 1 when MCC is not wanted): ``slot`` (all -1), ``work``, ``u``, ``d``, ``e``."""  # pragma: no cover - compiled
    size = max(n_levels, 1) if want_mcc else 1
    return (
        np.full(2 * l1, -1, np.int32),
        np.zeros((2, size, size)),
        np.zeros(size),
        np.zeros(size),
        np.zeros(size),
    )


@jit_inline
def _evaluate_mcc(
    want: np.ndarray,
    n: int,
    ei: np.ndarray,
    ej: np.ndarray,
    ep: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    symmetric: bool,
    scratch: tuple,  # type: ignore[type-arg]
    acc: np.ndarray,
    cnt: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """:func:`_evaluate` for MCC (column :data:`~pdacrad.radiomics.glcm.formulas.MCC_COLUMN`), beside the other
    formulas on the same block (after :func:`block_sums`)."""
    if want[MCC_COLUMN]:
        value = mcc(ei, ej, ep, n, px, py, symmetric, *scratch)
        if value == value:
            acc[MCC_COLUMN] += value
            cnt[MCC_COLUMN] += 1


@jit_inline
def _evaluate(
    want: np.ndarray,
    n: int,
    l1: int,
    ei: np.ndarray,
    ej: np.ndarray,
    ep: np.ndarray,
    px: np.ndarray,  # type: ignore[type-arg]
    py: np.ndarray,
    values: np.ndarray,
    s: np.ndarray,
    sk: np.ndarray,
    sq: np.ndarray,
    dk: np.ndarray,
    dq: np.ndarray,
    acc: np.ndarray,
    cnt: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Add every formula with ``want`` evaluated on one block (after :func:`block_sums`) to ``acc`` and count it in
    ``cnt`` unless NaN (``nanmean`` over angles). Column ``k`` is formula ``FORMULAS[k]``
    (:data:`~pdacrad.radiomics.glcm.formulas.COLUMNS`); the unrolled loop calls each formula directly (no function
    pointers)."""
    k = 0
    for formula_k in literal_unroll(FORMULAS):
        if want[k]:
            value = formula_k(ei, ej, ep, n, px, py, values, l1, s, sk, sq, dk, dq)
            if value == value:
                acc[k] += value
                cnt[k] += 1
        k += 1  # noqa: SIM113  (numba unrolls no enumerate)


@jit_inline
def _finish(
    acc: np.ndarray, cnt: np.ndarray, n_valid: int, n_angles: int, plain_mean: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """One voxel's values, ``acc, cnt`` zeroed after: ``nanmean`` over the angles (NaN if none has a value), or a
    plain mean (NaN as soon as one of the ``n_angles`` angles has no pair) where ``plain_mean``."""
    for f in range(out.shape[0]):
        out[f] = acc[f] / cnt[f] if cnt[f] and not (plain_mean[f] and n_valid < n_angles) else np.nan
    acc[:] = 0.0
    cnt[:] = 0


@jit
def fused_features(
    src: np.ndarray,
    corners: np.ndarray,
    voxels: np.ndarray,
    dims: np.ndarray,
    geom: np.ndarray,
    steps: np.ndarray,
    symmetric: bool,
    grey: np.ndarray,
    index: np.ndarray,
    want: np.ndarray,
    plain_mean: np.ndarray,
    needs: int,
    out: np.ndarray,  # type: ignore[type-arg]
) -> int:  # pragma: no cover - compiled
    """The compiled backend: ``out[b, k]`` = formula ``FORMULAS[k]`` (where ``want[k]``) of kernel ``b`` averaged
    over the angles of ``geom``, each angle's table evaluated as soon as it is counted: no entries are written out.
    Kernels are read and slid as :func:`~pdacrad.radiomics.glcm.sliding.kernel_layout` lays them out
    (:func:`~pdacrad.radiomics.glcm.sliding.count_row`). ``grey``/``index`` ``(G + 1,)`` float / integer grey-level
    values by global level index (0 at index 0). Returns the number of kernels slid."""
    g1, n_angles, k = grey.shape[0], geom.shape[0], dims[0] * dims[1] * dims[2]
    lut, glob, hist, present, tables, local, cells, ei, ej, ec = sliding_scratch(k, g1 - 1, n_angles)
    values, ints = np.zeros(glob.shape[0]), np.zeros(glob.shape[0], np.int64)
    s, px, py, ep, terms, dense, sk, sq, dk, dq, acc, cnt = _scratch(
        glob.shape[0], 2 * k, int(index.max()), symmetric, out.shape[1]
    )
    eig = _mcc_scratch(glob.shape[0], min(k, glob.shape[0] - 1), want[MCC_COLUMN])
    slid, b0 = 0, 0
    while b0 < corners.shape[0]:
        end, l1 = begin_run(src, corners, voxels, b0, dims, lut, glob)
        if n_angles * l1 * l1 > tables.shape[0]:
            tables = np.zeros(n_angles * l1 * l1, np.int32)
        for lv in range(1, l1):
            values[lv], ints[lv] = grey[glob[lv]], index[glob[lv]]
        for b in range(b0, end):
            step = 0 if b == b0 else scan_step(voxels, b, slide_limit(dims[2]))
            slid += step != 0
            n_present = count_row(
                src, corners, b, step, dims, geom, steps, lut, tables, l1, hist, present, local, cells
            )
            n_valid = 0
            for a in range(n_angles):
                n = list_entries(tables, a * l1 * l1, l1, present, n_present, symmetric, ei, ej, ec)
                if n:
                    block_sums(
                        ei, ej, ec, n, l1, values, ints, needs, s, px, py, ep, terms, dense, sk, sq, dk, dq
                    )
                    _evaluate(want, n, l1, ei, ej, ep, px, py, values, s, sk, sq, dk, dq, acc, cnt)
                    _evaluate_mcc(want, n, ei, ej, ep, px, py, symmetric, eig, acc, cnt)
                    n_valid += 1
            _finish(acc, cnt, n_valid, n_angles, plain_mean, out[b])
        end_run(tables, n_angles, l1, hist, lut, glob)
        b0 = end
    return slid


@jit
def entries_features(
    codes: np.ndarray,
    counts: np.ndarray,
    n_angles: int,
    symmetric: bool,
    grey: np.ndarray,
    index: np.ndarray,
    want: np.ndarray,
    plain_mean: np.ndarray,
    needs: int,
    out: np.ndarray,  # type: ignore[type-arg]
) -> None:  # pragma: no cover - compiled
    """:func:`fused_features` from counted entries (any backend's
    :func:`~pdacrad.radiomics.glcm.counting.sparse_pair_counts`, or angles merged by ``weightingNorm`` with
    ``n_angles = 1``): ``codes`` ascending ``((voxel * A + angle) * (G+1) + i) * (G+1) + j``, ``counts`` float64.
    Blocks are evaluated over the ROI's levels (absent ones add exact zeros), the same bits."""
    g1 = grey.shape[0]
    gg = g1 * g1
    n_entries = codes.shape[0]
    ei, ej, ec = np.zeros(gg, np.int32), np.zeros(gg, np.int32), np.zeros(gg)
    s, px, py, ep, terms, dense, sk, sq, dk, dq, acc, cnt = _scratch(
        g1, gg, int(index.max()), symmetric, out.shape[1]
    )
    eig = _mcc_scratch(g1, g1 - 1, want[MCC_COLUMN])
    e = 0
    for b in range(out.shape[0]):
        n_valid = 0
        for a in range(n_angles):
            block, n = b * n_angles + a, 0
            while e < n_entries and codes[e] // gg == block:
                ei[n], ej[n], ec[n] = (codes[e] % gg) // g1, codes[e] % g1, counts[e]
                n += 1
                e += 1
            if n:
                block_sums(ei, ej, ec, n, g1, grey, index, needs, s, px, py, ep, terms, dense, sk, sq, dk, dq)
                _evaluate(want, n, g1, ei, ej, ep, px, py, grey, s, sk, sq, dk, dq, acc, cnt)
                _evaluate_mcc(want, n, ei, ej, ep, px, py, symmetric, eig, acc, cnt)
                n_valid += 1
        _finish(acc, cnt, n_valid, n_angles, plain_mean, out[b])
