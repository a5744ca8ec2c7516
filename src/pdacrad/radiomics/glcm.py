"""Grey Level Co-occurrence Matrix (GLCM) features, voxel-wise, PyRadiomics 3.1 semantics.

For each target voxel and each angle ``a`` (every offset whose Chebyshev norm is in ``distances``; 13 per distance
in 3D, 4 in 2D), ``P(i, j | a)`` counts kernel voxel pairs ``(v, v + a)`` with grey levels ``(i, j)``, both inside
the kernel. With ``symmetricalGLCM`` (default) ``P ← P + Pᵀ``. With ``weightingNorm`` the angles are summed with
weights ``exp(-‖a·spacing‖²)`` into one matrix. Each angle's matrix is normalised to sum 1; an angle with no pair
is NaN for that voxel and every feature averages angles with ``nanmean`` — except Joint Average (plain mean).
Angles without a pair in *any* kernel of the ROI are removed first (PyRadiomics does this per voxel batch; its
default batch is the whole ROI, which is what :func:`prepare` reproduces).

Two paths, same values: the dense ``(B, A, G, G)`` matrices of :class:`GLCMCoefficients` (every feature), and,
when only Correlation, Imc1, Imc2 and Joint Entropy are requested (the paper's GLCM maps), the non-zero entries of
:mod:`pdacrad.radiomics.glcm_sparse`, whose cost follows the kernel's pairs rather than ``G²`` (:func:`compute`
chooses; :func:`uses_sparse_path` says which). Those two torch paths run on CUDA. On the CPU, pairs are counted by
the compiled kernels of :mod:`pdacrad.radiomics._glcm_cpu` (the same integers as the torch counting), which for the
symmetrical, unweighted GLCM (the defaults) also evaluate every feature but MCC kernel by kernel from each angle's
non-zero entries (same formulas, to rounding; ``tests/radiomics/test_glcm_cpu.py``); MCC's eigenvalues stay torch.

Symbols (PyRadiomics docs): ``p(i,j)`` the normalised matrix, ``i, j`` grey-level values present in the ROI,
``N_g`` the largest grey level of the ROI, ``p_x(i) = Σ_j p(i,j)``, ``p_y(j) = Σ_i p(i,j)``, ``μ_x = Σ i p(i,j)``,
``μ_y = Σ j p(i,j)``, ``p_{x+y}(k) = Σ_{i+j=k} p(i,j)`` (``k = 2..2N_g``), ``p_{x-y}(k) = Σ_{|i-j|=k} p(i,j)``
(``k = 0..N_g-1``), ``HXY = -Σ p log2(p + ε)``, ``ε`` = float64 machine epsilon.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import torch

from pdacrad.radiomics import _glcm_cpu, glcm_sparse
from pdacrad.radiomics.cooccurrence import (
    angle_weights,
    angles_from_settings,
    glcm_angles,
    pair_counts,
    prepare,
)
from pdacrad.radiomics.kernel import KernelBatch
from pdacrad.radiomics.registry import check_features, feature_registry

__all__ = ["FEATURES", "GLCMCoefficients", "coefficients", "compute", "glcm_angles", "prepare"]

EPS = float(torch.finfo(torch.float64).eps)
FEATURES, register = feature_registry()


class GLCMCoefficients:
    """Normalised GLCMs of a voxel batch and the sums features share, each computed once on first use.
    Shapes: ``B`` voxels, ``A`` angles, ``G`` grey levels present in the ROI; NaN for angles without pairs.

    Sums over the matrix are taken on the (integer) counts and divided once by the angle's total, so they are exact
    and a voxel's value never depends on the other voxels of its batch (no BLAS blocking effects)."""

    def __init__(self, counts: torch.Tensor, grey_levels: torch.Tensor, symmetric: bool):
        total = counts.sum((2, 3))
        self.total = torch.where(total == 0, torch.full_like(total, math.nan), total)  # (B, A)
        self.counts = counts  # (B, A, G, G)
        self.p = counts / self.total[:, :, None, None]  # (B, A, G, G) p(i, j)
        self.i = grey_levels[:, None]  # (G, 1) grey-level values as rows
        self.j = grey_levels[None, :]  # (1, G) as columns
        self.n_g = int(grey_levels.max().item())  # N_g, the largest grey level of the ROI
        self.symmetric = symmetric
        self._levels = grey_levels.round().to(torch.int64)

    @cached_property
    def px(self) -> torch.Tensor:
        """``(B, A, G)`` p_x(i)."""
        return self.p.sum(3)

    @cached_property
    def py(self) -> torch.Tensor:
        """``(B, A, G)`` p_y(j)."""
        return self.p.sum(2)

    @cached_property
    def ux(self) -> torch.Tensor:
        """``(B, A)`` μ_x."""
        return (self.i * self.p).sum((2, 3))

    @cached_property
    def uy(self) -> torch.Tensor:
        """``(B, A)`` μ_y."""
        return (self.j * self.p).sum((2, 3))

    def _projected(self, index: torch.Tensor, size: int) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(index, size).to(self.p)
        flat = self.counts.reshape(self.counts.shape[0], self.counts.shape[1], -1)
        return (flat @ onehot) / self.total[:, :, None]

    @cached_property
    def p_sum(self) -> torch.Tensor:
        """``(B, A, 2N_g - 1)`` p_{x+y}(k), k = 2..2N_g."""
        lv = self._levels
        return self._projected((lv[:, None] + lv[None, :] - 2).reshape(-1), 2 * self.n_g - 1)

    @cached_property
    def p_diff(self) -> torch.Tensor:
        """``(B, A, N_g)`` p_{x-y}(k), k = 0..N_g-1."""
        lv = self._levels
        return self._projected((lv[:, None] - lv[None, :]).abs().reshape(-1), self.n_g)

    @cached_property
    def k_sum(self) -> torch.Tensor:
        return torch.arange(2, 2 * self.n_g + 1, device=self.p.device, dtype=self.p.dtype)

    @cached_property
    def k_diff(self) -> torch.Tensor:
        return torch.arange(0, self.n_g, device=self.p.device, dtype=self.p.dtype)

    @cached_property
    def hxy(self) -> torch.Tensor:
        """``(B, A)`` HXY = -Σ p log2(p + ε)."""
        return -(self.p * torch.log2(self.p + EPS)).sum((2, 3))


