"""First-order (intensity histogram) features, voxel-wise, PyRadiomics 3.1 semantics.

Symbols: ``X`` the raw intensities of the ``N_p`` kernel voxels inside ``maskArray`` (NaN cells excluded),
``X̄`` their mean, ``c`` = ``voxelArrayShift`` (default 0), ``p(i)`` the fraction of kernel voxels in discretised
grey level ``i`` (bins of the whole ROI), ``V`` the voxel volume in mm³, ``ε`` float64 machine epsilon.
Percentiles interpolate linearly (numpy's default), as in PyRadiomics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import torch

from pdacrad.radiomics.backend import Backend, BatchCost, kernel_cost
from pdacrad.radiomics.family import (
    NO_CONTEXT,
    FamilyContext,
    KernelShape,
    always_gathers,
    nothing_to_prepare,
    registered_compute,
)
from pdacrad.radiomics.kernel import KernelBatch
from pdacrad.radiomics.registry import feature_registry

EPS = float(torch.finfo(torch.float64).eps)
FEATURES, register = feature_registry()
READS_VALUES = True
"""The kernels carry the raw intensities (the engine core gathers them beside the grey levels)."""


class FirstOrderCoefficients:
    """Kernels of a voxel batch: ``x`` ``(B, K)`` intensities (NaN outside the kernel), ``valid`` its mask,
    ``p`` ``(B, G)`` grey-level fractions, ``shift`` ``c``, ``context`` the engine's (its spacing gives
    :attr:`voxel_volume`). Derived sums (sorted values, mean) are computed once, on first use."""

    def __init__(
        self, x: torch.Tensor, valid: torch.Tensor, p: torch.Tensor, shift: float, context: FamilyContext
    ):
        self.x = x
        self.valid = valid
        self.p = p
        self.shift = shift
        self.context = context

    @cached_property
    def voxel_volume(self) -> float:
        """``V`` in mm³, from the context's spacing (:class:`~pdacrad.errors.InvalidInputError` without one)."""
        z, y, x = self.context.voxel_spacing("firstorder TotalEnergy")
        return z * y * x

    @cached_property
    def n(self) -> torch.Tensor:
        """``(B,)`` N_p, voxels per kernel."""
        return self.valid.sum(1)

    @cached_property
    def sorted_x(self) -> torch.Tensor:
        """``(B, K)`` values ascending, NaN last (one sort serves every percentile)."""
        return torch.sort(self.x, dim=1).values

    def percentile(self, q: float) -> torch.Tensor:
        """numpy's ``nanpercentile`` with linear interpolation: position ``q/100 · (N_p - 1)`` in sorted order."""
        pos = (q / 100.0) * (self.n - 1).to(self.x.dtype)
        lo = pos.floor().to(torch.int64)
        hi = torch.minimum(lo + 1, self.n - 1)
        a = self.sorted_x.gather(1, lo[:, None])[:, 0]
        b = self.sorted_x.gather(1, hi[:, None])[:, 0]
        t = pos - lo.to(pos.dtype)
        # numpy's _lerp: a + t (b - a), mirrored for t >= 0.5 so that t = 1 returns b exactly
        return torch.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)

    @cached_property
    def mean_x(self) -> torch.Tensor:
        return torch.nanmean(self.x, dim=1)

    def mean(self) -> torch.Tensor:
        return self.mean_x

    def moment(self, order: int) -> torch.Tensor:
        centred = self.x - self.mean()[:, None]
        return torch.nanmean(centred**order, dim=1)


def coefficients(
    batch: KernelBatch, settings: Mapping[str, Any], context: FamilyContext = NO_CONTEXT
) -> FirstOrderCoefficients:
    """Intensities and grey-level fractions of ``batch`` (needs ``batch.values``); TotalEnergy needs ``context``'s
    spacing."""
    if batch.values is None:
        raise ValueError("firstorder needs KernelBatch.values (raw intensities)")
    valid = batch.levels > 0
    x = torch.where(valid, batch.values, torch.full_like(batch.values, float("nan")))
    g = batch.n_levels
    counts = torch.zeros((batch.n_voxels, g + 1), dtype=batch.dtype, device=batch.device)
    counts.scatter_add_(1, batch.levels, torch.ones_like(batch.values))
    counts = counts[:, 1:]
    total = counts.sum(1, keepdim=True)
    p = counts / torch.where(total == 0, torch.ones_like(total), total)
    return FirstOrderCoefficients(x, valid, p, float(settings.get("voxelArrayShift", 0)), context)


def _energy(c: FirstOrderCoefficients) -> torch.Tensor:
    return torch.where(c.valid, (c.x + c.shift) ** 2, torch.zeros_like(c.x)).sum(1)


@register("Energy")
def energy(c: FirstOrderCoefficients) -> torch.Tensor:
    """Energy = Σ (X(i) + c)² (IBSI N8CA with c = 0)."""
    return _energy(c)


@register("TotalEnergy")
def total_energy(c: FirstOrderCoefficients) -> torch.Tensor:
    """Total Energy = V Σ (X(i) + c)², V the voxel volume in mm³ (not in IBSI)."""
    return _energy(c) * c.voxel_volume


@register("Entropy")
def entropy(c: FirstOrderCoefficients) -> torch.Tensor:
    """Entropy = -Σ_i p(i) log2(p(i) + ε) over discretised grey levels (IBSI TLU2)."""
    return -(c.p * torch.log2(c.p + EPS)).sum(1)


