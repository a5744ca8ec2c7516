"""Grey Level Co-occurrence Matrix (GLCM) features, voxel-wise, PyRadiomics 3.1 semantics.

For each target voxel and each angle ``a`` (every offset whose Chebyshev norm is in ``distances``; 13 per distance
in 3D, 4 in 2D), ``P(i, j | a)`` counts kernel voxel pairs ``(v, v + a)`` with grey levels ``(i, j)``, both inside
the kernel. With ``symmetricalGLCM`` (default) ``P ← P + Pᵀ``. With ``weightingNorm`` the angles are summed with
weights ``exp(-‖a·spacing‖²)`` into one matrix. Each angle's matrix is normalised to sum 1; an angle with no pair
is NaN for that voxel and every feature averages angles with ``nanmean`` — except Joint Average (plain mean).
Angles without a pair in *any* kernel of the ROI are removed first (PyRadiomics does this per voxel batch; its
default batch is the whole ROI, which is what :func:`prepare` reproduces).

Design (one formula per feature, counting per backend). Each feature below is ONE registered function whose
docstring is its formula, compiled by numba (arguments in the comment above the formulas). It evaluates one
*block* (one voxel and angle) from that block's non-zero entries ``p(i,j)`` in ``(i, j)`` order and the sums all
formulas share (:func:`~pdacrad.radiomics.cooccurrence.block_sums`: marginals, μ, entropies, ``p_{x±y}``), so its
cost follows the kernel's pairs, not ``G²``. Two drivers run these same functions, calling them directly (an
unrolled loop over :data:`FORMULAS`, the registry's compiled formulas; no feature order is written anywhere):

- :func:`fused_features` (compiled backend, CPU): counts each kernel's angles in small tables of its run's own
  levels, slid from the previous target voxel's kernel along a scan line (counting ∝ r², not r³; see
  :mod:`~pdacrad.radiomics.cooccurrence`), and evaluates the formulas at once, nothing written out;
- :func:`entries_features` (torch backend: CUDA, or CPU tensors when asked; and ``weightingNorm`` on every
  backend, angles merged into one float matrix): the backend's counted entries (``O(pairs)``, moved to the host)
  are evaluated by the same formulas.

Both hand the formulas the same entries in the same order, so the two backends agree bit for bit
(``tests/radiomics/test_glcm_counting.py``). Why not torch formulas for both: on CPU the per-block formulas run in
cache next to the counting, measured ~2× faster than vectorised torch sums over the entries (paper GLCM features,
r = 2); the cost on CUDA is the host copy of the entries. MCC alone is a torch formula (batched eigenvalues of
dense per-block matrices built from the same counts). Formulas work in float64 whatever the batch dtype; values
are cast back.

Symbols (PyRadiomics docs): ``p(i,j)`` the normalised matrix, ``i, j`` grey-level values present in the ROI,
``N_g`` the largest grey level of the ROI, ``p_x(i) = Σ_j p(i,j)``, ``p_y(j) = Σ_i p(i,j)``, ``μ_x = Σ i p(i,j)``,
``μ_y = Σ j p(i,j)``, ``p_{x+y}(k) = Σ_{i+j=k} p(i,j)`` (``k = 2..2N_g``), ``p_{x-y}(k) = Σ_{|i-j|=k} p(i,j)``
(``k = 0..N_g-1``), ``HXY = -Σ p log2(p + ε)``, ``HX``, ``HY`` the entropies of ``p_x``, ``p_y``, ``ε`` = float64
machine epsilon.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from pdacrad.radiomics import cooccurrence as co
from pdacrad.radiomics._jit import jit, jit_inline, literal_unroll
from pdacrad.radiomics.backend import (
    CACHE_BATCH_BYTES,
    COMPILED_BATCH,
    Backend,
    BatchCost,
    backend_of,
    kernel_cost,
)
from pdacrad.radiomics.cooccurrence import (
    EPS,
    HX,
    HXY,
    HY,
    N_DIFF,
    N_G,
    N_SUM,
    SYMMETRIC,
    UX,
    UY,
    glcm_angles,
    prepare,
)
from pdacrad.radiomics.kernel import KernelBatch
from pdacrad.radiomics.registry import check_features, feature_registry

__all__ = ["FEATURES", "batch_cost", "compute", "counting_route", "glcm_angles", "needs_kernels", "prepare"]

FEATURES, register = feature_registry()
NEEDS: dict[str, int] = {}
"""Per compiled formula, the shared sums it reads (bits :data:`~pdacrad.radiomics.cooccurrence.NEEDS_LOGS`,
``NEEDS_K``), so a block computes only what the requested formulas need."""
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


@formula("DifferenceAverage", co.NEEDS_K)
def difference_average(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Difference Average = Σ_k k p_{x-y}(k) (IBSI TF7R)."""
    return _k_mean(dk, dq, int(s[N_DIFF]))


