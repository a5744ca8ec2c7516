"""Neighbouring Grey Tone Difference Matrix (NGTDM) features of voxel kernels, PyRadiomics-exact.

For every ROI cell of a kernel with grey level :math:`i`, :math:`\\bar{A}` is the mean grey level of its
neighbours — the cells at Chebyshev distance in ``distances`` (default 1: the 26-neighbourhood; 8 with
``force2D``) that lie inside the kernel and the ROI; cells without such neighbours contribute 0 (PyRadiomics 3.1
``cmatrices.c: calculate_ngtdm``). Per grey level: :math:`n_i` cells, :math:`s_i = \\sum |i - \\bar{A}|`.

Engine path (distance 1, :func:`prepare`): ``|i - \\bar{A}|`` of every cell once per image and kernel truncation
class (:class:`VolumeTones`), summed per kernel; on CPU both steps are compiled
(:mod:`pdacrad.radiomics.counting.neighbourhood_cpu`: exact integers, kernels slid along scan lines), on CUDA they are
torch.

The per-kernel neighbour sums are box sums over the kernel cube (cumulative sums along each moving axis, zero outside the
cube), so their cost does not grow with the neighbourhood; they sum integer bin numbers and are therefore exact.

Symbols: :math:`N_{v,p} = \\sum_i n_i`, :math:`p_i = n_i / N_{v,p}`, :math:`N_{g,p}` the number of levels with
:math:`p_i > 0`; pair sums run over levels with :math:`p_i > 0` and :math:`p_j > 0`; :math:`i` are grey-level
values (``KernelBatch.grey_levels``, PyRadiomics' bin numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from pdacrad.radiomics.backend import CACHE_BATCH_BYTES, COMPILED_BATCH, Backend, BatchCost, backend_of
from pdacrad.radiomics.counting import common, neighbourhood_cpu
from pdacrad.radiomics.family import DiscretisedImage, FamilyContext, KernelShape, registered_compute
from pdacrad.radiomics.kernel import KernelBatch, settings_offsets
from pdacrad.radiomics.registry import feature_registry

FEATURES, register = feature_registry()
READS_VALUES = False


@dataclass(frozen=True)
class ToneDifferences:
    """NGTDM of ``B`` kernels.

    Attributes:
        n: ``(B, G)`` ROI cells per grey level.
        s: ``(B, G)`` summed absolute differences :math:`s_i`.
        ivector: ``(G,)`` grey-level values.
    """

    n: torch.Tensor
    s: torch.Tensor
    ivector: torch.Tensor

    @cached_property
    def Nvp(self) -> torch.Tensor:
        """``(B,)`` ROI cells of the kernel."""
        return self.n.sum(dim=1)

    @cached_property
    def p(self) -> torch.Tensor:
        """``(B, G)`` grey-level probabilities :math:`p_i`."""
        return self.n / self.Nvp[:, None]

    @cached_property
    def present(self) -> torch.Tensor:
        """``(B, G, G)`` bool: both levels of the pair occur in the kernel."""
        nz = self.p != 0
        return nz[:, :, None] & nz[:, None, :]

    @cached_property
    def Ngp(self) -> torch.Tensor:
        """``(B,)`` number of grey levels present in the kernel."""
        return (self.n > 0).sum(dim=1).to(self.n.dtype)

    @cached_property
    def pair_diff(self) -> torch.Tensor:
        """``(G, G)`` :math:`i - j`."""
        return self.ivector[:, None] - self.ivector[None, :]


PAIR_FEATURES = frozenset({"Contrast", "Busyness", "Complexity", "Strength"})
"""The features whose formulas sum over pairs of grey levels (``(B, G, G)`` tensors; see :func:`batch_cost`)."""


def _safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` where ``den != 0``, else 0 (PyRadiomics' NGTDM convention)."""
    nonzero = den != 0
    return torch.where(nonzero, num / torch.where(nonzero, den, torch.ones_like(den)), torch.zeros_like(num))


@register("Coarseness")
def coarseness(t: ToneDifferences) -> torch.Tensor:
    """Coarseness = :math:`1 / \\sum_i p_i s_i`, or :math:`10^6` where that sum is 0 (flat kernel) (IBSI QCDE)."""
    total = torch.sum(t.p * t.s, dim=1)
    nonzero = total != 0
    return torch.where(
        nonzero, 1 / torch.where(nonzero, total, torch.ones_like(total)), torch.full_like(total, 1e6)
    )


