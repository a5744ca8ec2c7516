"""Grey Level Run Length Matrix (GLRLM) features of voxel kernels, PyRadiomics-exact.

A *run* along angle :math:`\\theta` is a maximal line of consecutive kernel voxels with the same grey level.
:math:`P(i, j|\\theta)` counts the runs of grey level :math:`i` and length :math:`j` (voxels). Per kernel and angle
(PyRadiomics 3.1, ``cmatrices.c: calculate_glrlm`` on the kernel's bounding box):

- the 13 angles of distance 1 (4 with ``force2D``), one of each ``±θ`` pair;
- runs stop at cells outside the image or outside ``maskArray`` (level index 0);
- an angle along which no line of the kernel holds two or more ROI voxels is *empty* (all counts zeroed, so
  :math:`N_r(\\theta) = 0` and its features are NaN);
- features are computed per angle and averaged with ``nanmean`` over angles (empty angles ignored; NaN when all
  are empty, e.g. a single-voxel kernel). With ``weightingNorm`` the matrices are first summed over angles with
  weights = the angle's length in mm under that norm (``manhattan``, ``euclidean``, ``infinity``) or 1
  (``no_weighting``); the weighted norms need the voxel spacing (z, y, x) in mm
  (:attr:`~pdacrad.radiomics.family.FamilyContext.spacing_zyx`, set by the engine core).

Counting (same integers on every path, ``tests/radiomics/counting/test_runs_cpu.py``): CPU kernels by the compiled line
walk of :mod:`pdacrad.radiomics.counting.runs_cpu`; on CUDA from the volume-level run lengths of
:mod:`pdacrad.radiomics.counting.runs` (batches with voxel positions, :func:`prepare`) or by tracing the kernel's lines
in torch (:func:`_angle_matrix`).

Symbols of the feature docstrings: :math:`N_g` grey levels, :math:`N_r` run lengths, :math:`i` the grey-level
*values* (``KernelBatch.grey_levels``), :math:`j` the run lengths, :math:`N_r(\\theta) = \\sum_{i,j} P(i,j|\\theta)`
(NaN where 0), :math:`p = P / N_r(\\theta)`, :math:`p_g(i) = \\sum_j P(i,j)`, :math:`p_r(j) = \\sum_i P(i,j)`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from pdacrad.radiomics.backend import COMPILED_BATCH, Backend, BatchCost, backend_of, kernel_cost
from pdacrad.radiomics.counting import common, runs_cpu
from pdacrad.radiomics.counting.runs import KernelCells, VolumeRuns, run_counts, volume_runs
from pdacrad.radiomics.family import NO_CONTEXT, DiscretisedImage, FamilyContext, KernelShape
from pdacrad.radiomics.kernel import KernelBatch, neighbour_index, settings_offsets
from pdacrad.radiomics.registry import check_features, feature_registry

logger = logging.getLogger(__name__)

FEATURES, register = feature_registry()
READS_VALUES = False


@dataclass(frozen=True)
class RunLengthMatrix:
    """GLRLM of ``B`` kernels for one angle (or the weighted sum over angles).

    Attributes:
        P: ``(B, G, J)`` run counts: grey-level index ``i`` (ascending ``ivector``) × run length ``j = 1..J``
            voxels. Float of the batch dtype (integers unless weighted).
        ivector: ``(G,)`` grey-level values.
        jvector: ``(J,)`` run lengths ``1..J`` (voxels).
    """

    P: torch.Tensor
    ivector: torch.Tensor
    jvector: torch.Tensor

    @cached_property
    def Nr(self) -> torch.Tensor:
        """``(B,)`` number of runs, NaN where 0 (empty angle)."""
        nr = self.P.sum(dim=(1, 2))
        return torch.where(nr == 0, torch.full_like(nr, float("nan")), nr)

    @cached_property
    def pr(self) -> torch.Tensor:
        """``(B, J)`` runs per length."""
        return self.P.sum(dim=1)

    @cached_property
    def pg(self) -> torch.Tensor:
        """``(B, G)`` runs per grey level."""
        return self.P.sum(dim=2)


@register("ShortRunEmphasis")
def short_run_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """SRE = :math:`\\sum_j p_r(j) / j^2 \\,/\\, N_r(\\theta)` (IBSI 22OV)."""
    return torch.sum(m.pr / m.jvector**2, dim=1) / m.Nr


@register("LongRunEmphasis")
def long_run_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """LRE = :math:`\\sum_j p_r(j)\\, j^2 \\,/\\, N_r(\\theta)` (IBSI W4KF)."""
    return torch.sum(m.pr * m.jvector**2, dim=1) / m.Nr


@register("GrayLevelNonUniformity")
def gray_level_non_uniformity(m: RunLengthMatrix) -> torch.Tensor:
    """GLN = :math:`\\sum_i p_g(i)^2 \\,/\\, N_r(\\theta)` (IBSI R5YN)."""
    return torch.sum(m.pg**2, dim=1) / m.Nr


@register("GrayLevelNonUniformityNormalized")
def gray_level_non_uniformity_normalized(m: RunLengthMatrix) -> torch.Tensor:
    """GLNN = :math:`\\sum_i p_g(i)^2 \\,/\\, N_r(\\theta)^2` (IBSI OVBL)."""
    return torch.sum(m.pg**2, dim=1) / m.Nr**2


@register("RunLengthNonUniformity")
def run_length_non_uniformity(m: RunLengthMatrix) -> torch.Tensor:
    """RLN = :math:`\\sum_j p_r(j)^2 \\,/\\, N_r(\\theta)` (IBSI W92Y)."""
    return torch.sum(m.pr**2, dim=1) / m.Nr


@register("RunLengthNonUniformityNormalized")
def run_length_non_uniformity_normalized(m: RunLengthMatrix) -> torch.Tensor:
    """RLNN = :math:`\\sum_j p_r(j)^2 \\,/\\, N_r(\\theta)^2` (IBSI IC23)."""
    return torch.sum(m.pr**2, dim=1) / m.Nr**2


@register("RunPercentage")
def run_percentage(m: RunLengthMatrix) -> torch.Tensor:
    """RP = :math:`N_r(\\theta) / N_p` with :math:`N_p = \\sum_j p_r(j)\\, j` the voxels covered by runs (IBSI
    9ZK5; with weighting, :math:`N_p` is weighted alike, as in PyRadiomics)."""
    return m.Nr / torch.sum(m.pr * m.jvector, dim=1)


@register("GrayLevelVariance")
def gray_level_variance(m: RunLengthMatrix) -> torch.Tensor:
    """GLV = :math:`\\sum_i p_g(i)/N_r\\,(i - \\mu)^2`, :math:`\\mu = \\sum_i p_g(i)/N_r\\, i` (IBSI 8CE5)."""
    pg = m.pg / m.Nr[:, None]
    mu = torch.sum(pg * m.ivector, dim=1, keepdim=True)
    return torch.sum(pg * (m.ivector - mu) ** 2, dim=1)


@register("RunVariance")
def run_variance(m: RunLengthMatrix) -> torch.Tensor:
    """RV = :math:`\\sum_j p_r(j)/N_r\\,(j - \\mu)^2`, :math:`\\mu = \\sum_j p_r(j)/N_r\\, j` (IBSI SXLW)."""
    pr = m.pr / m.Nr[:, None]
    mu = torch.sum(pr * m.jvector, dim=1, keepdim=True)
    return torch.sum(pr * (m.jvector - mu) ** 2, dim=1)


@register("RunEntropy")
def run_entropy(m: RunLengthMatrix) -> torch.Tensor:
    """RE = :math:`-\\sum_{i,j} p(i,j) \\log_2(p(i,j) + \\epsilon)`, :math:`\\epsilon` = 2.2e-16 (IBSI HJ9O)."""
    return common.entropy(m.P / m.Nr[:, None, None], dims=(1, 2))


@register("LowGrayLevelRunEmphasis")
def low_gray_level_run_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """LGLRE = :math:`\\sum_i p_g(i) / i^2 \\,/\\, N_r(\\theta)` (IBSI V3SW)."""
    return torch.sum(m.pg / m.ivector**2, dim=1) / m.Nr


@register("HighGrayLevelRunEmphasis")
def high_gray_level_run_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """HGLRE = :math:`\\sum_i p_g(i)\\, i^2 \\,/\\, N_r(\\theta)` (IBSI G3QZ)."""
    return torch.sum(m.pg * m.ivector**2, dim=1) / m.Nr


def _joint(m: RunLengthMatrix, weight: torch.Tensor) -> torch.Tensor:
    return torch.sum(m.P * weight, dim=(1, 2)) / m.Nr


@register("ShortRunLowGrayLevelEmphasis")
def short_run_low_gray_level_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """SRLGLE = :math:`\\sum_{i,j} P(i,j) / (i^2 j^2) \\,/\\, N_r(\\theta)` (IBSI HTZT)."""
    return _joint(m, 1 / (m.ivector[:, None] ** 2 * m.jvector[None, :] ** 2))


@register("ShortRunHighGrayLevelEmphasis")
def short_run_high_gray_level_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """SRHGLE = :math:`\\sum_{i,j} P(i,j)\\, i^2 / j^2 \\,/\\, N_r(\\theta)` (IBSI GD3A)."""
    return _joint(m, m.ivector[:, None] ** 2 / m.jvector[None, :] ** 2)


@register("LongRunLowGrayLevelEmphasis")
def long_run_low_gray_level_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """LRLGLE = :math:`\\sum_{i,j} P(i,j)\\, j^2 / i^2 \\,/\\, N_r(\\theta)` (IBSI IVPO)."""
    return _joint(m, m.jvector[None, :] ** 2 / m.ivector[:, None] ** 2)


@register("LongRunHighGrayLevelEmphasis")
def long_run_high_gray_level_emphasis(m: RunLengthMatrix) -> torch.Tensor:
    """LRHGLE = :math:`\\sum_{i,j} P(i,j)\\, i^2 j^2 \\,/\\, N_r(\\theta)` (IBSI 3KUM)."""
    return _joint(m, m.ivector[:, None] ** 2 * m.jvector[None, :] ** 2)


def _lines(offsets: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``(L, n)`` kernel-cell indices of every line of the kernel cube along ``angle``, in run order, padded
    with ``K`` (the pad column of ``common.pad_levels``)."""
    k = offsets.shape[0]
    step = neighbour_index(offsets, angle)
    starts = torch.nonzero(neighbour_index(offsets, -angle) < 0).flatten()
    cells = [starts]
    while True:
        prev = cells[-1]
        nxt = torch.where(prev >= 0, step[prev.clamp(min=0)], torch.full_like(prev, -1))
        if bool((nxt < 0).all()):
            break
        cells.append(nxt)
    lines = torch.stack(cells, dim=1)
    return torch.where(lines < 0, torch.full_like(lines, k), lines)


