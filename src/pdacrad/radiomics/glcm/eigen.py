"""Eigenvalues of one small real symmetric matrix, compiled, in caller-owned scratch (no allocation per call).

MCC needs the second largest eigenvalue of one ``k × k`` matrix per voxel and angle, ``k`` the grey levels of a
kernel's block (a handful on CT): numba's ``np.linalg.eigvalsh`` costs ~2.7 µs at ``k = 8`` (a Fortran-order copy
and LAPACK workspace per call), this ~1 µs. Method (Numerical Recipes 3rd ed., §11.4–11.5, eigenvalues only):
Householder reduction of the lower triangle to a tridiagonal matrix, then the QL algorithm with implicit
Wilkinson shifts. Both are backward stable: every eigenvalue comes out within a few ``ε ‖A‖`` of the exact one
(``tests/radiomics/test_glcm_mcc.py`` checks it against LAPACK). :func:`second_eigenvalue` first deflates the
known top eigenvector (one row less; one- and two-row remainders in closed form).
"""

from __future__ import annotations

import math

import numpy as np

from pdacrad.radiomics._jit import jit_inline

MAX_QL_ITERATIONS = 60
"""QL iterations per eigenvalue before giving up (NR uses 30; a few iterations are the rule)."""


@jit_inline
def tridiagonalise(
    a: np.ndarray, k: int, d: np.ndarray, e: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Householder reduction of the symmetric ``a[:k, :k]`` (lower triangle read, ``a`` overwritten) to the
    tridiagonal matrix with diagonal ``d[:k]`` and sub-diagonal ``e[1:k]`` (``e[0] = 0``)."""
    for i in range(k - 1, 0, -1):
        low = i - 1
        h = 0.0
        if low > 0:
            scale = 0.0
            for m in range(i):
                scale += abs(a[i, m])
            if scale == 0.0:
                e[i] = a[i, low]
            else:
                for m in range(i):
                    a[i, m] /= scale
                    h += a[i, m] * a[i, m]
                f = a[i, low]
                g = -math.sqrt(h) if f >= 0.0 else math.sqrt(h)
                e[i] = scale * g
                h -= f * g
                a[i, low] = f - g
                f = 0.0
                for j in range(i):
                    g = 0.0
                    for m in range(j + 1):
                        g += a[j, m] * a[i, m]
                    for m in range(j + 1, i):
                        g += a[m, j] * a[i, m]
                    e[j] = g / h
                    f += e[j] * a[i, j]
                hh = f / (h + h)
                for j in range(i):
                    f = a[i, j]
                    g = e[j] - hh * f
                    e[j] = g
                    for m in range(j + 1):
                        a[j, m] -= f * e[m] + g * a[i, m]
        else:
            e[i] = a[i, low]
        d[i] = h
    e[0] = 0.0
    for i in range(k):
        d[i] = a[i, i]


@jit_inline
def tridiagonal_eigenvalues(d: np.ndarray, e: np.ndarray, k: int) -> bool:  # pragma: no cover - compiled
    """Eigenvalues (unordered, in ``d[:k]``) of the tridiagonal matrix ``d[:k]``, sub-diagonal ``e[1:k]``, by
    implicit-shift QL (``e`` destroyed). Returns ``False`` if an eigenvalue did not converge within
    :data:`MAX_QL_ITERATIONS`."""
    for i in range(1, k):
        e[i - 1] = e[i]
    e[k - 1] = 0.0
    eps = np.finfo(np.float64).eps
    for low in range(k):
        iterations = 0
        while True:
            m = low
            while m < k - 1:
                dd = abs(d[m]) + abs(d[m + 1])
                if abs(e[m]) <= eps * dd:
                    break
                m += 1
            if m == low:
                break
            iterations += 1
            if iterations > MAX_QL_ITERATIONS:
                return False
            g = (d[low + 1] - d[low]) / (2.0 * e[low])
            r = math.hypot(g, 1.0)  # hypot: no overflow or underflow at any scale
            g = d[m] - d[low] + e[low] / (g + (r if g >= 0.0 else -r))
            s, c, p = 1.0, 1.0, 0.0
            underflow = False
            for i in range(m - 1, low - 1, -1):
                f = s * e[i]
                b = c * e[i]
                r = math.hypot(f, g)  # hypot: the squares of entries of 1e-150 scale lose digits
                e[i + 1] = r
                if r == 0.0:  # recover from underflow: deflate and restart this eigenvalue
                    d[i + 1] -= p
                    e[m] = 0.0
                    underflow = True
                    break
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2.0 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
            if underflow:
                continue
            d[low] -= p
            e[low] = g
            e[m] = 0.0
    return True


@jit_inline
def second_eigenvalue(
    a: np.ndarray, k: int, u: np.ndarray, square: bool, c: np.ndarray, d: np.ndarray, e: np.ndarray
) -> float:  # pragma: no cover - compiled
    """The second largest eigenvalue of ``f(A)`` (``f(μ) = μ²`` if ``square``, else ``μ``) for the symmetric
    ``A = a[:k, :k]`` (``k ≥ 2``, lower triangle read) whose largest ``f``-eigenvalue has the known unit
    eigenvector ``u[:k]`` with ``u[0] > 0`` (MCC: ``sqrt(p_x)``, eigenvalue 1). NaN if QL does not converge.

    Deflation: the Householder reflection ``H = I - β w wᵀ``, ``w = u + e₁``, maps ``u`` to ``-e₁``, so
    ``H A H = diag(λ₁, C)`` and the rest of the spectrum is ``C``'s, ``(k-1) × (k-1)`` (written to ``c``): the
    answer is the largest ``f`` over ``C``'s eigenvalues. ``C`` of one or two rows in closed form; larger by
    :func:`tridiagonalise` and :func:`tridiagonal_eigenvalues`. ``d, e`` scratch of ``k`` values."""
    w, y = d, e
    ww = 0.0
    for r in range(k):
        w[r] = u[r]
        ww += u[r] * u[r]
    norm = math.sqrt(ww)
    for r in range(k):
        w[r] /= norm
    w[0] += 1.0
    ww = 0.0
    for r in range(k):
        ww += w[r] * w[r]
    beta = 2.0 / ww
    wy = 0.0
    for r in range(k):  # y = A w
        total = 0.0
        for col in range(r + 1):
            total += a[r, col] * w[col]
        for col in range(r + 1, k):
            total += a[col, r] * w[col]
        y[r] = total
        wy += w[r] * total
    half = 0.5 * beta * beta * wy
    for r in range(k):  # z = β A w - (β² wᵀA w / 2) w; H A H = A - w zᵀ - z wᵀ
        y[r] = beta * y[r] - half * w[r]
    m = k - 1
    for r in range(1, k):
        for col in range(1, r + 1):
            c[r - 1, col - 1] = a[r, col] - w[r] * y[col] - y[r] * w[col]
    if m == 1:
        mu = c[0, 0]
        return mu * mu if square else mu
    if m == 2:  # symmetric 2 × 2: mid ± sqrt(((p - q) / 2)² + b²), no cancellation in the larger magnitude
        mid = 0.5 * (c[0, 0] + c[1, 1])
        rad = math.sqrt(0.25 * (c[0, 0] - c[1, 1]) ** 2 + c[1, 0] * c[1, 0])
        hi, lo = mid + rad, mid - rad
        return max(hi * hi, lo * lo) if square else hi
    tridiagonalise(c, m, d, e)
    if not tridiagonal_eigenvalues(d, e, m):
        return np.nan
    best = -np.inf
    for r in range(m):
        best = max(best, d[r] * d[r] if square else d[r])
    return best