@register("Contrast")
def contrast(t: ToneDifferences) -> torch.Tensor:
    """Contrast = :math:`\\frac{1}{N_{g,p}(N_{g,p}-1)} \\sum_{i,j} p_i p_j (i-j)^2 \\cdot \\frac{\\sum_i s_i}{N_{v,p}}`,
    0 where :math:`N_{g,p} \\le 1` (IBSI 65HE)."""
    pairs = t.p[:, :, None] * t.p[:, None, :] * t.pair_diff**2
    value = torch.sum(pairs, dim=(1, 2)) * torch.sum(t.s, dim=1) / t.Nvp
    return _safe_divide(value, t.Ngp * (t.Ngp - 1))


@register("Busyness")
def busyness(t: ToneDifferences) -> torch.Tensor:
    """Busyness = :math:`\\sum_i p_i s_i \\,/\\, \\sum_{i,j} |i p_i - j p_j|` over pairs of levels both present
    in the kernel, 0 where the denominator is 0 (IBSI NQ30)."""
    ipi = t.ivector * t.p
    absdiff = torch.abs(ipi[:, :, None] - ipi[:, None, :]) * t.present
    return _safe_divide(torch.sum(t.p * t.s, dim=1), torch.sum(absdiff, dim=(1, 2)))


@register("Complexity")
def complexity(t: ToneDifferences) -> torch.Tensor:
    """Complexity = :math:`\\frac{1}{N_{v,p}} \\sum_{i,j} |i - j| \\frac{p_i s_i + p_j s_j}{p_i + p_j}` (IBSI
    HDEZ)."""
    ps = t.p * t.s
    numerator = (ps[:, :, None] + ps[:, None, :]) * t.present
    divisor = t.p[:, :, None] + t.p[:, None, :]
    divisor = torch.where(divisor == 0, torch.ones_like(divisor), divisor)
    return torch.sum(torch.abs(t.pair_diff) * numerator / divisor, dim=(1, 2)) / t.Nvp


@register("Strength")
def strength(t: ToneDifferences) -> torch.Tensor:
    """Strength = :math:`\\sum_{i,j} (p_i + p_j)(i - j)^2 \\,/\\, \\sum_i s_i`, 0 where :math:`\\sum_i s_i = 0`
    (IBSI 1X9X)."""
    pairs = (t.p[:, :, None] + t.p[:, None, :]) * t.pair_diff**2 * t.present
    return _safe_divide(torch.sum(pairs, dim=(1, 2)), torch.sum(t.s, dim=1))


def box_sum(x: torch.Tensor, radius: int, dims: Sequence[int]) -> torch.Tensor:
    """Sum of ``x`` (``(B, Z, Y, X)``) over the box of Chebyshev ``radius`` around each cell along ``dims``
    (axes of the cube, 0 = z), counting cells outside the cube as 0."""
    for d in dims:
        axis = d + 1
        size = x.shape[axis]
        pad = [0, 0] * 3
        pad[2 * (2 - d)] = radius + 1  # cumsum needs one leading zero; then radius cells each side
        pad[2 * (2 - d) + 1] = radius
        c = torch.nn.functional.pad(x, pad).cumsum(dim=axis)
        x = c.narrow(axis, 2 * radius + 1, size) - c.narrow(axis, 0, size)
    return x


def ring_sum(x: torch.Tensor, distances: Sequence[int], dims: Sequence[int]) -> torch.Tensor:
    """Sum of ``x`` over the cells whose Chebyshev distance from each cell is in ``distances`` (the centre
    excluded), zero outside the cube. Exact for integer-valued ``x``."""
    out = torch.zeros_like(x)
    for d in sorted(set(distances)):
        inner = box_sum(x, d - 1, dims) if d > 1 else x
        out = out + box_sum(x, d, dims) - inner
    return out


def tone_differences(batch: KernelBatch, distances: Sequence[int]) -> ToneDifferences:
    """The NGTDM of every kernel of ``batch``."""
    b, k = batch.levels.shape
    side = 2 * batch.radius + 1
    dims = common.moving_dims(batch.offsets)
    shape = [side if d in dims else 1 for d in range(3)]
    if shape[0] * shape[1] * shape[2] != k:
        raise ValueError(f"kernel of {k} cells is not a full cube/square of radius {batch.radius}")
    dtype = batch.dtype
    inside = (batch.levels > 0).to(dtype)
    values = common.level_values(batch.grey_levels)[batch.levels]
    count = ring_sum(inside.reshape(b, *shape), distances, dims).reshape(b, k)
    total = ring_sum(values.reshape(b, *shape), distances, dims).reshape(b, k)
    has_neighbours = count > 0
    mean = total / torch.where(has_neighbours, count, torch.ones_like(count))
    diff = torch.where(has_neighbours, torch.abs(values - mean), torch.zeros_like(values)) * inside
    g = batch.n_levels + 1
    n = common.histogram(batch.levels, inside, g)[:, 1:]
    s = common.histogram(batch.levels, diff, g)[:, 1:]
    return ToneDifferences(n=n, s=s, ivector=batch.grey_levels)