@register("Minimum")
def minimum(c: FirstOrderCoefficients) -> torch.Tensor:
    """Minimum = min X (IBSI 1GSF)."""
    return torch.where(c.valid, c.x, torch.full_like(c.x, float("inf"))).amin(1)


@register("10Percentile")
def percentile10(c: FirstOrderCoefficients) -> torch.Tensor:
    """10th percentile of X, linear interpolation (IBSI QG58)."""
    return c.percentile(10)


@register("90Percentile")
def percentile90(c: FirstOrderCoefficients) -> torch.Tensor:
    """90th percentile of X, linear interpolation (IBSI 8DWT)."""
    return c.percentile(90)


@register("Maximum")
def maximum(c: FirstOrderCoefficients) -> torch.Tensor:
    """Maximum = max X (IBSI 84IY)."""
    return torch.where(c.valid, c.x, torch.full_like(c.x, -float("inf"))).amax(1)


@register("Mean")
def mean(c: FirstOrderCoefficients) -> torch.Tensor:
    """Mean = (1/N_p) Σ X(i) (IBSI Q4LE)."""
    return c.mean()


@register("Median")
def median(c: FirstOrderCoefficients) -> torch.Tensor:
    """Median of X; the mean of the two middle values for even N_p, as numpy (IBSI Y12H)."""
    return c.percentile(50)


@register("InterquartileRange")
def interquartile_range(c: FirstOrderCoefficients) -> torch.Tensor:
    """Interquartile Range = P75 - P25 (IBSI SALO)."""
    return c.percentile(75) - c.percentile(25)


@register("Range")
def value_range(c: FirstOrderCoefficients) -> torch.Tensor:
    """Range = max X - min X (IBSI 2OJQ)."""
    return maximum(c) - minimum(c)


@register("MeanAbsoluteDeviation")
def mean_absolute_deviation(c: FirstOrderCoefficients) -> torch.Tensor:
    """Mean Absolute Deviation = (1/N_p) Σ |X(i) - X̄| (IBSI 4FUA)."""
    return torch.nanmean((c.x - c.mean()[:, None]).abs(), dim=1)


@register("RobustMeanAbsoluteDeviation")
def robust_mean_absolute_deviation(c: FirstOrderCoefficients) -> torch.Tensor:
    """Robust Mean Absolute Deviation: the mean absolute deviation of the values with P10 ≤ X ≤ P90 from their
    own mean (IBSI 1128)."""
    # The inclusion test runs in float64 even on the float32 path: a value equal to P10/P90 must not flip in or out
    # with the rounding of the interpolated percentile.
    x64 = c.x.to(torch.float64)
    if c.x.dtype == torch.float64:
        p10, p90 = c.percentile(10)[:, None], c.percentile(90)[:, None]
    else:
        p10 = torch.nanquantile(x64, 0.1, dim=1)[:, None]
        p90 = torch.nanquantile(x64, 0.9, dim=1)[:, None]
    keep = c.valid & (x64 >= p10) & (x64 <= p90)
    x = torch.where(keep, c.x, torch.full_like(c.x, float("nan")))
    return torch.nanmean((x - torch.nanmean(x, dim=1, keepdim=True)).abs(), dim=1)


@register("RootMeanSquared")
def root_mean_squared(c: FirstOrderCoefficients) -> torch.Tensor:
    """Root Mean Squared = sqrt((1/N_p) Σ (X(i) + c)²) (IBSI 5ZWQ with c = 0)."""
    return torch.sqrt(_energy(c) / c.valid.sum(1).to(c.x.dtype))


@register("Skewness")
def skewness(c: FirstOrderCoefficients) -> torch.Tensor:
    """Skewness = m₃ / m₂^1.5 with mₖ = (1/N_p) Σ (X(i) - X̄)ᵏ; m₂ = 0 (flat kernel) is taken as 1, so a flat
    kernel gives m₃ = 0 (IBSI KE2A)."""
    m2 = c.moment(2)
    m2 = torch.where(m2 == 0, torch.ones_like(m2), m2)
    return c.moment(3) / m2**1.5


@register("Kurtosis")
def kurtosis(c: FirstOrderCoefficients) -> torch.Tensor:
    """Kurtosis = m₄ / m₂² (not excess kurtosis: IBSI IPH6 subtracts 3); m₂ = 0 is taken as 1."""
    m2 = c.moment(2)
    m2 = torch.where(m2 == 0, torch.ones_like(m2), m2)
    return c.moment(4) / m2**2.0


@register("Variance")
def variance(c: FirstOrderCoefficients) -> torch.Tensor:
    """Variance = m₂ = (1/N_p) Σ (X(i) - X̄)² (IBSI ECT3), computed as PyRadiomics does (std, then squared)."""
    return torch.sqrt(c.moment(2)) ** 2


@register("Uniformity")
def uniformity(c: FirstOrderCoefficients) -> torch.Tensor:
    """Uniformity = Σ_i p(i)² (IBSI BJ5W, "energy" of the grey-level histogram)."""
    return (c.p**2).sum(1)


compute = registered_compute("firstorder", FEATURES, coefficients)
prepare = nothing_to_prepare
needs_kernels = always_gathers


def batch_cost(
    backend: Backend, shape: KernelShape, features: Sequence[str], settings: Mapping[str, Any]
) -> BatchCost:
    """Memory per voxel of :func:`compute` on ``backend`` (kernels and per-cell histograms)."""
    return BatchCost(kernel_cost(shape.n_cells, shape.n_levels))
