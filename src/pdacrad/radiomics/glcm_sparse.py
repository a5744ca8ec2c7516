"""GLCM features from the non-zero co-occurrence entries only (the fast path of :mod:`pdacrad.radiomics.glcm`).

A kernel of ``K`` cells holds at most ``A·K`` pairs, while the dense matrices of PyRadiomics (and of
:class:`~pdacrad.radiomics.glcm.GLCMCoefficients`) hold ``A·G²`` cells per voxel: on filtered images with tens of
grey levels (wavelet ``LLL``: ~40) that is 10–20× more work than there are pairs. The features here need only
sums over the non-zero entries ``p(i,j)``, the marginals ``p_x, p_y`` (``G`` per angle) and, for Imc2, the products
``p_x(i) p_y(j)`` over the levels present in the kernel. Same formulas, symbols and NaN/branch conventions as
:mod:`pdacrad.radiomics.glcm` (whose docstrings are the specification); sums are regrouped, so values agree with
the dense path and PyRadiomics to rounding (~1e-15 relative).

Axis conventions: each entry belongs to one ``(voxel, angle)`` *block* ``v = voxel * A + angle``.
"""

from __future__ import annotations

import math
from functools import cached_property

import torch

from pdacrad.radiomics.cooccurrence import sparse_pair_counts
from pdacrad.radiomics.kernel import KernelBatch
from pdacrad.radiomics.registry import feature_registry

EPS = float(torch.finfo(torch.float64).eps)
FEATURES, register = feature_registry()


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[index]`` for 1-D ``values`` (``index_select``: several times faster than indexing on CPU)."""
    return values.index_select(0, index)


def _sum_by(index: torch.Tensor, values: torch.Tensor, size: int) -> torch.Tensor:
    """``out[v] = Σ values[e]`` over entries with ``index[e] == v`` (in entry order on CPU)."""
    return values.new_zeros(size).index_add_(0, index, values)


class SparseGLCM:
    """Non-zero GLCM entries of a voxel batch and the per-block sums the features share (computed on first use).

    Attributes:
        block, i, j: ``(E,)`` int64 block index and level indices ``1..G`` of each entry, ascending by
            ``(block, i, j)``.
        p: ``(E,)`` ``p(i,j)`` of each entry (count / block total).
        total: ``(V,)`` pairs per block, ``V = B·A`` (0 for an angle without pairs in that kernel).
        levels: ``(G + 1,)`` grey-level values by level index (index 0 unused).
    """

    def __init__(self, batch: KernelBatch, angles: torch.Tensor, symmetric: bool):
        g1 = batch.n_levels + 1
        codes, counts = sparse_pair_counts(batch, angles, symmetric)
        self.n_voxels, self.n_angles, self.g1, self.symmetric = batch.n_voxels, len(angles), g1, symmetric
        self.n_blocks = batch.n_voxels * len(angles)
        self.block, self.i, self.j = codes // (g1 * g1), (codes // g1) % g1, codes % g1
        counts = counts.to(batch.dtype)
        self.total = _sum_by(self.block, counts, self.n_blocks)
        self.p = counts / _take(self.total, self.block)
        self.levels = torch.cat([batch.grey_levels.new_zeros(1), batch.grey_levels])

    def per_voxel(self, value: torch.Tensor) -> torch.Tensor:
        """``(V,)`` per-block values → ``(B,)`` ``nanmean`` over angles (NaN for angles without pairs)."""
        value = torch.where(self.total == 0, torch.full_like(value, math.nan), value)
        return torch.nanmean(value.reshape(self.n_voxels, self.n_angles), dim=1)

    @cached_property
    def px(self) -> torch.Tensor:
        """``(V, G + 1)`` p_x(i) (column 0 unused, 0)."""
        return _sum_by(self.block * self.g1 + self.i, self.p, self.n_blocks * self.g1).reshape(-1, self.g1)

    @cached_property
    def py(self) -> torch.Tensor:
        """``(V, G + 1)`` p_y(j); equal to p_x for the symmetrical GLCM."""
        if self.symmetric:
            return self.px
        return _sum_by(self.block * self.g1 + self.j, self.p, self.n_blocks * self.g1).reshape(-1, self.g1)

    @cached_property
    def ux(self) -> torch.Tensor:
        """``(V,)`` μ_x = Σ_i i p_x(i)."""
        return (self.px * self.levels).sum(1)

    @cached_property
    def uy(self) -> torch.Tensor:
        """``(V,)`` μ_y."""
        return (self.py * self.levels).sum(1)

    @cached_property
    def hxy(self) -> torch.Tensor:
        """``(V,)`` HXY = -Σ p log2(p + ε) over the non-zero entries (zero entries add exactly 0)."""
        return -_sum_by(self.block, self.p * torch.log2(self.p + EPS), self.n_blocks)

    @cached_property
    def hx(self) -> torch.Tensor:
        """``(V,)`` HX, the entropy of p_x."""
        return -(self.px * torch.log2(self.px + EPS)).sum(1)

    @cached_property
    def hy(self) -> torch.Tensor:
        """``(V,)`` HY, the entropy of p_y."""
        return self.hx if self.symmetric else -(self.py * torch.log2(self.py + EPS)).sum(1)

    @cached_property
    def pxy(self) -> torch.Tensor:
        """``(E,)`` p_x(i) p_y(j) at each entry."""
        row = self.block * self.g1
        return _take(self.px.reshape(-1), row + self.i) * _take(self.py.reshape(-1), row + self.j)

    @cached_property
    def hxy2(self) -> torch.Tensor:
        """``(V,)`` HXY2 = -Σ_{i,j} p_x(i) p_y(j) log2(p_x(i) p_y(j) + ε), in O(G) per block.

        Σ_{i,j} x_i y_j log2(x_i y_j) = S_y Σ_i x_i log2 x_i + S_x Σ_j y_j log2 y_j (S the sums of the marginals),
        and the ε inside the log adds Σ x_i y_j log2(1 + ε/(x_i y_j)) = n_x n_y ε / ln 2 over the n_x × n_y present
        pairs (every product is ≥ 1/total² ≫ ε, so the first-order term is exact to ~1e-9 of a ~1e-13 quantity).
        The G×G sum of PyRadiomics is thus replaced by sums over G; Imc2's exact-equality branch is decided by
        :attr:`independent` instead of comparing rounded sums."""
        px, py = self.px, self.py
        x_log = torch.where(px > 0, px * torch.log2(torch.where(px > 0, px, 1.0)), 0.0).sum(1)
        y_log = torch.where(py > 0, py * torch.log2(torch.where(py > 0, py, 1.0)), 0.0).sum(1)
        n_pairs = (px > 0).sum(1).to(px.dtype) * (py > 0).sum(1).to(px.dtype)
        return -(py.sum(1) * x_log + px.sum(1) * y_log) - n_pairs * (EPS / math.log(2))

    @cached_property
    def independent(self) -> torch.Tensor:
        """``(V,)`` bool: p(i,j) = p_x(i) p_y(j) bit for bit at every (i, j) of the block (every present pair is
        an entry, and no entry differs), the case where PyRadiomics' HXY2 and HXY are sums of identical terms."""
        differ = _sum_by(self.block, (self.p != self.pxy).to(self.p.dtype), self.n_blocks)
        entries = torch.bincount(self.block, minlength=self.n_blocks).to(self.p.dtype)
        n_pairs = (self.px > 0).sum(1).to(self.p.dtype) * (self.py > 0).sum(1).to(self.p.dtype)
        return (differ == 0) & (entries == n_pairs)