def _angles(settings: Mapping[str, Any]) -> torch.Tensor:
    """The angles of the settings, less those without a pair in any kernel of the ROI (see :func:`prepare`)."""
    angles = angles_from_settings(settings)
    present = settings.get("_glcm_angles_present")
    if present is not None and len(angles) > 1 and not all(present) and any(present):
        angles = angles[torch.tensor(present, dtype=torch.bool)]
    return angles


def uses_sparse_path(features: Sequence[str], settings: Mapping[str, Any]) -> bool:
    """Whether :func:`compute` takes the sparse path (:mod:`pdacrad.radiomics.glcm_sparse`): every requested
    feature has a sparse form, the GLCM is symmetrical (default) and the angles are not merged by
    ``weightingNorm``. (With the asymmetric GLCM, a kernel whose p(i,j) equals p_x(i) p_y(j) in exact arithmetic
    gets from PyRadiomics a rounding-noise Imc2 of ~1e-8 instead of 0; the dense path reproduces that noise, the
    sparse one returns the exact 0, so the asymmetric case stays on the dense path.)"""
    return (
        settings.get("weightingNorm") is None
        and bool(settings.get("symmetricalGLCM", True))
        and set(features) <= set(glcm_sparse.FEATURES)
    )


def _compiled_features(settings: Mapping[str, Any]) -> bool:
    """Whether CPU batches get their features from :func:`pdacrad.radiomics._glcm_cpu.features`: the symmetrical
    GLCM without ``weightingNorm`` (the defaults). The asymmetric case keeps the torch formulas, which reproduce
    PyRadiomics' Imc2 rounding noise there (see :func:`uses_sparse_path`); merged angles keep them too."""
    return settings.get("weightingNorm") is None and bool(settings.get("symmetricalGLCM", True))


def coefficients(batch: KernelBatch, settings: Mapping[str, Any]) -> GLCMCoefficients:
    """Build the normalised GLCMs of ``batch`` (see the module docstring); derived sums are lazy."""
    angles = _angles(settings)
    if batch.device.type == "cpu":
        counts = _glcm_cpu.pair_counts(batch.levels, batch.offsets, angles, batch.n_levels).to(batch.dtype)
    else:
        counts = pair_counts(batch, angles)
    symmetric = bool(settings.get("symmetricalGLCM", True))
    if symmetric:
        counts = counts + counts.transpose(2, 3)
    norm = settings.get("weightingNorm")
    if norm is not None:
        weights = angle_weights(angles, norm, settings).to(counts)
        counts = (counts * weights[None, :, None, None]).sum(1, keepdim=True)
    return GLCMCoefficients(counts, batch.grey_levels, symmetric)