RUN_LENGTH_ONLY = frozenset(
    {
        "ShortRunEmphasis",
        "LongRunEmphasis",
        "RunLengthNonUniformity",
        "RunLengthNonUniformityNormalized",
        "RunPercentage",
        "RunVariance",
    }
)
"""Features that depend on the run lengths alone (:math:`p_r`, :math:`N_r`): for them the matrix is counted
without its grey-level axis (G times less to count and sum; the paper's LongRunEmphasis, ShortRunEmphasis)."""


def _angle_matrix(
    cells: torch.Tensor, lines: torch.Tensor, n_levels: int, dtype: torch.dtype, by_level: bool = True
) -> torch.Tensor:
    """``(B, G, n)`` run counts of one angle from cell-major padded levels ``(K + 1, B)`` and its lines ``(L, n)``.
    With ``by_level=False`` the grey levels are merged into one row, ``(B, 1, n)`` = :math:`p_r(j)` (enough for
    :data:`RUN_LENGTH_ONLY` features; integer counts, so the sums are the same numbers)."""
    b = cells.shape[1]
    n_lines, n = lines.shape
    # (n, L, B): position along the line first; each lookup copies whole contiguous rows of B kernels.
    lv = cells.index_select(0, lines.T.reshape(-1)).reshape(n, n_lines, b)
    inside = lv > 0
    codes = []
    length = torch.zeros_like(lv[0])
    for t in range(n):
        cur, here = lv[t], inside[t]
        # Run length so far: grows while the level repeats, restarts at 1 on a new level, 0 outside the ROI.
        same = (cur == lv[t - 1]) if t else torch.zeros_like(here)
        length = torch.where(same, length + 1, here.to(length.dtype))
        ends = here & (cur != lv[t + 1]) if t + 1 < n else here
        level = cur if by_level else here.to(cur.dtype)
        codes.append(torch.where(ends, level * (n + 1) + length, torch.zeros_like(cur)))
    n_levels = n_levels if by_level else 1
    size = (n_levels + 1) * (n + 1)
    # One bincount over (code, kernel) pairs; code 0 collects the cells that end no run.
    flat = torch.stack(codes).to(torch.int64) * b + torch.arange(b, device=lv.device)
    counts = torch.bincount(flat.reshape(-1), minlength=size * b).reshape(n_levels + 1, n + 1, b)
    # Contiguous per kernel, so that later per-kernel sums reduce in the same order whatever the batch size.
    counts = counts[1:, 1:].permute(2, 0, 1).to(dtype).contiguous()
    # PyRadiomics' "segmentation is 2D for this angle": no line holds two ROI voxels -> the angle is empty.
    multi = (inside.sum(dim=0) > 1).any(dim=0)
    return counts * multi[:, None, None].to(dtype)