@dataclass(frozen=True)
class VolumeTones:
    """Per-cell ``|i - Ā|`` of a whole discretised image, once per *truncation class* (image-level context of
    the fast path of :func:`tone_differences`, distance 1 only).

    A kernel cell's neighbours must lie inside the kernel cube: a cell on the cube's low face along an axis only
    sees neighbours at offset 0 or +1 along it, one on the high face -1 or 0, one inside all three, and along a
    ``force2D`` flat axis only 0. These per-axis choices (the cell's class) fix the neighbourhood, so ``Ā`` — and
    ``|i - Ā|`` — of every cell in every kernel is one of a few volume-level values, gathered per kernel cell.
    Neighbour counts and sums add integer bin numbers, so they are exact: the torch volumes' values equal the
    per-kernel ones bit for bit (the same division and subtraction), the compiled ones are exact integer multiples.

    Attributes:
        diff: ``(C, Z', Y', X')`` ``|i - Ā| · scale`` (0 without neighbours) per class, padded by ``pad`` cells:
            exact int64 multiples on the compiled backend (``scale`` =
            :data:`~pdacrad.radiomics.counting.neighbourhood_cpu.NEIGHBOURS_LCM`), floats with ``scale`` 1 on torch.
        cell_class: ``(K,)`` int64 class index of each kernel cell.
        pad: padding width (the kernel radius).
        scale: see ``diff``.
    """

    diff: torch.Tensor
    cell_class: torch.Tensor
    pad: int
    scale: int = 1


