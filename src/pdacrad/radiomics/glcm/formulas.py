"""The GLCM family's feature formulas: one registered, numba-compiled function per feature, docstring = formula.

Each formula evaluates one *block* (one voxel and angle) from that block's non-zero entries ``p(i,j)`` in
``(i, j)`` order and the sums all formulas share (:func:`~pdacrad.radiomics.glcm.drivers.block_sums` fills them
into the slots named here), so its cost follows the kernel's pairs, not ``G²``. The drivers of
:mod:`~pdacrad.radiomics.glcm.drivers` call every formula of :data:`FORMULAS` directly (an unrolled loop over the
registry's compiled formulas; no feature order is written anywhere). MCC, with its own scratch, is called
beside them on the same entries (:func:`mcc`: eigenvalues of the block's matrix restricted to the block's levels).

Symbols (PyRadiomics docs): ``p(i,j)`` the normalised matrix, ``i, j`` grey-level values present in the ROI,
``N_g`` the largest grey level of the ROI, ``p_x(i) = Σ_j p(i,j)``, ``p_y(j) = Σ_i p(i,j)``, ``μ_x = Σ i p(i,j)``,
``μ_y = Σ j p(i,j)``, ``p_{x+y}(k) = Σ_{i+j=k} p(i,j)`` (``k = 2..2N_g``), ``p_{x-y}(k) = Σ_{|i-j|=k} p(i,j)``
(``k = 0..N_g-1``), ``HXY = -Σ p log2(p + ε)``, ``HX``, ``HY`` the entropies of ``p_x``, ``p_y``, ``ε`` = float64
machine epsilon.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from pdacrad.radiomics._jit import jit
from pdacrad.radiomics.glcm.eigen import second_eigenvalue
from pdacrad.radiomics.registry import feature_registry

UX, UY, HXY, HX, HY, N_G, N_SUM, N_DIFF, SYMMETRIC = range(9)
"""Named slots of the per-block scalar array ``s`` that :func:`~pdacrad.radiomics.glcm.drivers.block_sums` fills
for the formulas: μ_x, μ_y, HXY, HX, HY, N_g, the number of non-zero ``p_{x+y}`` / ``p_{x-y}`` values listed in
``sk, sq`` / ``dk, dq``, and 1 for the symmetrical GLCM (0 otherwise)."""
N_SLOTS = 9
NEEDS_LOGS, NEEDS_K = 1, 2
"""Bits of a formula's ``needs``: HXY, HX, HY (entropies); the ``p_{x+y}``, ``p_{x-y}`` lists."""
EPS = float(torch.finfo(torch.float64).eps)


FEATURES, register = feature_registry()
NEEDS: dict[str, int] = {}
"""Per compiled formula, the shared sums it reads (bits :data:`NEEDS_LOGS`, ``NEEDS_K``), so a block computes only
what the requested formulas need."""
PLAIN_MEAN = {"JointAverage"}
"""Features averaged over angles with a plain mean (NaN as soon as one angle has no pair), as PyRadiomics."""
_LN2 = math.log(2.0)


def formula(name: str, needs: int = 0) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Register ``name``'s formula, compiled with the one block signature."""

    def add(fn: Callable[..., float]) -> Callable[..., float]:
        compiled = jit(fn)
        NEEDS[name] = needs
        return register(name)(compiled)  # type: ignore[no-any-return, type-var]

    return add


@jit
def _k_mean(k, q, m):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Σ k q(k) over the ``m`` listed values of p_{x+y} or p_{x-y}."""
    total = 0.0
    for x in range(m):
        total += k[x] * q[x]
    return total


@jit
def _k_entropy(q, m):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """-Σ q log2(q + ε) over the ``m`` listed values of p_{x+y} or p_{x-y}."""
    total = 0.0
    for x in range(m):
        total -= q[x] * math.log2(q[x] + EPS)
    return total


# The formulas. Arguments (one block): i, j, p = level indices and p(i,j) of the n entries; px, py, v = p_x, p_y
# and grey-level values by level index (1..l1-1); s = shared scalars (slots UX, UY, HXY, HX, HY, N_G, ...);
# sk, sq / dk, dq = the non-zero p_{x+y}(k) / p_{x-y}(k), ascending in k.


@formula("Autocorrelation")
def autocorrelation(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Autocorrelation = Σ_i Σ_j p(i,j) i j (IBSI QWK9)."""
    total = 0.0
    for e in range(n):
        total += p[e] * (v[i[e]] * v[j[e]])
    return total


