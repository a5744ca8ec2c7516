"""Grey Level Dependence Matrix (GLDM) features of voxel kernels, PyRadiomics-exact.

A neighbour (Chebyshev distance in ``distances``, inside the kernel and the ROI; 26 at distance 1, in-plane
only with ``force2D``) *depends* on a ROI cell of grey level :math:`i` when their grey levels differ by at most
``gldm_a`` (default 0). :math:`P(i, j)` counts the cells of level :math:`i` with :math:`j - 1` dependent neighbours
(PyRadiomics 3.1 ``cmatrices.c: calculate_gldm``; its deprecated GrayLevelNonUniformityNormalized and
DependencePercentage are not offered, as PyRadiomics does not enable them).

Engine path (distance 1, :func:`prepare`): each cell's dependent-neighbour count once per image and kernel
truncation class (:class:`VolumeDependence`), summed per kernel; on CPU both steps are compiled
(:mod:`pdacrad.radiomics.counting.neighbourhood_cpu`, the same integers, kernels slid along scan lines), on CUDA they are
torch.

Symbols: :math:`N_z = \\sum P` (the kernel's ROI cells; 1 where 0), :math:`p_g(i) = \\sum_j P(i,j)`,
:math:`p_d(j) = \\sum_i P(i,j)`, :math:`i` grey-level values, :math:`j` dependence sizes (1 = no dependent
neighbour).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from pdacrad.radiomics.backend import Backend, BatchCost, backend_of
from pdacrad.radiomics.counting import common, neighbourhood_cpu
from pdacrad.radiomics.family import DiscretisedImage, FamilyContext, KernelShape, registered_compute
from pdacrad.radiomics.kernel import KernelBatch, settings_offsets
from pdacrad.radiomics.registry import feature_registry

FEATURES, register = feature_registry()
READS_VALUES = False


@dataclass(frozen=True)
class DependenceMatrix:
    """GLDM of ``B`` kernels.

    Attributes:
        P: ``(B, G, J)`` cell counts: grey-level index × dependence size ``j = 1..J`` (``J`` = neighbours + 1,
            fixed by the neighbourhood so that sums do not depend on the batch).
        ivector: ``(G,)`` grey-level values.
    """

    P: torch.Tensor
    ivector: torch.Tensor

    @cached_property
    def jvector(self) -> torch.Tensor:
        """``(J,)`` dependence sizes ``1..J``."""
        return torch.arange(1, self.P.shape[2] + 1, dtype=self.P.dtype, device=self.P.device)

    @cached_property
    def pd(self) -> torch.Tensor:
        """``(B, J)`` cells per dependence size."""
        return self.P.sum(dim=1)

    @cached_property
    def pg(self) -> torch.Tensor:
        """``(B, G)`` cells per grey level."""
        return self.P.sum(dim=2)

    @cached_property
    def Nz(self) -> torch.Tensor:
        """``(B,)`` ROI cells of the kernel (1 where none, as PyRadiomics)."""
        nz = self.pd.sum(dim=1)
        return torch.where(nz == 0, torch.ones_like(nz), nz)

    def joint_sum(self, weight: torch.Tensor) -> torch.Tensor:
        """``(B,)`` :math:`\\sum_{i,j} P(i,j)\\, w(i,j) / N_z` for ``weight`` ``(G, J)``."""
        return torch.sum(self.P * weight, dim=(1, 2)) / self.Nz


@register("SmallDependenceEmphasis")
def small_dependence_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """SDE = :math:`\\sum_j p_d(j) / j^2 \\,/\\, N_z` (IBSI SODN)."""
    return torch.sum(m.pd / m.jvector**2, dim=1) / m.Nz


@register("LargeDependenceEmphasis")
def large_dependence_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """LDE = :math:`\\sum_j p_d(j)\\, j^2 \\,/\\, N_z` (IBSI IMOQ)."""
    return torch.sum(m.pd * m.jvector**2, dim=1) / m.Nz


@register("GrayLevelNonUniformity")
def gray_level_non_uniformity(m: DependenceMatrix) -> torch.Tensor:
    """GLN = :math:`\\sum_i p_g(i)^2 \\,/\\, N_z` (IBSI FP8K)."""
    return torch.sum(m.pg**2, dim=1) / m.Nz


@register("DependenceNonUniformity")
def dependence_non_uniformity(m: DependenceMatrix) -> torch.Tensor:
    """DN = :math:`\\sum_j p_d(j)^2 \\,/\\, N_z` (IBSI Z87G)."""
    return torch.sum(m.pd**2, dim=1) / m.Nz


@register("DependenceNonUniformityNormalized")
def dependence_non_uniformity_normalized(m: DependenceMatrix) -> torch.Tensor:
    """DNN = :math:`\\sum_j p_d(j)^2 \\,/\\, N_z^2` (IBSI OKJI)."""
    return torch.sum(m.pd**2, dim=1) / m.Nz**2


@register("GrayLevelVariance")
def gray_level_variance(m: DependenceMatrix) -> torch.Tensor:
    """GLV = :math:`\\sum_i p_g(i)/N_z\\,(i - \\mu)^2`, :math:`\\mu = \\sum_i p_g(i)/N_z\\, i` (IBSI 1PFV)."""
    pg = m.pg / m.Nz[:, None]
    mu = torch.sum(pg * m.ivector, dim=1, keepdim=True)
    return torch.sum(pg * (m.ivector - mu) ** 2, dim=1)


@register("DependenceVariance")
def dependence_variance(m: DependenceMatrix) -> torch.Tensor:
    """DV = :math:`\\sum_j p_d(j)/N_z\\,(j - \\mu)^2`, :math:`\\mu = \\sum_j p_d(j)/N_z\\, j` (IBSI DNX2)."""
    pd = m.pd / m.Nz[:, None]
    mu = torch.sum(pd * m.jvector, dim=1, keepdim=True)
    return torch.sum(pd * (m.jvector - mu) ** 2, dim=1)


@register("DependenceEntropy")
def dependence_entropy(m: DependenceMatrix) -> torch.Tensor:
    """DE = :math:`-\\sum_{i,j} p(i,j) \\log_2(p(i,j) + \\epsilon)`, :math:`p = P / N_z`, :math:`\\epsilon` =
    2.2e-16 (IBSI FCBV)."""
    return common.entropy(m.P / m.Nz[:, None, None], dims=(1, 2))


@register("LowGrayLevelEmphasis")
def low_gray_level_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """LGLE = :math:`\\sum_i p_g(i) / i^2 \\,/\\, N_z` (IBSI 2WPB)."""
    return torch.sum(m.pg / m.ivector**2, dim=1) / m.Nz


@register("HighGrayLevelEmphasis")
def high_gray_level_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """HGLE = :math:`\\sum_i p_g(i)\\, i^2 \\,/\\, N_z` (IBSI 0L3M)."""
    return torch.sum(m.pg * m.ivector**2, dim=1) / m.Nz


@register("SmallDependenceLowGrayLevelEmphasis")
def small_dependence_low_gray_level_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """SDLGLE = :math:`\\sum_{i,j} P(i,j) / (i^2 j^2) \\,/\\, N_z` (IBSI RUVG)."""
    return m.joint_sum(1 / (m.ivector[:, None] ** 2 * m.jvector[None, :] ** 2))


@register("SmallDependenceHighGrayLevelEmphasis")
def small_dependence_high_gray_level_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """SDHGLE = :math:`\\sum_{i,j} P(i,j)\\, i^2 / j^2 \\,/\\, N_z` (IBSI DKNJ)."""
    return m.joint_sum(m.ivector[:, None] ** 2 / m.jvector[None, :] ** 2)


@register("LargeDependenceLowGrayLevelEmphasis")
def large_dependence_low_gray_level_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """LDLGLE = :math:`\\sum_{i,j} P(i,j)\\, j^2 / i^2 \\,/\\, N_z` (IBSI A7WM)."""
    return m.joint_sum(m.jvector[None, :] ** 2 / m.ivector[:, None] ** 2)


@register("LargeDependenceHighGrayLevelEmphasis")
def large_dependence_high_gray_level_emphasis(m: DependenceMatrix) -> torch.Tensor:
    """LDHGLE = :math:`\\sum_{i,j} P(i,j)\\, i^2 j^2 \\,/\\, N_z` (IBSI KLTH)."""
    return m.joint_sum(m.ivector[:, None] ** 2 * m.jvector[None, :] ** 2)


def dependence_matrix(batch: KernelBatch, distances: Sequence[int], alpha: float) -> DependenceMatrix:
    """The GLDM of every kernel of ``batch``; ``alpha`` is ``gldm_a`` in grey-level (bin) units."""
    b, k = batch.levels.shape
    offsets = batch.offsets.to(batch.device)  # index tables must live where the levels are (CUDA or CPU)
    neighbours = common.neighbour_table(offsets, common.angles(offsets, distances, bidirectional=True))
    # Cell-major (K + 1, B) values; cells outside the kernel/ROI read -inf, so they never depend on anything.
    values = common.level_values(batch.grey_levels)[batch.levels]
    values = torch.where(batch.levels > 0, values, torch.full_like(values, float("-inf")))
    table = common.pad_levels(values).T.contiguous()
    table[k] = float("-inf")
    centre = table[:k]
    dependent = torch.zeros((k, b), dtype=torch.int64, device=batch.device)
    for nb in neighbours:
        dependent += torch.abs(table.index_select(0, nb) - centre) <= alpha
    n_dep = neighbours.shape[0] + 1
    code = (batch.levels * n_dep + dependent.T).masked_fill_(batch.levels == 0, 0)
    counts = common.histogram(code, (batch.levels > 0).to(batch.dtype), (batch.n_levels + 1) * n_dep)
    return DependenceMatrix(P=counts.reshape(b, batch.n_levels + 1, n_dep)[:, 1:], ivector=batch.grey_levels)


@dataclass(frozen=True)
class VolumeDependence:
    """Dependent-neighbour counts of every cell of a whole image, once per kernel truncation class (distance 1;
    see :func:`~pdacrad.radiomics.counting.common.truncation_classes`): a cell's neighbours inside the kernel
    depend only on which faces of the cube it lies on, so its count in any kernel is one of these.

    Attributes:
        dependent: ``(C, Z', Y', X')`` int8 counts, padded by ``pad`` cells.
        cell_class: ``(K,)`` int64 class index of each kernel cell.
        n_dep: neighbours + 1 (the matrix's dependence axis, as :func:`dependence_matrix`).
        pad: padding width (the kernel radius).
    """

    dependent: torch.Tensor
    cell_class: torch.Tensor
    n_dep: int
    pad: int


def volume_dependence(
    level_index: torch.Tensor,
    grey_levels: torch.Tensor,
    offsets: torch.Tensor,
    radius: int,
    alpha: float,
    backend: Backend | None = None,
) -> VolumeDependence:
    """:class:`VolumeDependence` of the ``(z, y, x)`` level-index volume for kernels of ``offsets``: compiled on the
    compiled backend (default on CPU; 0 outside the ROI, where no kernel reads), torch shifted-volume comparisons on
    the torch backend."""
    if (backend or Backend.choose(level_index.device)).compiled:
        dependent, cell_class = neighbourhood_cpu.volume_dependence(
            level_index, grey_levels, offsets, radius, alpha
        )
        n_dep = common.angles(offsets, (1,), bidirectional=True).shape[0] + 1
        return VolumeDependence(dependent, cell_class, n_dep, radius)
    return _torch_volume_dependence(level_index, grey_levels, offsets, radius, alpha)


def _torch_volume_dependence(
    level_index: torch.Tensor, grey_levels: torch.Tensor, offsets: torch.Tensor, radius: int, alpha: float
) -> VolumeDependence:
    """:func:`volume_dependence` by torch shifted-volume comparisons (the CUDA path)."""
    keys, cell_class = torch.unique(common.truncation_classes(offsets), dim=0, return_inverse=True)
    levels = torch.nn.functional.pad(level_index.unsqueeze(0), (radius + 1,) * 6).squeeze(0)
    values = common.level_values(grey_levels)[levels]
    values = torch.where(levels > 0, values, torch.full_like(values, float("-inf")))
    shifts = common.angles(offsets, (1,), bidirectional=True).tolist()
    n = values.shape
    # one indicator volume per neighbour step: "the neighbour at this step depends on the cell"
    depends = {}
    for dz, dy, dx in shifts:
        other = torch.full_like(values, float("-inf"))
        dst = tuple(slice(max(-c, 0), m + min(-c, 0)) for c, m in zip((dz, dy, dx), n, strict=True))
        src = tuple(slice(max(c, 0), m + min(c, 0)) for c, m in zip((dz, dy, dx), n, strict=True))
        other[dst] = values[src]
        depends[(dz, dy, dx)] = (torch.abs(other - values) <= alpha).to(torch.int8)
    counts = []
    for key in keys.tolist():
        allowed = [common.TRUNCATED_STEPS[c] for c in key]
        total = torch.zeros(n, dtype=torch.int8, device=values.device)
        for step, indicator in depends.items():
            if all(s in a for s, a in zip(step, allowed, strict=True)):
                total += indicator
        counts.append(total[1:-1, 1:-1, 1:-1])  # back to a padding of `radius`
    return VolumeDependence(torch.stack(counts), cell_class, len(shifts) + 1, radius)


def prepare(
    image: DiscretisedImage, features: Sequence[str], settings: Mapping[str, Any], backend: Backend
) -> VolumeDependence | None:
    """Image-level state for :func:`compute` (distance 1 only, else ``None``): the :class:`VolumeDependence` of
    ``image``, counted by ``backend``."""
    if common.setting_distances(settings) != [1]:
        return None
    offsets = settings_offsets(image.radius, settings, image.level_index.device)
    alpha = float(settings.get("gldm_a", 0))
    return volume_dependence(image.level_index, image.grey_levels, offsets, image.radius, alpha, backend)


needs_kernels = neighbourhood_cpu.needs_kernels


def _gathered_matrix(batch: KernelBatch, vol: VolumeDependence) -> DependenceMatrix:
    """:func:`dependence_matrix` from :class:`VolumeDependence` summed over the batch's kernel cells (the compiled
    walk on the compiled backend, sliding when :attr:`Backend.sliding`)."""
    backend = backend_of(batch)
    if backend.compiled and batch.voxels is not None:
        n, _, _ = neighbourhood_cpu.walk(batch, vol.dependent, vol.cell_class, vol.n_dep, backend.sliding)
        counts = torch.from_numpy(n).reshape(batch.n_voxels, batch.n_levels, vol.n_dep).to(batch.dtype)
        return DependenceMatrix(P=counts, ivector=batch.grey_levels)
    return _torch_gathered_matrix(batch, vol)


def _torch_gathered_matrix(batch: KernelBatch, vol: VolumeDependence) -> DependenceMatrix:
    """:func:`_gathered_matrix` by a torch gather and histogram (the CUDA path)."""
    dependent = common.gather_by_cell_class(vol.dependent, vol.cell_class, vol.pad, batch).to(torch.int64)
    b, n_dep = batch.n_voxels, vol.n_dep
    code = (batch.levels * n_dep + dependent).masked_fill_(batch.levels == 0, 0)
    counts = common.histogram(code, (batch.levels > 0).to(batch.dtype), (batch.n_levels + 1) * n_dep)
    return DependenceMatrix(P=counts.reshape(b, batch.n_levels + 1, n_dep)[:, 1:], ivector=batch.grey_levels)


def dependence_of(
    batch: KernelBatch, settings: Mapping[str, Any], context: FamilyContext
) -> DependenceMatrix:
    """The GLDM of every kernel of ``batch``: summed from the prepared :class:`VolumeDependence`
    (``context.prepared``) for batches with voxel positions, else counted from the kernels (``settings`` keys
    ``distances``, default ``[1]``, and ``gldm_a``, default 0). Batch-invariant."""
    vol = context.prepared
    if isinstance(vol, VolumeDependence) and batch.voxels is not None:
        return _gathered_matrix(batch, vol)
    return dependence_matrix(batch, common.setting_distances(settings), float(settings.get("gldm_a", 0)))


compute = registered_compute("gldm", FEATURES, dependence_of)


def batch_cost(
    backend: Backend, shape: KernelShape, features: Sequence[str], settings: Mapping[str, Any]
) -> BatchCost:
    """Memory per voxel of :func:`compute` on ``backend`` (:func:`neighbourhood_cpu.batch_cost`, shared with
    the other neighbourhood family)."""
    gathers = needs_kernels(backend, features, settings)
    return neighbourhood_cpu.batch_cost(backend, shape.n_cells, shape.n_levels, gathers)