def _shift_sum(volume: torch.Tensor, allowed: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """Sum of ``volume[p + (dz, dy, dx)]`` over the product of the per-axis ``allowed`` offsets (zero outside)."""
    for axis, steps in enumerate(allowed):
        total = torch.zeros_like(volume)
        for step in steps:
            n = volume.shape[axis]
            dst = [slice(None)] * 3
            src = [slice(None)] * 3
            dst[axis], src[axis] = (
                slice(max(-step, 0), n + min(-step, 0)),
                slice(max(step, 0), n + min(step, 0)),
            )
            total[tuple(dst)] += volume[tuple(src)]
        volume = total
    return volume


def volume_tones(
    level_index: torch.Tensor,
    grey_levels: torch.Tensor,
    offsets: torch.Tensor,
    radius: int,
    backend: Backend | None = None,
) -> VolumeTones:
    """:class:`VolumeTones` of the ``(z, y, x)`` level-index volume for kernels of ``offsets`` (distance 1): compiled
    exact integers on the compiled backend (default on CPU; 0 outside the ROI, where no kernel reads) for integer
    grey levels (PyRadiomics' bin numbers), torch shifted-volume sums otherwise."""
    compiled = (backend or Backend.choose(level_index.device)).compiled
    if compiled and neighbourhood_cpu.integer_tones(grey_levels, len(offsets)):
        diff, cell_class = neighbourhood_cpu.volume_tones(level_index, grey_levels, offsets, radius)
        return VolumeTones(diff, cell_class, radius, neighbourhood_cpu.NEIGHBOURS_LCM)
    return _torch_volume_tones(level_index, grey_levels, offsets, radius)


def _torch_volume_tones(
    level_index: torch.Tensor, grey_levels: torch.Tensor, offsets: torch.Tensor, radius: int
) -> VolumeTones:
    """:func:`volume_tones` by torch shifted-volume sums (the CUDA path)."""
    axis_cls = common.truncation_classes(offsets)
    keys, cell_class = torch.unique(axis_cls, dim=0, return_inverse=True)
    levels = torch.nn.functional.pad(level_index.unsqueeze(0), (radius,) * 6).squeeze(0)
    inside = (levels > 0).to(grey_levels.dtype)
    values = common.level_values(grey_levels)[levels]
    diffs = []
    for key in keys.tolist():
        allowed = tuple(common.TRUNCATED_STEPS[c] for c in key)
        count = _shift_sum(inside, allowed) - inside  # the centre is not its own neighbour
        total = _shift_sum(values, allowed) - values
        has = count > 0
        mean = total / torch.where(has, count, torch.ones_like(count))
        diffs.append(torch.where(has, torch.abs(values - mean), torch.zeros_like(values)))
    return VolumeTones(diff=torch.stack(diffs), cell_class=cell_class, pad=radius)


def prepare(
    image: DiscretisedImage, features: Sequence[str], settings: Mapping[str, Any], backend: Backend
) -> VolumeTones | None:
    """Image-level state for :func:`compute` (distance 1 only, else ``None``): the :class:`VolumeTones` of
    ``image``, computed by ``backend``."""
    if common.setting_distances(settings) != [1]:
        return None
    offsets = settings_offsets(image.radius, settings, image.level_index.device)
    return volume_tones(image.level_index, image.grey_levels, offsets, image.radius, backend)


needs_kernels = neighbourhood_cpu.needs_kernels


def _gathered_tones(batch: KernelBatch, tones: VolumeTones) -> ToneDifferences:
    """:func:`tone_differences` from :class:`VolumeTones` summed over the batch's kernel cells (the compiled walk
    on the compiled backend, sliding when :attr:`Backend.sliding`)."""
    backend = backend_of(batch)
    if backend.compiled and batch.voxels is not None:
        n, s, _ = neighbourhood_cpu.walk(batch, tones.diff, tones.cell_class, 0, backend.sliding)
        sums = torch.from_numpy(s).to(torch.float64) / tones.scale
        return ToneDifferences(torch.from_numpy(n).to(batch.dtype), sums.to(batch.dtype), batch.grey_levels)
    return _torch_gathered_tones(batch, tones)


def _torch_gathered_tones(batch: KernelBatch, tones: VolumeTones) -> ToneDifferences:
    """:func:`_gathered_tones` by a torch gather and histograms (the CUDA path)."""
    inside = (batch.levels > 0).to(batch.dtype)
    gathered = common.gather_by_cell_class(tones.diff, tones.cell_class, tones.pad, batch)
    if tones.scale != 1:  # the compiled volumes' exact multiples
        gathered = gathered.to(torch.float64) / tones.scale
    diff = gathered.to(batch.dtype) * inside
    g = batch.n_levels + 1
    n = common.histogram(batch.levels, inside, g)[:, 1:]
    s = common.histogram(batch.levels, diff, g)[:, 1:]
    return ToneDifferences(n=n, s=s, ivector=batch.grey_levels)


def tones_of(batch: KernelBatch, settings: Mapping[str, Any], context: FamilyContext) -> ToneDifferences:
    """The NGTDM of every kernel of ``batch``: summed from the prepared :class:`VolumeTones` (``context.prepared``)
    for batches with voxel positions, else computed from the kernels (``settings`` key ``distances``, default
    ``[1]``). Batch-invariant."""
    tones = context.prepared
    if isinstance(tones, VolumeTones) and batch.voxels is not None:
        return _gathered_tones(batch, tones)
    return tone_differences(batch, common.setting_distances(settings))


compute = registered_compute("ngtdm", FEATURES, tones_of)


def batch_cost(
    backend: Backend, shape: KernelShape, features: Sequence[str], settings: Mapping[str, Any]
) -> BatchCost:
    """Memory per voxel of :func:`compute` on ``backend``: the counting's (:func:`neighbourhood_cpu.batch_cost`,
    shared with the other neighbourhood family) plus, for the pair features (:data:`PAIR_FEATURES`), their
    ``(B, G, G)`` temporaries. On CPU those pair terms are memory-bound elementwise passes: batches whose pair
    matrices stay in cache (:data:`~pdacrad.radiomics.backend.CACHE_BATCH_BYTES`) ran 3× faster than 2,048-voxel
    batches at kernelRadius 5 on raw CT (binWidth 25; measured, 11,241 voxels: 0.37–0.42 vs 1.17 CPU-s)."""
    gathers = needs_kernels(backend, features, settings)
    cost = neighbourhood_cpu.batch_cost(backend, shape.n_cells, shape.n_levels, gathers)
    if not PAIR_FEATURES.intersection(features):
        return cost
    pairs = 8 * shape.n_levels * shape.n_levels
    cap = cost.max_voxels
    if backend.device.type == "cpu":
        cap = min(cap or COMPILED_BATCH, max(32, CACHE_BATCH_BYTES // pairs))
    return BatchCost(cost.bytes_per_voxel + 4 * pairs, cap)