@formula("JointAverage")
def joint_average(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Joint Average = μ_x = Σ_i Σ_j p(i,j) i = Σ_i p_x(i) i, averaged over angles with a plain mean (IBSI 60VM)."""
    return s[UX]


@jit
def _centred_power(i, j, p, n, v, s, power):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Σ p(i,j) (i + j - μ_x - μ_y)^power over the block's entries."""
    total = 0.0
    for e in range(n):
        centre = v[i[e]] + v[j[e]] - s[UX] - s[UY]
        c2 = centre * centre
        total += p[e] * (c2 * c2 if power == 4 else c2 * centre if power == 3 else c2)
    return total


@formula("ClusterProminence")
def cluster_prominence(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Cluster Prominence = Σ_i Σ_j (i + j - μ_x - μ_y)⁴ p(i,j) (IBSI AE86)."""
    return _centred_power(i, j, p, n, v, s, 4)


@formula("ClusterShade")
def cluster_shade(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Cluster Shade = Σ_i Σ_j (i + j - μ_x - μ_y)³ p(i,j) (IBSI 7NFM)."""
    return _centred_power(i, j, p, n, v, s, 3)


@formula("ClusterTendency")
def cluster_tendency(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Cluster Tendency = Σ_i Σ_j (i + j - μ_x - μ_y)² p(i,j) (IBSI DG8W)."""
    return _centred_power(i, j, p, n, v, s, 2)


@formula("Contrast")
def contrast(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Contrast = Σ_i Σ_j (i - j)² p(i,j) (IBSI ACUI)."""
    total = 0.0
    for e in range(n):
        d = v[i[e]] - v[j[e]]
        total += p[e] * (d * d)
    return total


@formula("Correlation")
def correlation(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Correlation = (Σ_i Σ_j p(i,j)(i - μ_x)(j - μ_y)) / (σ_x σ_y + ε); 1 where σ_x σ_y = 0 (flat kernel), with
    σ_x² = Σ_i p_x(i)(i - μ_x)², σ_y² = Σ_j p_y(j)(j - μ_y)² (IBSI NI2N; a flat kernel has p_x one-hot 1, so
    σ_x = 0 exactly)."""
    var_x, var_y = 0.0, 0.0
    for lv in range(1, l1):
        dx, dy = v[lv] - s[UX], v[lv] - s[UY]
        var_x += px[lv] * (dx * dx)
        var_y += py[lv] * (dy * dy)
    sig = math.sqrt(var_x) * math.sqrt(var_y)
    if sig == 0:
        return 1.0
    corm = 0.0
    for e in range(n):
        corm += p[e] * (v[i[e]] - s[UX]) * (v[j[e]] - s[UY])
    return corm / (sig + EPS)


@formula("DifferenceAverage", NEEDS_K)
def difference_average(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Difference Average = Σ_k k p_{x-y}(k) (IBSI TF7R)."""
    return _k_mean(dk, dq, int(s[N_DIFF]))


@formula("DifferenceEntropy", NEEDS_K)
def difference_entropy(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Difference Entropy = -Σ_k p_{x-y}(k) log2(p_{x-y}(k) + ε) (IBSI NTRS)."""
    return _k_entropy(dq, int(s[N_DIFF]))


@formula("DifferenceVariance", NEEDS_K)
def difference_variance(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Difference Variance = Σ_k (k - DA)² p_{x-y}(k), DA the Difference Average (IBSI D3YU)."""
    avg = _k_mean(dk, dq, int(s[N_DIFF]))
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] * ((dk[x] - avg) * (dk[x] - avg))
    return total


@formula("JointEnergy")
def joint_energy(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Joint Energy = Σ_i Σ_j p(i,j)² (IBSI 8ZQL, "angular second moment")."""
    total = 0.0
    for e in range(n):
        total += p[e] * p[e]
    return total


@formula("JointEntropy", NEEDS_LOGS)
def joint_entropy(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Joint Entropy = HXY = -Σ_i Σ_j p(i,j) log2(p(i,j) + ε) (IBSI TU9B)."""
    return s[HXY]


@formula("Imc1", NEEDS_LOGS)
def imc1(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Informational Measure of Correlation 1 = (HXY - HXY1) / max(HX, HY); 0 where max(HX, HY) = 0.
    HXY1 = -Σ p(i,j) log2(p_x(i) p_y(j) + ε) over the non-zero p(i,j) (IBSI R8DG)."""
    div = max(s[HX], s[HY])
    if div == 0:
        return 0.0
    hxy1 = 0.0
    for e in range(n):
        hxy1 -= p[e] * math.log2(px[i[e]] * py[j[e]] + EPS)
    return (s[HXY] - hxy1) / div


@formula("Imc2", NEEDS_LOGS)
def imc2(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Informational Measure of Correlation 2 = sqrt(1 - exp(-2 (HXY2 - HXY))); 0 where HXY2 = HXY exactly.
    HXY2 = -Σ_i Σ_j p_x(i) p_y(j) log2(p_x(i) p_y(j) + ε) (IBSI JN9H).

    Asymmetric GLCM: HXY2 summed over every (i, j) in PyRadiomics' order and the branch taken on the rounded sums,
    which reproduces PyRadiomics' rounding noise (~1e-8) where p = p_x p_y in exact arithmetic (NaN where that
    noise makes HXY2 < HXY; left out of the angle mean). Symmetrical GLCM (p_y = p_x), in O(L):
    Σ x_i y_j log2(x_i y_j) = S_y Σ x_i log2 x_i + S_x Σ y_j log2 y_j, plus n_x n_y ε / ln 2 for the ε inside the
    log (each product is ≥ 1/total² ≫ ε), and HXY2 = HXY exactly iff p(i,j) = p_x(i) p_y(j) bit for bit at every
    present (i, j) — the case where PyRadiomics sums identical terms."""
    if s[SYMMETRIC] == 0:
        hxy2 = 0.0
        for a in range(1, l1):
            for b in range(1, l1):
                q = px[a] * py[b]
                hxy2 -= q * math.log2(q + EPS)
        if hxy2 == s[HXY]:
            return 0.0
        d = 1.0 - math.exp(-2.0 * (hxy2 - s[HXY]))
        return math.sqrt(d) if d >= 0 else np.nan
    sx, sy, x_log, y_log, nx, ny = 0.0, 0.0, 0.0, 0.0, 0, 0
    for lv in range(1, l1):
        sx += px[lv]
        sy += py[lv]
        if px[lv] > 0:
            x_log += px[lv] * math.log2(px[lv])
            nx += 1
        if py[lv] > 0:
            y_log += py[lv] * math.log2(py[lv])
            ny += 1
    independent = n == nx * ny
    for e in range(n):
        independent = independent and p[e] == px[i[e]] * py[j[e]]
    if independent:
        return 0.0
    hxy2 = -(sy * x_log + sx * y_log) - (nx * ny) * (EPS / _LN2)
    return math.sqrt(max(1.0 - math.exp(-2.0 * (hxy2 - s[HXY])), 0.0))


@formula("Idm", NEEDS_K)
def idm(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference Moment = Σ_k p_{x-y}(k) / (1 + k²) (IBSI WF0Z)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + dk[x] * dk[x])
    return total


@formula("Idmn", NEEDS_K)
def idmn(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference Moment Normalised = Σ_k p_{x-y}(k) / (1 + k²/N_g²) (IBSI 1QCO)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + (dk[x] * dk[x]) / (s[N_G] * s[N_G]))
    return total


@formula("Id", NEEDS_K)
def inverse_difference(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference = Σ_k p_{x-y}(k) / (1 + k) (IBSI IB1Z)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + dk[x])
    return total


@formula("Idn", NEEDS_K)
def idn(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference Normalised = Σ_k p_{x-y}(k) / (1 + k/N_g) (IBSI NDRX)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + dk[x] / s[N_G])
    return total


@formula("InverseVariance", NEEDS_K)
def inverse_variance(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Variance = Σ_{k≥1} p_{x-y}(k) / k² (IBSI E8JP)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        if dk[x] > 0:
            total += dq[x] / (dk[x] * dk[x])
    return total


@formula("MaximumProbability")
def maximum_probability(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Maximum Probability = max p(i,j) (IBSI GYBY)."""
    top = 0.0
    for e in range(n):
        top = max(top, p[e])
    return top


@formula("SumAverage", NEEDS_K)
def sum_average(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Sum Average = Σ_k k p_{x+y}(k), k = 2..2N_g (IBSI ZGXS; = 2 × Joint Average when symmetric)."""
    return _k_mean(sk, sq, int(s[N_SUM]))


@formula("SumEntropy", NEEDS_K)
def sum_entropy(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Sum Entropy = -Σ_k p_{x+y}(k) log2(p_{x+y}(k) + ε) (IBSI P6QZ)."""
    return _k_entropy(sq, int(s[N_SUM]))


@formula("SumSquares")
def sum_squares(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Sum of Squares = Σ_i Σ_j (i - μ_x)² p(i,j) (IBSI UR99, "joint variance")."""
    total = 0.0
    for e in range(n):
        d = v[i[e]] - s[UX]
        total += p[e] * (d * d)
    return total


@jit
def mcc(i, j, p, n, px, py, symmetric, slot, work, u, d, e):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Maximal Correlation Coefficient = sqrt(λ₂), λ₂ the second largest eigenvalue of
    Q(i,j) = Σ_k p(i,k) p(j,k) / (p_x(i) p_y(k)) (IBSI, PyRadiomics); 1 when the ROI has a single grey level (the
    caller's rule: it needs the ROI's level count, not the block's).

    Restricted to the block's levels. A level ``i`` with ``p_x(i) = 0`` (absent from the kernel, or without a pair
    along this angle) has a zero row in Q, and a zero column: ``Q(j,i) = Σ_k p(j,k) p(i,k) / ... = 0``. So Q is,
    after a permutation, ``diag(Q_r, 0)`` with ``Q_r`` over the ``n_x`` levels with ``p_x > 0``: its spectrum is
    Q_r's plus zeros, and λ₂ of the ROI's ``G × G`` matrix is λ₂ of ``Q_r`` (0 if ``n_x = 1``). Cost ∝ ``n_x³``
    with ``n_x`` ≤ the kernel's levels, not the ROI's ``G`` (``tests/radiomics/test_glcm_mcc.py`` checks both
    spectra on real kernels).

    ``Q_r = D_x^{-1} P D_y^{-1} Pᵀ`` is similar to the symmetric ``S = M Mᵀ``, ``M = D_x^{-1/2} P D_y^{-1/2}``
    (``M(i,k) = p(i,k) / sqrt(p_x(i) p_y(k))``); a symmetrical GLCM has ``M = Mᵀ``, so ``S = M²`` and λ₂ is the
    second largest squared eigenvalue of M (no matrix product). The largest is 1, eigenvector ``sqrt(p_x)``
    (``M sqrt(p_y) = sqrt(p_x)``), so it is deflated and λ₂ is the top of the remaining ``(n_x - 1)``-row
    problem (:func:`~pdacrad.radiomics.glcm.eigen.second_eigenvalue`: closed form up to 3 levels, else
    Householder + QL; backward stable; PyRadiomics' general LAPACK solver on Q with ``+ ε`` in the denominator
    agrees to ~1e-9, its own accuracy); rounding noise below 0 is clamped; NaN if QL does not converge.

    Arguments: the block's ``n`` entries ``i, j, p`` in ``(i, j)`` order and ``p_x, p_y`` by level index (as the
    other formulas); scratch ``slot`` int ``(2 l1,)`` all -1 (left so), ``work`` ``(2, L, L)``, ``u, d, e``
    ``(L,)`` with ``L`` ≥ the block's levels."""
    l1 = slot.shape[0] // 2
    nx, ny = 0, 0
    for x in range(
        n
    ):  # compact rows (and columns): the block's levels, ascending; u = sqrt(p_x), v = sqrt(p_y)
        if slot[i[x]] < 0:
            slot[i[x]] = nx
            u[nx] = math.sqrt(px[i[x]])
            nx += 1
        if not symmetric and slot[l1 + j[x]] < 0:
            slot[l1 + j[x]] = ny
            e[ny] = math.sqrt(py[j[x]])
            ny += 1
    a, m = work[0], work[1]
    cols, v, width, out = (0, u, nx, a) if symmetric else (l1, e, ny, m)
    out[:nx, :width] = 0.0
    for x in range(n):
        r, c = slot[i[x]], slot[cols + j[x]]
        out[r, c] = p[x] / (u[r] * v[c])
    for x in range(n):
        slot[i[x]] = -1
        slot[cols + j[x]] = -1
    if nx < 2:
        return 0.0
    if not symmetric:  # S = M Mᵀ, lower triangle
        for r in range(nx):
            for c in range(r + 1):
                total = 0.0
                for k in range(ny):
                    total += m[r, k] * m[c, k]
                a[r, c] = total
    return math.sqrt(max(second_eigenvalue(a, nx, u, symmetric, m, d, e), 0.0))


register("MCC")(mcc)  # type: ignore[type-var]
NEEDS["MCC"] = 0


FORMULAS = tuple(fn for name, fn in FEATURES.items() if name != "MCC")
"""Every block formula of the uniform signature, in registry order: column ``k`` of the drivers' output is
``FORMULAS[k]``; MCC (its own signature and scratch) is the last column, :data:`MCC_COLUMN`."""
MCC_COLUMN = len(FORMULAS)
COLUMNS = {
    **{name: k for k, name in enumerate(name for name in FEATURES if name != "MCC")},
    "MCC": MCC_COLUMN,
}
"""Column of each feature's values in the drivers' output (by name, from the registry)."""