def _nanmean(x: torch.Tensor) -> torch.Tensor:
    return torch.nanmean(x, dim=1)


@register("Autocorrelation")
def autocorrelation(c: GLCMCoefficients) -> torch.Tensor:
    """Autocorrelation = Σ_i Σ_j p(i,j) i j (IBSI QWK9)."""
    return _nanmean((c.p * (c.i * c.j)).sum((2, 3)))


@register("JointAverage")
def joint_average(c: GLCMCoefficients) -> torch.Tensor:
    """Joint Average = μ_x = Σ_i Σ_j p(i,j) i, averaged over angles with a plain mean (an angle without pairs in
    this kernel makes it NaN, as in PyRadiomics). IBSI 60VM."""
    return c.ux.mean(1)


def _centred_sum_power(c: GLCMCoefficients, power: int) -> torch.Tensor:
    """Σ p(i,j) (i + j - μ_x - μ_y)^power averaged over angles; the squared centre is shared (cached)."""
    sq = c.__dict__.get("_centre_sq")
    if sq is None:
        centre = (c.i + c.j)[None, None] - c.ux[:, :, None, None] - c.uy[:, :, None, None]
        sq = c.__dict__["_centre_sq"] = (centre, centre * centre)
    centre, centre2 = sq
    term = {2: centre2, 3: centre2 * centre, 4: centre2 * centre2}[power]
    return _nanmean((c.p * term).sum((2, 3)))


@register("ClusterProminence")
def cluster_prominence(c: GLCMCoefficients) -> torch.Tensor:
    """Cluster Prominence = Σ_i Σ_j (i + j - μ_x - μ_y)⁴ p(i,j) (IBSI AE86)."""
    return _centred_sum_power(c, 4)


@register("ClusterShade")
def cluster_shade(c: GLCMCoefficients) -> torch.Tensor:
    """Cluster Shade = Σ_i Σ_j (i + j - μ_x - μ_y)³ p(i,j) (IBSI 7NFM)."""
    return _centred_sum_power(c, 3)


@register("ClusterTendency")
def cluster_tendency(c: GLCMCoefficients) -> torch.Tensor:
    """Cluster Tendency = Σ_i Σ_j (i + j - μ_x - μ_y)² p(i,j) (IBSI DG8W)."""
    return _centred_sum_power(c, 2)


@register("Contrast")
def contrast(c: GLCMCoefficients) -> torch.Tensor:
    """Contrast = Σ_i Σ_j (i - j)² p(i,j) (IBSI ACUI)."""
    return _nanmean((c.p * (c.i - c.j).abs() ** 2).sum((2, 3)))


@register("Correlation")
def correlation(c: GLCMCoefficients) -> torch.Tensor:
    """Correlation = (Σ_i Σ_j p(i,j)(i - μ_x)(j - μ_y)) / (σ_x σ_y + ε); 1 where σ_x σ_y = 0 (flat kernel).
    σ_x² = Σ p(i,j)(i - μ_x)², σ_y² likewise (IBSI NI2N).

    Computed as σ_x² = Σ_i p_x(i)(i - μ_x)² and Σ_i (i - μ_x) Σ_j p(i,j)(j - μ_y): the same sums regrouped, so
    only the inner sum touches the G×G matrix (a flat kernel still gives σ_x = 0 exactly: p_x is one-hot 1)."""
    di = c.i[None, None, :, 0] - c.ux[:, :, None]  # (B, A, G)
    dj = c.j[None, None, 0, :] - c.uy[:, :, None]
    sigx = (c.px * di * di).sum(2) ** 0.5
    sigy = (c.py * dj * dj).sum(2) ** 0.5
    corm = (torch.matmul(c.p, dj[..., None])[..., 0] * di).sum(2)
    corr = corm / (sigx * sigy + EPS)
    corr = torch.where(sigx * sigy == 0, torch.ones_like(corr), corr)
    return _nanmean(corr)


@register("DifferenceAverage")
def difference_average(c: GLCMCoefficients) -> torch.Tensor:
    """Difference Average = Σ_k k p_{x-y}(k) (IBSI TF7R)."""
    return _nanmean((c.k_diff * c.p_diff).sum(2))