@formula("DifferenceEntropy", co.NEEDS_K)
def difference_entropy(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Difference Entropy = -Σ_k p_{x-y}(k) log2(p_{x-y}(k) + ε) (IBSI NTRS)."""
    return _k_entropy(dq, int(s[N_DIFF]))


@formula("DifferenceVariance", co.NEEDS_K)
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


@formula("JointEntropy", co.NEEDS_LOGS)
def joint_entropy(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Joint Entropy = HXY = -Σ_i Σ_j p(i,j) log2(p(i,j) + ε) (IBSI TU9B)."""
    return s[HXY]


@formula("Imc1", co.NEEDS_LOGS)
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


@formula("Imc2", co.NEEDS_LOGS)
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


@formula("Idm", co.NEEDS_K)
def idm(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference Moment = Σ_k p_{x-y}(k) / (1 + k²) (IBSI WF0Z)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + dk[x] * dk[x])
    return total


@formula("Idmn", co.NEEDS_K)
def idmn(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference Moment Normalised = Σ_k p_{x-y}(k) / (1 + k²/N_g²) (IBSI 1QCO)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + (dk[x] * dk[x]) / (s[N_G] * s[N_G]))
    return total


@formula("Id", co.NEEDS_K)
def inverse_difference(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference = Σ_k p_{x-y}(k) / (1 + k) (IBSI IB1Z)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + dk[x])
    return total


@formula("Idn", co.NEEDS_K)
def idn(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Inverse Difference Normalised = Σ_k p_{x-y}(k) / (1 + k/N_g) (IBSI NDRX)."""
    total = 0.0
    for x in range(int(s[N_DIFF])):
        total += dq[x] / (1 + dk[x] / s[N_G])
    return total


@formula("InverseVariance", co.NEEDS_K)
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


@formula("SumAverage", co.NEEDS_K)
def sum_average(i, j, p, n, px, py, v, l1, s, sk, sq, dk, dq):  # type: ignore[no-untyped-def]
    """Sum Average = Σ_k k p_{x+y}(k), k = 2..2N_g (IBSI ZGXS; = 2 × Joint Average when symmetric)."""
    return _k_mean(sk, sq, int(s[N_SUM]))


@formula("SumEntropy", co.NEEDS_K)
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


@register("MCC")
def mcc(p: torch.Tensor) -> torch.Tensor:
    """Maximal Correlation Coefficient = sqrt(λ₂), λ₂ the second largest eigenvalue of
    Q(i,j) = Σ_k p(i,k) p(j,k) / (p_x(i) p_y(k)); 1 when the ROI has a single grey level. ``p`` ``(B, A, G, G)``
    normalised matrices, NaN for angles without pairs.

    Q is similar to the symmetric positive semi-definite S = M Mᵀ, M(i,k) = p(i,k) / sqrt(p_x(i) p_y(k)), so the
    eigenvalues come from a batched symmetric solver (PyRadiomics uses a general LAPACK solver on Q with ``+ ε`` in
    the denominator; both agree to ~1e-9, the accuracy of the reference itself). Rounding noise below 0 is clamped.
    """
    if p.shape[-1] < 2:
        return torch.ones(p.shape[0], dtype=p.dtype, device=p.device)
    denom = torch.sqrt(p.sum(3)[:, :, :, None] * p.sum(2)[:, :, None, :])
    m = torch.where(denom > 0, p / torch.where(denom > 0, denom, torch.ones_like(denom)), torch.zeros_like(p))
    valid = ~torch.isnan(p[:, :, 0, 0])
    s = torch.where(valid[:, :, None, None], m @ m.transpose(2, 3), torch.zeros_like(p))
    value = torch.sqrt(torch.linalg.eigvalsh(s)[..., -2].clamp(min=0))
    return torch.nanmean(torch.where(valid, value, torch.full_like(value, math.nan)), dim=1)


FORMULAS = tuple(fn for name, fn in FEATURES.items() if name != "MCC")
"""Every compiled formula, in registry order: column ``k`` of the drivers' output is ``FORMULAS[k]``."""
COLUMNS = {name: k for k, name in enumerate(name for name in FEATURES if name != "MCC")}
"""Column of each compiled formula's values in the drivers' output (by name, from the registry)."""


@jit
def _scratch(l1: int, n_entries: int, n_g: int, symmetric: bool, n_f: int) -> tuple:  # type: ignore[type-arg]
    """Per-call scratch of the drivers: ``s, px, py, ep, terms, dense, sk, sq, dk, dq`` for the formulas and the
    per-voxel sums and counts of valid values ``acc, cnt`` (``n_f`` formulas)."""  # pragma: no cover - compiled
    s = np.zeros(co.N_SLOTS)
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
    """Add every formula with ``want`` evaluated on one block (after :func:`~pdacrad.radiomics.cooccurrence.
    block_sums`) to ``acc`` and count it in ``cnt`` unless NaN (``nanmean`` over angles). Column ``k`` is formula
    ``FORMULAS[k]`` (:data:`COLUMNS`); the unrolled loop calls each formula directly (no function pointers)."""
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
    Kernels are read and slid as :func:`~pdacrad.radiomics.cooccurrence.kernel_layout` lays them out
    (:func:`~pdacrad.radiomics.cooccurrence.count_row`). ``grey``/``index`` ``(G + 1,)`` float / integer grey-level
    values by global level index (0 at index 0). Returns the number of kernels slid."""
    g1, n_angles, k = grey.shape[0], geom.shape[0], dims[0] * dims[1] * dims[2]
    lut, glob, hist, present, tables, local, cells, ei, ej, ec = co.sliding_scratch(k, g1 - 1, n_angles)
    values, ints = np.zeros(glob.shape[0]), np.zeros(glob.shape[0], np.int64)
    s, px, py, ep, terms, dense, sk, sq, dk, dq, acc, cnt = _scratch(
        glob.shape[0], 2 * k, int(index.max()), symmetric, out.shape[1]
    )
    slid, b0 = 0, 0
    while b0 < corners.shape[0]:
        end, l1 = co.begin_run(src, corners, voxels, b0, dims, lut, glob)
        if n_angles * l1 * l1 > tables.shape[0]:
            tables = np.zeros(n_angles * l1 * l1, np.int32)
        for lv in range(1, l1):
            values[lv], ints[lv] = grey[glob[lv]], index[glob[lv]]
        for b in range(b0, end):
            step = 0 if b == b0 else co._step(voxels, b, dims[2])
            slid += step != 0
            n_present = co.count_row(
                src, corners, b, step, dims, geom, steps, lut, tables, l1, hist, present, local, cells
            )
            n_valid = 0
            for a in range(n_angles):
                n = co.list_entries(tables, a * l1 * l1, l1, present, n_present, symmetric, ei, ej, ec)
                if n:
                    co.block_sums(
                        ei, ej, ec, n, l1, values, ints, needs, s, px, py, ep, terms, dense, sk, sq, dk, dq
                    )
                    _evaluate(want, n, l1, ei, ej, ep, px, py, values, s, sk, sq, dk, dq, acc, cnt)
                    n_valid += 1
            _finish(acc, cnt, n_valid, n_angles, plain_mean, out[b])
        co.end_run(tables, n_angles, l1, hist, lut, glob)
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
    """:func:`fused_features` from counted entries (any backend's :func:`sparse_pair_counts`, or angles merged by
    ``weightingNorm`` with ``n_angles = 1``): ``codes`` ascending ``((voxel * A + angle) * (G+1) + i) * (G+1) + j``,
    ``counts`` float64. Blocks are evaluated over the ROI's levels (absent ones add exact zeros), the same bits."""
    g1 = grey.shape[0]
    gg = g1 * g1
    n_entries = codes.shape[0]
    ei, ej, ec = np.zeros(gg, np.int32), np.zeros(gg, np.int32), np.zeros(gg)
    s, px, py, ep, terms, dense, sk, sq, dk, dq, acc, cnt = _scratch(
        g1, gg, int(index.max()), symmetric, out.shape[1]
    )
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
                co.block_sums(
                    ei, ej, ec, n, g1, grey, index, needs, s, px, py, ep, terms, dense, sk, sq, dk, dq
                )
                _evaluate(want, n, g1, ei, ej, ep, px, py, grey, s, sk, sq, dk, dq, acc, cnt)
                n_valid += 1
        _finish(acc, cnt, n_valid, n_angles, plain_mean, out[b])


def _angles(settings: Mapping[str, Any]) -> torch.Tensor:
    """The angles of the settings, less those without a pair in any kernel of the ROI (see :func:`prepare`)."""
    angles = co.angles_from_settings(settings)
    present = settings.get("_glcm_angles_present")
    if present is not None and len(angles) > 1 and not all(present) and any(present):
        angles = angles[torch.tensor(present, dtype=torch.bool)]
    return angles


def counting_route(backend: Backend, features: Sequence[str], settings: Mapping[str, Any]) -> str:
    """How :func:`compute` counts on ``backend`` (and what :func:`batch_cost` sizes for): ``"fused"`` (compiled
    counting and formulas per kernel, nothing written out) on the compiled backend without ``weightingNorm``;
    ``"entries"`` (the backend's counts written out as entries, then the formulas) otherwise. MCC additionally
    builds dense matrices from entries on either route."""
    return "fused" if backend.compiled and settings.get("weightingNorm") is None else "entries"


def needs_kernels(backend: Backend, features: Sequence[str], settings: Mapping[str, Any]) -> bool:
    """Whether :func:`compute` reads the batch's gathered kernels: not on the fused route of a sliding compiled
    backend without MCC, which reads the engine's padded level volume (:attr:`KernelBatch.volume`) itself."""
    fused = counting_route(backend, features, settings) == "fused" and backend.sliding
    return not fused or "MCC" in features


def batch_cost(
    backend: Backend,
    n_cells: int,
    n_levels: int,
    n_angles: int,
    features: Sequence[str],
    settings: Mapping[str, Any],
) -> BatchCost:
    """Memory per voxel of :func:`compute` on ``backend`` for the route :func:`counting_route` takes."""
    per_voxel = kernel_cost(n_cells, n_levels)
    cap: int | None = None
    if counting_route(backend, features, settings) == "fused":
        cap = COMPILED_BATCH  # per-kernel scratch only
    else:  # entries: ≤ 2 per pair and angle (codes, counts, bincount of each kernel's own levels)
        local = min(n_cells, n_levels) + 1
        per_voxel += 8 * n_cells * n_angles * 8 + 8 * n_angles * local * local
        cap = COMPILED_BATCH if backend.compiled else None
    if "MCC" in features:  # dense (A, G, G) p, M, S per voxel
        dense = 8 * n_angles * n_levels * n_levels
        per_voxel += 6 * dense
        if backend.device.type == "cpu":
            cap = min(cap or COMPILED_BATCH, max(32, CACHE_BATCH_BYTES // dense))
    return BatchCost(per_voxel, cap)


def _grey_tables(batch: KernelBatch) -> tuple[np.ndarray, np.ndarray]:
    """``(G + 1,)`` float64 and int64 grey-level values by level index (0 at index 0)."""
    grey = batch.grey_levels.detach().cpu().to(torch.float64)
    values = np.concatenate([np.zeros(1), grey.numpy()])
    return values, np.concatenate([np.zeros(1, np.int64), grey.round().to(torch.int64).numpy()])


def compute(
    batch: KernelBatch, features: Sequence[str], settings: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """One ``(B,)`` tensor per requested GLCM feature (PyRadiomics names) for the kernels of ``batch``, of its
    dtype on its device, counted by its backend (:func:`~pdacrad.radiomics.backend.backend_of`)."""
    check_features("glcm", features, FEATURES)
    backend = backend_of(batch)
    angles = _angles(settings)
    symmetric = bool(settings.get("symmetricalGLCM", True))
    names = [name for name in features if name != "MCC"]
    out: dict[str, torch.Tensor] = {}
    entries = None
    if names:
        want = np.array([name in names for name in COLUMNS])
        plain = np.array([name in PLAIN_MEAN for name in COLUMNS])
        needs = int(np.bitwise_or.reduce([NEEDS[name] for name in names]))
        values, ints = _grey_tables(batch)
        result = np.zeros((batch.n_voxels, len(COLUMNS)))
        if counting_route(backend, names, settings) == "fused":
            layout = co.kernel_layout(batch, angles, backend.sliding)
            fused_features(*layout, symmetric, values, ints, want, plain, needs, result)
        else:
            entries = co.entries(batch, backend, angles, symmetric, settings)
            codes, counts = (x.cpu().numpy() for x in entries[:2])
            entries_features(codes, counts, entries[2], symmetric, values, ints, want, plain, needs, result)
        table = torch.from_numpy(result).to(batch.device, batch.dtype)
        out = {name: table[:, COLUMNS[name]].contiguous() for name in names}
    if "MCC" in features:
        codes_t, counts_t, n_angles = entries or co.entries(batch, backend, angles, symmetric, settings)
        g1 = batch.n_levels + 1
        dense = torch.zeros(batch.n_voxels * n_angles * g1 * g1, dtype=torch.float64, device=codes_t.device)
        dense.index_put_((codes_t,), counts_t)
        dense = dense.reshape(batch.n_voxels, n_angles, g1, g1)[:, :, 1:, 1:]
        total = dense.sum((2, 3))
        p = dense / torch.where(total == 0, torch.full_like(total, math.nan), total)[:, :, None, None]
        out["MCC"] = mcc(p.to(batch.dtype)).to(batch.device)
    return {name: out[name] for name in features}