@register("Correlation")
def correlation(c: SparseGLCM) -> torch.Tensor:
    """Correlation = (Σ_i Σ_j p(i,j)(i - μ_x)(j - μ_y)) / (σ_x σ_y + ε); 1 where σ_x σ_y = 0 (IBSI NI2N), with
    σ_x² = Σ_i p_x(i)(i - μ_x)² (a flat kernel has p_x one-hot 1, so σ_x = 0 exactly)."""
    sigx = (c.px * (c.levels[None, :] - c.ux[:, None]) ** 2).sum(1) ** 0.5
    sigy = (c.py * (c.levels[None, :] - c.uy[:, None]) ** 2).sum(1) ** 0.5
    di = _take(c.levels, c.i) - _take(c.ux, c.block)
    dj = _take(c.levels, c.j) - _take(c.uy, c.block)
    corm = _sum_by(c.block, c.p * di * dj, c.n_blocks)
    corr = corm / (sigx * sigy + EPS)
    return c.per_voxel(torch.where(sigx * sigy == 0, torch.ones_like(corr), corr))


@register("JointEntropy")
def joint_entropy(c: SparseGLCM) -> torch.Tensor:
    """Joint Entropy = HXY = -Σ_i Σ_j p(i,j) log2(p(i,j) + ε) (IBSI TU9B)."""
    return c.per_voxel(c.hxy)


@register("Imc1")
def imc1(c: SparseGLCM) -> torch.Tensor:
    """Imc1 = (HXY - HXY1) / max(HX, HY), 0 where max(HX, HY) = 0; HXY1 = -Σ p(i,j) log2(p_x(i) p_y(j) + ε)
    over the non-zero p(i,j) (IBSI R8DG)."""
    hxy1 = -_sum_by(c.block, c.p * torch.log2(c.pxy + EPS), c.n_blocks)
    div = torch.fmax(c.hx, c.hy)
    value = (c.hxy - hxy1) / torch.where(div == 0, torch.ones_like(div), div)
    return c.per_voxel(torch.where(div == 0, torch.zeros_like(value), value))


@register("Imc2")
def imc2(c: SparseGLCM) -> torch.Tensor:
    """Imc2 = sqrt(1 - exp(-2 (HXY2 - HXY))), 0 where HXY2 = HXY exactly, i.e. where p = p_x p_y
    (:attr:`SparseGLCM.independent`) (IBSI JN9H)."""
    value = (1 - torch.exp(-2 * (c.hxy2 - c.hxy))).clamp(min=0) ** 0.5
    return c.per_voxel(torch.where(c.independent, torch.zeros_like(value), value))