@register("DifferenceEntropy")
def difference_entropy(c: GLCMCoefficients) -> torch.Tensor:
    """Difference Entropy = -Σ_k p_{x-y}(k) log2(p_{x-y}(k) + ε) (IBSI NTRS)."""
    return _nanmean(-(c.p_diff * torch.log2(c.p_diff + EPS)).sum(2))


@register("DifferenceVariance")
def difference_variance(c: GLCMCoefficients) -> torch.Tensor:
    """Difference Variance = Σ_k (k - DA)² p_{x-y}(k), DA the Difference Average (IBSI D3YU)."""
    avg = (c.k_diff * c.p_diff).sum(2, keepdim=True)
    return _nanmean((c.p_diff * (c.k_diff - avg) ** 2).sum(2))


@register("JointEnergy")
def joint_energy(c: GLCMCoefficients) -> torch.Tensor:
    """Joint Energy = Σ_i Σ_j p(i,j)² (IBSI 8ZQL, "angular second moment")."""
    return _nanmean((c.p**2).sum((2, 3)))


@register("JointEntropy")
def joint_entropy(c: GLCMCoefficients) -> torch.Tensor:
    """Joint Entropy = HXY = -Σ_i Σ_j p(i,j) log2(p(i,j) + ε) (IBSI TU9B)."""
    return _nanmean(c.hxy)


def _marginal_entropies(c: GLCMCoefficients) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """HX, HY, p_x(i) p_y(j) and log2(p_x(i) p_y(j) + ε), shared by Imc1 and Imc2 (cached on the coefficients:
    the log over the G×G outer product is the costliest pass of either feature)."""
    cached = c.__dict__.get("_marginals")
    if cached is not None:
        return cached
    pxy = c.px[:, :, :, None] * c.py[:, :, None, :]
    log_pxy = torch.log2(pxy + EPS)
    hx = -(c.px * torch.log2(c.px + EPS)).sum(2)
    hy = -(c.py * torch.log2(c.py + EPS)).sum(2)
    c.__dict__["_marginals"] = (hx, hy, pxy, log_pxy)
    return hx, hy, pxy, log_pxy


@register("Imc1")
def imc1(c: GLCMCoefficients) -> torch.Tensor:
    """Informational Measure of Correlation 1 = (HXY - HXY1) / max(HX, HY); 0 where max(HX, HY) = 0.
    HX, HY the entropies of p_x, p_y; HXY1 = -Σ p(i,j) log2(p_x(i) p_y(j) + ε) (IBSI R8DG)."""
    hx, hy, _, log_pxy = _marginal_entropies(c)
    hxy1 = -(c.p * log_pxy).sum((2, 3))
    div = torch.fmax(hx, hy)
    value = (c.hxy - hxy1) / torch.where(div == 0, torch.ones_like(div), div)
    return _nanmean(torch.where(div == 0, torch.zeros_like(value), value))


@register("Imc2")
def imc2(c: GLCMCoefficients) -> torch.Tensor:
    """Informational Measure of Correlation 2 = sqrt(1 - exp(-2 (HXY2 - HXY))); 0 where HXY2 = HXY exactly.
    HXY2 = -Σ p_x(i) p_y(j) log2(p_x(i) p_y(j) + ε) (IBSI JN9H)."""
    _, _, pxy, log_pxy = _marginal_entropies(c)
    hxy2 = -(pxy * log_pxy).sum((2, 3))
    value = (1 - torch.exp(-2 * (hxy2 - c.hxy))) ** 0.5
    return _nanmean(torch.where(hxy2 == c.hxy, torch.zeros_like(value), value))


@register("Idm")
def idm(c: GLCMCoefficients) -> torch.Tensor:
    """Inverse Difference Moment = Σ_k p_{x-y}(k) / (1 + k²) (IBSI WF0Z)."""
    return _nanmean((c.p_diff / (1 + c.k_diff**2)).sum(2))