def _angle_weights(
    angle_list: torch.Tensor, settings: Mapping[str, Any], context: FamilyContext, dtype: torch.dtype
) -> torch.Tensor | None:
    norm = settings.get("weightingNorm")
    if norm is None:
        return None
    a = angle_list.abs().to(torch.float64)
    if norm in ("manhattan", "euclidean", "infinity"):
        spacing = context.voxel_spacing("GLRLM weightingNorm")
        d = a * torch.as_tensor(spacing, dtype=torch.float64, device=a.device)
        w = {"manhattan": d.sum(1), "euclidean": d.pow(2).sum(1).sqrt(), "infinity": d.max(1).values}[norm]
    else:
        if norm != "no_weighting":
            logger.warning(
                "GLRLM weightingNorm %r is unknown; weighting factor set to 1 (as PyRadiomics)", norm
            )
        w = torch.ones(a.shape[0], dtype=torch.float64, device=a.device)
    return w.to(device=angle_list.device, dtype=dtype)


def prepare(
    image: DiscretisedImage, features: Sequence[str], settings: Mapping[str, Any], backend: Backend
) -> VolumeRuns | None:
    """Image-level state for :func:`compute` on the torch backend: the volume run lengths of
    :mod:`pdacrad.radiomics.counting.runs` for the kernel's angles, used for batches that carry their voxel
    positions. ``None`` on the compiled backend (default on CPU), where the counting reads the kernels alone (and
    the 2 × 13 run volumes would only cost time and memory)."""
    if backend.compiled:
        return None
    offsets = settings_offsets(image.radius, settings, image.level_index.device)
    angle_list = common.angles(offsets, bidirectional=False)
    return volume_runs(image.level_index, angle_list, image.radius)


