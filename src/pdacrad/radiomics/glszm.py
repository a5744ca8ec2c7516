"""Grey Level Size Zone Matrix (GLSZM) features of voxel kernels, PyRadiomics-exact.

A *zone* is a connected set of kernel voxels with the same grey level (26-connectivity in 3D, 8 with
``force2D``; PyRadiomics 3.1 ``cmatrices.c: calculate_glszm`` grows regions over the kernel's bounding box,
restricted to ``maskArray``). :math:`P(i, j)` counts zones of grey level :math:`i` and size :math:`j` voxels.

On CPU, zones are found kernel by kernel by a compiled union-find scan (:mod:`pdacrad.radiomics.counting.zones_cpu`).
Elsewhere (CUDA) they are found for all kernels of a batch at once by min-label propagation
(:func:`zone_labels`): every ROI cell starts with its own index as label, takes the smallest label of its
same-level neighbours (sweeping the 26 neighbour directions in turn), then jumps to its label's label; this
repeats until no label changes, leaving each cell labelled with the smallest cell index of its zone. Sweeps grow
with the zone diameter (about 6 at radius 2), not with the kernel volume; each is a gather over ``(B, K)``. Both
give the same zone list, in the same order.

Symbols: :math:`N_z = \\sum P` zones (1 where 0), :math:`N_p = \\sum_j p_s(j)\\, j` voxels in zones (1 where 0),
:math:`p_g(i) = \\sum_j P(i, j)`, :math:`p_s(j) = \\sum_i P(i, j)`, :math:`i` grey-level values, :math:`j` sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from pdacrad.radiomics.backend import COMPILED_BATCH, Backend, BatchCost, backend_of, kernel_cost
from pdacrad.radiomics.counting import common, zones_cpu
from pdacrad.radiomics.family import FamilyContext, KernelShape, nothing_to_prepare, registered_compute
from pdacrad.radiomics.kernel import KernelBatch
from pdacrad.radiomics.registry import feature_registry

FEATURES, register = feature_registry()
READS_VALUES = False


@dataclass(frozen=True)
class SizeZones:
    """The zones of ``B`` kernels, as a list (a dense ``(B, G, K)`` matrix would be mostly zeros).

    Attributes:
        voxel: ``(Z,)`` int64 kernel (batch row) of each zone.
        level: ``(Z,)`` int64 grey-level index ``1..G`` of each zone.
        size: ``(Z,)`` int64 zone size in voxels.
        n_voxels: ``B``.
        max_size: ``K``, the kernel's cell count (the largest possible zone).
        ivector: ``(G,)`` grey-level values.
    """

    voxel: torch.Tensor
    level: torch.Tensor
    size: torch.Tensor
    n_voxels: int
    max_size: int
    ivector: torch.Tensor

    @property
    def dtype(self) -> torch.dtype:
        return self.ivector.dtype

    def per_voxel(self, values: torch.Tensor) -> torch.Tensor:
        """``(B,)`` sum of a per-zone quantity ``values`` ``(Z,)`` over each kernel's zones."""
        out = values.new_zeros(self.n_voxels)
        return out.index_add_(0, self.voxel, values)

    @cached_property
    def jvector(self) -> torch.Tensor:
        """``(K,)`` sizes ``1..K``, the columns of :meth:`joint_sum`'s weight tables (PyRadiomics stops at the
        batch's largest zone; a fixed length keeps the tables independent of the batch)."""
        return torch.arange(1, self.max_size + 1, dtype=self.dtype, device=self.ivector.device)

    @cached_property
    def sizes(self) -> torch.Tensor:
        """``(Z,)`` zone sizes as floats (sums over sizes are taken zone by zone:
        :math:`\\sum_j p_s(j)\\, f(j)` is the sum of :math:`f(\\text{size})` over the kernel's zones, ``O(Z)``
        instead of a mostly-zero ``(B, K)`` :math:`p_s`)."""
        return self.size.to(self.dtype)

    @cached_property
    def ps_entries(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The non-zero entries of :math:`p_s`: ``(voxel, count)``, each ``(E,)``, ordered by voxel, then size."""
        s = self.max_size + 1
        uniq, counts = torch.unique(self.voxel * s + self.size, return_counts=True)
        return uniq // s, counts.to(self.dtype)

    @cached_property
    def pg(self) -> torch.Tensor:
        """``(B, G)`` zones per grey level."""
        g = self.ivector.shape[0]
        flat = self.voxel * g + self.level - 1
        ones = torch.ones_like(flat, dtype=self.dtype)
        return ones.new_zeros(self.n_voxels * g).index_add_(0, flat, ones).reshape(self.n_voxels, g)

    @cached_property
    def Nz(self) -> torch.Tensor:
        """``(B,)`` number of zones (1 where there are none, as PyRadiomics)."""
        nz = self.pg.sum(dim=1)
        return torch.where(nz == 0, torch.ones_like(nz), nz)

    @cached_property
    def Np(self) -> torch.Tensor:
        """``(B,)`` voxels in zones (1 where none)."""
        n = self.per_voxel(self.sizes)
        return torch.where(n == 0, torch.ones_like(n), n)

    @cached_property
    def joint(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The non-zero entries of :math:`P`: ``(voxel, level index, size, count)``, each ``(E,)``."""
        g, s = self.ivector.shape[0] + 1, self.jvector.shape[0] + 1
        code = (self.voxel * g + self.level) * s + self.size
        uniq, counts = torch.unique(code, return_counts=True)
        return uniq // (g * s), (uniq // s) % g, uniq % s, counts.to(self.dtype)

    def joint_sum(self, weight: torch.Tensor) -> torch.Tensor:
        """``(B,)`` :math:`\\sum_{i,j} P(i,j)\\, w(i,j)` for ``weight`` ``(G, S)`` indexed by level index - 1, size - 1."""
        vox, lev, size, count = self.joint
        return count.new_zeros(self.n_voxels).index_add_(0, vox, count * weight[lev - 1, size - 1])


@register("SmallAreaEmphasis")
def small_area_emphasis(z: SizeZones) -> torch.Tensor:
    """SAE = :math:`\\sum_j p_s(j) / j^2 \\,/\\, N_z` (IBSI 5QRC)."""
    return z.per_voxel(1 / z.sizes**2) / z.Nz


@register("LargeAreaEmphasis")
def large_area_emphasis(z: SizeZones) -> torch.Tensor:
    """LAE = :math:`\\sum_j p_s(j)\\, j^2 \\,/\\, N_z` (IBSI 48P8)."""
    return z.per_voxel(z.sizes**2) / z.Nz


@register("GrayLevelNonUniformity")
def gray_level_non_uniformity(z: SizeZones) -> torch.Tensor:
    """GLN = :math:`\\sum_i p_g(i)^2 \\,/\\, N_z` (IBSI JNSA)."""
    return torch.sum(z.pg**2, dim=1) / z.Nz


@register("GrayLevelNonUniformityNormalized")
def gray_level_non_uniformity_normalized(z: SizeZones) -> torch.Tensor:
    """GLNN = :math:`\\sum_i p_g(i)^2 \\,/\\, N_z^2` (IBSI Y1RO)."""
    return torch.sum(z.pg**2, dim=1) / z.Nz**2


@register("SizeZoneNonUniformity")
def size_zone_non_uniformity(z: SizeZones) -> torch.Tensor:
    """SZN = :math:`\\sum_j p_s(j)^2 \\,/\\, N_z` (IBSI 4JP3)."""
    return _sum_ps_squared(z) / z.Nz


@register("SizeZoneNonUniformityNormalized")
def size_zone_non_uniformity_normalized(z: SizeZones) -> torch.Tensor:
    """SZNN = :math:`\\sum_j p_s(j)^2 \\,/\\, N_z^2` (IBSI VB3A)."""
    return _sum_ps_squared(z) / z.Nz**2


def _sum_ps_squared(z: SizeZones) -> torch.Tensor:
    """``(B,)`` :math:`\\sum_j p_s(j)^2`."""
    voxel, count = z.ps_entries
    return count.new_zeros(z.n_voxels).index_add_(0, voxel, count**2)


@register("ZonePercentage")
def zone_percentage(z: SizeZones) -> torch.Tensor:
    """ZP = :math:`N_z / N_p` (IBSI P30P)."""
    return z.Nz / z.Np


@register("GrayLevelVariance")
def gray_level_variance(z: SizeZones) -> torch.Tensor:
    """GLV = :math:`\\sum_i p_g(i)/N_z\\,(i - \\mu)^2`, :math:`\\mu = \\sum_i p_g(i)/N_z\\, i` (IBSI BYLV)."""
    pg = z.pg / z.Nz[:, None]
    mu = torch.sum(pg * z.ivector, dim=1, keepdim=True)
    return torch.sum(pg * (z.ivector - mu) ** 2, dim=1)


@register("ZoneVariance")
def zone_variance(z: SizeZones) -> torch.Tensor:
    """ZV = :math:`\\sum_j p_s(j)/N_z\\,(j - \\mu)^2`, :math:`\\mu = \\sum_j p_s(j)/N_z\\, j` (IBSI 3NSA)."""
    mu = z.per_voxel(z.sizes) / z.Nz
    return z.per_voxel((z.sizes - mu[z.voxel]) ** 2) / z.Nz


@register("ZoneEntropy")
def zone_entropy(z: SizeZones) -> torch.Tensor:
    """ZE = :math:`-\\sum_{i,j} p(i,j) \\log_2(p(i,j) + \\epsilon)`, :math:`p = P / N_z`, :math:`\\epsilon` =
    2.2e-16 (IBSI GU8N)."""
    vox, _, _, count = z.joint
    p = count / z.Nz[vox]
    return -count.new_zeros(z.n_voxels).index_add_(0, vox, p * torch.log2(p + common.EPS))


@register("LowGrayLevelZoneEmphasis")
def low_gray_level_zone_emphasis(z: SizeZones) -> torch.Tensor:
    """LGLZE = :math:`\\sum_i p_g(i) / i^2 \\,/\\, N_z` (IBSI XMSY)."""
    return torch.sum(z.pg / z.ivector**2, dim=1) / z.Nz


@register("HighGrayLevelZoneEmphasis")
def high_gray_level_zone_emphasis(z: SizeZones) -> torch.Tensor:
    """HGLZE = :math:`\\sum_i p_g(i)\\, i^2 \\,/\\, N_z` (IBSI 5GN9)."""
    return torch.sum(z.pg * z.ivector**2, dim=1) / z.Nz


@register("SmallAreaLowGrayLevelEmphasis")
def small_area_low_gray_level_emphasis(z: SizeZones) -> torch.Tensor:
    """SALGLE = :math:`\\sum_{i,j} P(i,j) / (i^2 j^2) \\,/\\, N_z` (IBSI 5RAI)."""
    return z.joint_sum(1 / (z.ivector[:, None] ** 2 * z.jvector[None, :] ** 2)) / z.Nz


@register("SmallAreaHighGrayLevelEmphasis")
def small_area_high_gray_level_emphasis(z: SizeZones) -> torch.Tensor:
    """SAHGLE = :math:`\\sum_{i,j} P(i,j)\\, i^2 / j^2 \\,/\\, N_z` (IBSI HW1V)."""
    return z.joint_sum(z.ivector[:, None] ** 2 / z.jvector[None, :] ** 2) / z.Nz


@register("LargeAreaLowGrayLevelEmphasis")
def large_area_low_gray_level_emphasis(z: SizeZones) -> torch.Tensor:
    """LALGLE = :math:`\\sum_{i,j} P(i,j)\\, j^2 / i^2 \\,/\\, N_z` (IBSI YH51)."""
    return z.joint_sum(z.jvector[None, :] ** 2 / z.ivector[:, None] ** 2) / z.Nz


@register("LargeAreaHighGrayLevelEmphasis")
def large_area_high_gray_level_emphasis(z: SizeZones) -> torch.Tensor:
    """LAHGLE = :math:`\\sum_{i,j} P(i,j)\\, i^2 j^2 \\,/\\, N_z` (IBSI J17V)."""
    return z.joint_sum(z.ivector[:, None] ** 2 * z.jvector[None, :] ** 2) / z.Nz


def zone_labels(levels: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` int64: for each kernel cell in the ROI, the smallest cell index of its zone (same level,
    26-/8-connected inside the kernel); ``K`` for cells outside the kernel."""
    b, k = levels.shape
    neighbours = common.neighbour_table(offsets, common.angles(offsets, (1,), bidirectional=True))
    # Cell-major layout (K + 1, B): a neighbour lookup copies whole contiguous rows.
    padded = common.pad_levels(common.narrow_levels(levels, 0)).T.contiguous()
    inside = padded[:k] > 0
    # int16 labels (K <= 32767) halve the memory traffic of the sweeps; row K stays K ("no label").
    label_dtype = torch.int16 if k < torch.iinfo(torch.int16).max else torch.int64
    # Per direction, K where the neighbour is not linked (outside the kernel or of another level), else 0: the
    # max with it turns an unlinked candidate into "no label" (cheaper than a masked fill).
    unlinked = [
        ((~inside | (padded.index_select(0, nb) != padded[:k])).to(label_dtype) * k) for nb in neighbours
    ]
    label = torch.full((k + 1, b), k, dtype=label_dtype, device=levels.device)
    cells = torch.arange(k, dtype=label_dtype, device=levels.device)[:, None].expand(k, b)
    label[:k] = torch.where(inside, cells, label[:k])
    view = label[:k]
    while True:
        before = view.clone()
        for nb, off in zip(neighbours, unlinked, strict=True):
            # Gauss-Seidel: each direction already sees the labels lowered by the previous one.
            torch.minimum(view, torch.maximum(label.index_select(0, nb), off), out=view)
        for _ in range(2):  # pointer jumping: a label's label is in the same zone and no larger
            view.copy_(label.gather(0, view.long()))
        if torch.equal(view, before):
            return view.T.long()


def propagated_zone_list(
    levels: torch.Tensor, offsets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The zones of every kernel row of ``levels`` ``(B, K)`` by :func:`zone_labels` (any device): ``(voxel,
    level, size)``, each ``(Z,)`` int64, ordered by row, then by the zone's smallest cell index."""
    label = zone_labels(levels, offsets)
    k = label.shape[1]
    sizes = common.histogram(label, torch.ones_like(label), k + 1)
    roots = label == torch.arange(k, device=label.device)
    voxel, cell = torch.nonzero(roots, as_tuple=True)
    return voxel, levels[voxel, cell], sizes[voxel, cell]


def size_zones(batch: KernelBatch) -> SizeZones:
    """The zones of every kernel of ``batch``: compiled union-find on the compiled backend, torch label
    propagation on the torch backend."""
    if backend_of(batch).compiled:
        voxel, level, size = zones_cpu.zone_list(batch)
    else:
        voxel, level, size = propagated_zone_list(batch.levels, batch.offsets.to(batch.device))
    return SizeZones(
        voxel=voxel,
        level=level,
        size=size,
        n_voxels=batch.n_voxels,
        max_size=len(batch.offsets),
        ivector=batch.grey_levels,
    )


prepare = nothing_to_prepare
needs_kernels = common.needs_kernels_off_compiled


def zones_of(batch: KernelBatch, settings: Mapping[str, Any], context: FamilyContext) -> SizeZones:
    """:func:`size_zones` of ``batch``: no setting changes GLSZM beyond the kernel itself (connectivity follows
    the kernel's shape: ``force2D`` kernels are flat), and nothing is prepared. Batch-invariant."""
    return size_zones(batch)


compute = registered_compute("glszm", FEATURES, zones_of)


def batch_cost(
    backend: Backend, shape: KernelShape, features: Sequence[str], settings: Mapping[str, Any]
) -> BatchCost:
    """Memory per voxel of :func:`compute` on ``backend``: compiled zone lists (≤ 12 bytes per cell, then ≤ 32 as
    int64 tensors; kernels read from the level volume, capped at
    :data:`~pdacrad.radiomics.backend.COMPILED_BATCH` voxels), or torch label propagation over the gathered
    kernel."""
    if backend.compiled:
        return BatchCost(12 * shape.n_cells + 32 * shape.n_cells, COMPILED_BATCH)
    return BatchCost(kernel_cost(shape.n_cells, shape.n_levels))
