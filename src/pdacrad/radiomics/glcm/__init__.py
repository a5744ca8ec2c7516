"""Grey Level Co-occurrence Matrix (GLCM) features, voxel-wise, PyRadiomics 3.1 semantics.

For each target voxel and each angle ``a`` (every offset whose Chebyshev norm is in ``distances``; 13 per distance
in 3D, 4 in 2D), ``P(i, j | a)`` counts kernel voxel pairs ``(v, v + a)`` with grey levels ``(i, j)``, both inside
the kernel. With ``symmetricalGLCM`` (default) ``P ← P + Pᵀ``. With ``weightingNorm`` the angles are summed with
weights ``exp(-‖a·spacing‖²)`` into one matrix. Each angle's matrix is normalised to sum 1; an angle with no pair
is NaN for that voxel and every feature averages angles with ``nanmean`` — except Joint Average (plain mean).
Angles without a pair in *any* kernel of the ROI are removed first (PyRadiomics does this per voxel batch; its
default batch is the whole ROI, which is what :func:`prepare` reproduces).

Design (one formula per feature, counting per backend). Each feature is ONE registered function of
:mod:`~pdacrad.radiomics.glcm.formulas` whose docstring is its formula, compiled by numba (arguments in the comment
above the formulas there). It evaluates one *block* (one voxel and angle) from that block's non-zero entries
``p(i,j)`` in ``(i, j)`` order and the sums all formulas share (:func:`~pdacrad.radiomics.glcm.drivers.block_sums`:
marginals, μ, entropies, ``p_{x±y}``), so its cost follows the kernel's pairs, not ``G²``. Two drivers run these
same functions, calling them directly (an unrolled loop over :data:`~pdacrad.radiomics.glcm.formulas.FORMULAS`,
the registry's compiled formulas; no feature order is written anywhere):

- :func:`~pdacrad.radiomics.glcm.drivers.fused_features` (compiled backend, CPU): counts each kernel's angles in
  small tables of its run's own levels, slid from the previous target voxel's kernel along a scan line (counting
  ∝ r², not r³; see :mod:`~pdacrad.radiomics.glcm.sliding`), and evaluates the formulas at once, nothing written
  out;
- :func:`~pdacrad.radiomics.glcm.drivers.entries_features` (torch backend: CUDA, or CPU tensors when asked; and
  ``weightingNorm`` on every backend, angles merged into one float matrix): the backend's counted entries
  (``O(pairs)``, :mod:`~pdacrad.radiomics.glcm.counting`, moved to the host) are evaluated by the same formulas.

Both hand the formulas the same entries in the same order, so the two backends agree bit for bit
(``tests/radiomics/test_glcm_counting.py``). Why not torch formulas for both: on CPU the per-block formulas run in
cache next to the counting, measured ~2× faster than vectorised torch sums over the entries (paper GLCM features,
r = 2); the cost on CUDA is the host copy of the entries. MCC is computed beside the other formulas from the same
entries on either route (eigenvalues of its matrix restricted to the block's own levels, ``O(L³)`` for a block of
``L`` levels, not ``G³``; :func:`~pdacrad.radiomics.glcm.formulas.mcc`): requesting it never changes the route.
Formulas work in float64 whatever the batch dtype; values are cast back.

Modules (each imports only those before it): :mod:`~pdacrad.radiomics.glcm.eigen` (compiled eigenvalues of a small
symmetric matrix, for MCC), :mod:`~pdacrad.radiomics.glcm.formulas` (the registered formulas, MCC, the shared-sum
slots; its docstring lists the symbols), :mod:`~pdacrad.radiomics.glcm.sliding` (the
compiled CPU sliding-window counting), :mod:`~pdacrad.radiomics.glcm.counting` (angles, their ROI check, torch
pair counts, angle weights, every backend's entries), :mod:`~pdacrad.radiomics.glcm.drivers` (the per-block sums
and the compiled drivers), and this module: the family's face to the engine, the hooks of
:class:`~pdacrad.radiomics.family.FeatureFamily` (:data:`FEATURES`, :func:`prepare`, :func:`compute`,
:func:`needs_kernels`, :func:`batch_cost`) and :func:`counting_route`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from pdacrad.radiomics.backend import (
    COMPILED_BATCH,
    Backend,
    BatchCost,
    backend_of,
    kernel_cost,
)
from pdacrad.radiomics.family import NO_CONTEXT, DiscretisedImage, FamilyContext, KernelShape
from pdacrad.radiomics.glcm import counting, sliding
from pdacrad.radiomics.glcm.counting import glcm_angles
from pdacrad.radiomics.glcm.drivers import entries_features, fused_features
from pdacrad.radiomics.glcm.formulas import COLUMNS, FEATURES, MCC_COLUMN, NEEDS, PLAIN_MEAN
from pdacrad.radiomics.kernel import KernelBatch
from pdacrad.radiomics.registry import check_features

__all__ = [
    "FEATURES",
    "READS_VALUES",
    "batch_cost",
    "compute",
    "counting_route",
    "glcm_angles",
    "needs_kernels",
    "prepare",
]

READS_VALUES = False


def prepare(
    image: DiscretisedImage, features: Sequence[str], settings: Mapping[str, Any], backend: Backend
) -> tuple[bool, ...] | None:
    """Per angle, whether some kernel of the ROI holds a pair along it
    (:func:`~pdacrad.radiomics.glcm.counting.angles_present`); ``None`` unless JointAverage is requested."""
    return counting.angles_present(image.level_index, image.roi, image.radius, settings, features)


def _angles(settings: Mapping[str, Any], context: FamilyContext) -> torch.Tensor:
    """The angles of the settings, less those without a pair in any kernel of the ROI (see :func:`prepare`)."""
    angles = counting.angles_from_settings(settings)
    present = context.prepared
    if isinstance(present, tuple) and len(angles) > 1 and not all(present) and any(present):
        angles = angles[torch.tensor(present, dtype=torch.bool)]
    return angles


def counting_route(backend: Backend, features: Sequence[str], settings: Mapping[str, Any]) -> str:
    """How :func:`compute` counts on ``backend`` (and what :func:`batch_cost` sizes for): ``"fused"`` (compiled
    counting and formulas per kernel, nothing written out) on the compiled backend without ``weightingNorm``;
    ``"entries"`` (the backend's counts written out as entries, then the formulas) otherwise. MCC is one of the
    formulas on either route: it never changes the route."""
    return "fused" if backend.compiled and settings.get("weightingNorm") is None else "entries"


def needs_kernels(backend: Backend, features: Sequence[str], settings: Mapping[str, Any]) -> bool:
    """Whether :func:`compute` reads the batch's gathered kernels: not on the fused route of a sliding compiled
    backend, which reads the engine's padded level volume (:attr:`KernelBatch.volume`) itself."""
    return not (counting_route(backend, features, settings) == "fused" and backend.sliding)


def batch_cost(
    backend: Backend, shape: KernelShape, features: Sequence[str], settings: Mapping[str, Any]
) -> BatchCost:
    """Memory per voxel of :func:`compute` on ``backend`` for the route :func:`counting_route` takes."""
    n_cells, n_levels, n_angles = shape.n_cells, shape.n_levels, shape.n_angles
    per_voxel = kernel_cost(n_cells, n_levels)
    cap: int | None = None
    if counting_route(backend, features, settings) == "fused":
        cap = COMPILED_BATCH  # per-kernel scratch only
    else:  # entries: ≤ 2 per pair and angle (codes, counts, bincount of each kernel's own levels)
        local = min(n_cells, n_levels) + 1
        per_voxel += 8 * n_cells * n_angles * 8 + 8 * n_angles * local * local
        cap = COMPILED_BATCH if backend.compiled else None
    return BatchCost(per_voxel, cap)


def _grey_tables(batch: KernelBatch) -> tuple[np.ndarray, np.ndarray]:
    """``(G + 1,)`` float64 and int64 grey-level values by level index (0 at index 0)."""
    grey = batch.grey_levels.detach().cpu().to(torch.float64)
    values = np.concatenate([np.zeros(1), grey.numpy()])
    return values, np.concatenate([np.zeros(1, np.int64), grey.round().to(torch.int64).numpy()])


def compute(
    batch: KernelBatch,
    features: Sequence[str],
    settings: Mapping[str, Any],
    context: FamilyContext = NO_CONTEXT,
) -> dict[str, torch.Tensor]:
    """One ``(B,)`` tensor per requested GLCM feature (PyRadiomics names) for the kernels of ``batch``, of its
    dtype on its device, counted by its backend (:func:`~pdacrad.radiomics.backend.backend_of`)."""
    check_features("glcm", features, FEATURES)
    backend = backend_of(batch)
    angles = _angles(settings, context)
    symmetric = bool(settings.get("symmetricalGLCM", True))
    want = np.array([name in features for name in COLUMNS])
    plain = np.array([name in PLAIN_MEAN for name in COLUMNS])
    needs = int(np.bitwise_or.reduce([0, *(NEEDS[name] for name in features)]))
    values, ints = _grey_tables(batch)
    result = np.zeros((batch.n_voxels, len(COLUMNS)))
    if counting_route(backend, features, settings) == "fused":
        layout = sliding.kernel_layout(batch, angles, backend.sliding)
        fused_features(*layout, symmetric, values, ints, want, plain, needs, result)
    else:
        codes, counts, n_angles = counting.entries(batch, backend, angles, symmetric, settings, context)
        codes_np, counts_np = codes.cpu().numpy(), counts.cpu().numpy()
        entries_features(codes_np, counts_np, n_angles, symmetric, values, ints, want, plain, needs, result)
    if batch.n_levels < 2:  # PyRadiomics: MCC = 1 when the ROI has one grey level (Q is 1 × 1)
        result[:, MCC_COLUMN] = 1.0
    table = torch.from_numpy(result).to(batch.device, batch.dtype)
    return {name: table[:, COLUMNS[name]].contiguous() for name in features}