def compute(
    batch: KernelBatch,
    features: Sequence[str],
    settings: Mapping[str, Any],
    context: FamilyContext = NO_CONTEXT,
) -> dict[str, torch.Tensor]:
    """GLRLM ``features`` of every kernel of ``batch``: ``{name: (B,) tensor}`` of ``batch.dtype`` on its device.

    ``settings`` keys used: ``weightingNorm`` (default None; its mm norms need ``context``'s spacing); the angles
    follow the kernel's shape (``force2D`` kernels are flat). Batch-invariant: each kernel's value depends on it
    alone.
    """
    check_features("glrlm", features, FEATURES)
    dtype = batch.dtype
    offsets = batch.offsets.to(batch.device)  # index tables must live where the levels are (CUDA or CPU)
    angle_list = common.angles(offsets, bidirectional=False)
    weights = _angle_weights(angle_list, settings, context, dtype)
    ivector = batch.grey_levels
    if angle_list.shape[0] == 0:  # a 1-voxel kernel (radius 0): no angle, every feature NaN
        nan = torch.full((batch.n_voxels,), float("nan"), dtype=dtype, device=batch.device)
        return {name: nan.clone() for name in features}

    per_angle: dict[str, list[torch.Tensor]] = {name: [] for name in features}
    weighted: torch.Tensor | None = None
    by_level = not set(features) <= RUN_LENGTH_ONLY
    for a, counts in enumerate(_angle_counts(batch, offsets, angle_list, context, by_level)):
        if weights is not None:
            weighted = counts * weights[a] if weighted is None else _pad_add(weighted, counts * weights[a])
            continue
        m = RunLengthMatrix(counts, ivector, _jvector(counts))
        for name in features:
            per_angle[name].append(FEATURES[name](m))
    if weighted is not None:
        m = RunLengthMatrix(weighted, ivector, _jvector(weighted))
        return {name: FEATURES[name](m) for name in features}
    return {name: torch.nanmean(torch.stack(vals, dim=1), dim=1) for name, vals in per_angle.items()}