@register("MCC")
def mcc(c: GLCMCoefficients) -> torch.Tensor:
    """Maximal Correlation Coefficient = sqrt(λ₂), λ₂ the second largest eigenvalue of
    Q(i,j) = Σ_k p(i,k) p(j,k) / (p_x(i) p_y(k)); 1 when the ROI has a single grey level.

    Q is similar to the symmetric positive semi-definite S = M Mᵀ, M(i,k) = p(i,k) / sqrt(p_x(i) p_y(k)), so the
    eigenvalues come from a batched symmetric solver (PyRadiomics uses a general LAPACK solver on Q with ``+ ε`` in
    the denominator; both agree to ~1e-9, the accuracy of the reference itself). Rounding noise below 0 is clamped.
    """
    if c.p.shape[-1] < 2:
        return torch.ones(c.p.shape[0], dtype=c.p.dtype, device=c.p.device)
    px = c.px[:, :, :, None]
    py = c.py[:, :, None, :]
    denom = torch.sqrt(px * py)
    m = torch.where(
        denom > 0, c.p / torch.where(denom > 0, denom, torch.ones_like(denom)), torch.zeros_like(c.p)
    )
    s = m @ m.transpose(2, 3)
    valid = ~torch.isnan(c.p[:, :, 0, 0])
    s = torch.where(valid[:, :, None, None], s, torch.zeros_like(s))
    second = torch.linalg.eigvalsh(s)[..., -2]
    value = torch.sqrt(second.clamp(min=0))
    return _nanmean(torch.where(valid, value, torch.full_like(value, math.nan)))


@register("Idmn")
def idmn(c: GLCMCoefficients) -> torch.Tensor:
    """Inverse Difference Moment Normalised = Σ_k p_{x-y}(k) / (1 + k²/N_g²) (IBSI 1QCO)."""
    return _nanmean((c.p_diff / (1 + (c.k_diff**2) / (c.n_g**2))).sum(2))


@register("Id")
def inverse_difference(c: GLCMCoefficients) -> torch.Tensor:
    """Inverse Difference = Σ_k p_{x-y}(k) / (1 + k) (IBSI IB1Z)."""
    return _nanmean((c.p_diff / (1 + c.k_diff)).sum(2))


@register("Idn")
def idn(c: GLCMCoefficients) -> torch.Tensor:
    """Inverse Difference Normalised = Σ_k p_{x-y}(k) / (1 + k/N_g) (IBSI NDRX)."""
    return _nanmean((c.p_diff / (1 + c.k_diff / c.n_g)).sum(2))


@register("InverseVariance")
def inverse_variance(c: GLCMCoefficients) -> torch.Tensor:
    """Inverse Variance = Σ_{k≥1} p_{x-y}(k) / k² (IBSI E8JP)."""
    return _nanmean((c.p_diff[:, :, 1:] / c.k_diff[1:] ** 2).sum(2))


@register("MaximumProbability")
def maximum_probability(c: GLCMCoefficients) -> torch.Tensor:
    """Maximum Probability = max p(i,j) (IBSI GYBY)."""
    return _nanmean(c.p.amax((2, 3)))


@register("SumAverage")
def sum_average(c: GLCMCoefficients) -> torch.Tensor:
    """Sum Average = Σ_k k p_{x+y}(k), k = 2..2N_g (IBSI ZGXS; = 2 × Joint Average when symmetric)."""
    return _nanmean((c.k_sum * c.p_sum).sum(2))


@register("SumEntropy")
def sum_entropy(c: GLCMCoefficients) -> torch.Tensor:
    """Sum Entropy = -Σ_k p_{x+y}(k) log2(p_{x+y}(k) + ε) (IBSI P6QZ)."""
    return _nanmean(-(c.p_sum * torch.log2(c.p_sum + EPS)).sum(2))


@register("SumSquares")
def sum_squares(c: GLCMCoefficients) -> torch.Tensor:
    """Sum of Squares = Σ_i Σ_j (i - μ_x)² p(i,j) (IBSI UR99, "joint variance")."""
    return _nanmean((c.p * (c.i[None, None] - c.ux[:, :, None, None]) ** 2).sum((2, 3)))


def compute(
    batch: KernelBatch, features: Sequence[str], settings: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """One ``(B,)`` tensor per requested GLCM feature (PyRadiomics names) for the kernels of ``batch``."""
    check_features("glcm", features, FEATURES)
    if batch.device.type == "cpu" and _compiled_features(settings):
        names = [name for name in features if name != "MCC"]
        out = {}
        if names:
            out = _glcm_cpu.features(batch.levels, batch.offsets, _angles(settings), batch.grey_levels, names)
        if "MCC" in features:  # eigenvalues: torch, on the compiled counts
            out["MCC"] = mcc(coefficients(batch, settings))
        return {name: out[name] for name in features}
    if uses_sparse_path(features, settings):
        sparse = glcm_sparse.SparseGLCM(batch, _angles(settings), bool(settings.get("symmetricalGLCM", True)))
        return {name: glcm_sparse.FEATURES[name](sparse) for name in features}
    coeffs = coefficients(batch, settings)
    return {name: FEATURES[name](coeffs) for name in features}