def _angle_counts(
    batch: KernelBatch,
    offsets: torch.Tensor,
    angle_list: torch.Tensor,
    context: FamilyContext,
    by_level: bool,
) -> Iterator[torch.Tensor]:
    """Per angle, the ``(B, G, J)`` run counts of ``batch`` in its dtype (:class:`RunLengthMatrix` ``P``): compiled
    on the compiled backend; on the torch backend from the volume run lengths of :func:`prepare` when the batch
    carries its voxel positions, else by tracing the kernel's lines. All three give the same integers."""
    dtype = batch.dtype
    if backend_of(batch).compiled:
        for counts in runs_cpu.run_counts(batch, angle_list, by_level):
            yield counts.to(dtype).contiguous()
        return
    runs = context.prepared
    if isinstance(runs, VolumeRuns) and batch.voxels is not None:
        cells = KernelCells.of(batch.levels, batch.voxels, offsets, runs)
        for a in range(angle_list.shape[0]):
            yield run_counts(cells, offsets, runs, a, batch.n_levels, dtype, by_level)
        return
    # Cell-major (K + 1, B) levels, int16 where codes fit: the counting loops are memory-bound.
    padded = common.pad_levels(
        common.narrow_levels(batch.levels, batch.n_levels, n_extra=2 * batch.radius + 1)
    ).T.contiguous()
    for angle in angle_list:
        yield _angle_matrix(padded, _lines(offsets, angle), batch.n_levels, dtype, by_level)


needs_kernels = common.needs_kernels_off_compiled


def _jvector(counts: torch.Tensor) -> torch.Tensor:
    return torch.arange(1, counts.shape[2] + 1, dtype=counts.dtype, device=counts.device)


def _pad_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum two ``(B, G, n)`` matrices whose run-length axes may differ in length (lines differ per angle)."""
    n = max(a.shape[2], b.shape[2])
    pad = torch.nn.functional.pad
    return pad(a, (0, n - a.shape[2])) + pad(b, (0, n - b.shape[2]))


def batch_cost(
    backend: Backend, shape: KernelShape, features: Sequence[str], settings: Mapping[str, Any]
) -> BatchCost:
    """Memory per voxel of :func:`compute` on ``backend``: compiled int16 run counts and their float copy per
    angle, ``G × J`` with ``J`` (the longest line) ≤ sqrt(K) + 1 (kernels read from the level volume), capped at
    :data:`~pdacrad.radiomics.backend.COMPILED_BATCH` voxels; torch line tracing otherwise."""
    if backend.compiled:
        runs = 10 * shape.n_angles * (shape.n_levels + 1) * (math.isqrt(shape.n_cells) + 1)
        return BatchCost(32 * shape.n_cells + runs, COMPILED_BATCH)
    return BatchCost(kernel_cost(shape.n_cells, shape.n_levels))
