"""The feature-family contract: the hooks the engine core (:mod:`pdacrad.radiomics.maps`) calls on every family
module (``firstorder``, ``glcm``, ``glrlm``, ``glszm``, ``gldm``, ``ngtdm``), and the engine state it hands them.

Per image type of a case (one discretised crop) and requested family, the core calls, in this order:

1. ``prepare(image, features, settings, backend)``: image-level work done once before any batch (GLCM: which
   angles have a pair in some kernel of the ROI; GLRLM on torch: volume run lengths; GLDM/NGTDM: per-cell counts of
   the whole image), returned as one object (``None``: nothing to prepare);
2. ``needs_kernels(backend, features, settings)``: whether the batches must carry gathered kernels
   (:attr:`~pdacrad.radiomics.kernel.KernelBatch.levels`), or the family's compiled counting reads the padded level
   volume itself (:attr:`~pdacrad.radiomics.kernel.KernelBatch.volume`);
3. ``batch_cost(backend, shape, features, settings)``: what one voxel of a batch costs on ``backend``, from the
   same route decision ``compute`` takes (:class:`~pdacrad.radiomics.backend.BatchCost`);
4. ``compute(batch, features, settings, context)`` per voxel batch: one ``(B,)`` tensor per requested feature.

``settings`` is always the user's PyRadiomics settings of the image type, read-only. Everything the engine core
knows beyond them — the voxel spacing and what ``prepare`` returned — travels in one frozen
:class:`FamilyContext`, never under private keys in the settings. A family also says whether its kernels carry the
raw intensities (``READS_VALUES``: first-order only) and lists its features (``FEATURES``, from
:func:`~pdacrad.radiomics.registry.feature_registry`).

A family is a module implementing :class:`FeatureFamily`; the engine registers each through
:func:`checked_families`, which refuses a module with a missing or misshapen hook when the engine is imported (and
mypy checks the same statically).
Hooks that are the same for several families are shared here (:func:`nothing_to_prepare`, :func:`always_gathers`,
and :func:`registered_compute`: check the names, build the family's coefficients once, apply each formula).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.backend import Backend, BatchCost
from pdacrad.radiomics.kernel import KernelBatch
from pdacrad.radiomics.registry import FeatureFn, check_features

C = TypeVar("C")


@dataclass(frozen=True)
class DiscretisedImage:
    """One image type of one case as the engine core discretised it (cropped to the ROI's bounding box plus the
    kernel radius), what ``prepare`` works on. Axis order (z, y, x).

    Attributes:
        level_index: ``(Z, Y, X)`` int64 grey-level index ``1..G`` per voxel, 0 outside ``maskArray``.
        roi: ``(Z, Y, X)`` bool, the target voxels (the ROI label).
        grey_levels: ``(G,)`` float grey-level values by level index - 1 (the batches' ``grey_levels``).
        radius: the kernel radius in voxels.
        spacing_zyx: voxel spacing in mm.
    """

    level_index: torch.Tensor
    roi: torch.Tensor
    grey_levels: torch.Tensor
    radius: int
    spacing_zyx: tuple[float, float, float]


@dataclass(frozen=True)
class KernelShape:
    """What sizes a family's batch: ``n_cells`` cells per kernel ``K``, ``n_levels`` grey levels of the ROI ``G``,
    ``n_angles`` GLCM angles of the ``distances`` setting (13 per distance)."""

    n_cells: int
    n_levels: int
    n_angles: int


@dataclass(frozen=True)
class FamilyContext:
    """Engine state of one family on one image type, fixed before the first batch.

    Attributes:
        spacing_zyx: voxel spacing (z, y, x) in mm of the image the kernels come from (``None`` for kernels built
            without an image, e.g. in tests); read through :meth:`voxel_spacing`.
        prepared: what the family's ``prepare`` returned (``None``: nothing prepared; ``compute`` then counts from
            the kernels alone).
    """

    spacing_zyx: tuple[float, float, float] | None = None
    prepared: object = None

    def voxel_spacing(self, what: str) -> tuple[float, float, float]:
        """:attr:`spacing_zyx`; :class:`InvalidInputError` naming ``what`` needs it when it is missing (a silent
        default of 1 mm would give wrong values on anisotropic CT)."""
        if self.spacing_zyx is None:
            raise InvalidInputError(
                f"{what} needs the voxel spacing (z, y, x) in mm: pass FamilyContext(spacing_zyx=...)"
            )
        z, y, x = (float(v) for v in self.spacing_zyx)
        return z, y, x


NO_CONTEXT = FamilyContext()
"""The context of kernels built without an image (no spacing, nothing prepared): ``compute``'s default."""


class FeatureFamily(Protocol):
    """What a feature-family module provides (see the module docstring for when the engine core calls each hook).

    Attributes:
        FEATURES: PyRadiomics feature name → registered formula.
        READS_VALUES: the kernels must carry the raw intensities (:attr:`KernelBatch.values`).
    """

    FEATURES: dict[str, FeatureFn]
    READS_VALUES: bool

    def prepare(
        self, image: DiscretisedImage, features: Sequence[str], settings: Mapping[str, Any], backend: Backend
    ) -> object:
        """Image-level state for :attr:`FamilyContext.prepared`, or ``None``."""
        ...

    def needs_kernels(self, backend: Backend, features: Sequence[str], settings: Mapping[str, Any]) -> bool:
        """Whether ``compute`` reads gathered kernels (else the padded level volume)."""
        ...

    def batch_cost(
        self, backend: Backend, shape: KernelShape, features: Sequence[str], settings: Mapping[str, Any]
    ) -> BatchCost:
        """Memory per voxel of ``compute`` on ``backend``."""
        ...

    def compute(
        self,
        batch: KernelBatch,
        features: Sequence[str],
        settings: Mapping[str, Any],
        context: FamilyContext,
    ) -> dict[str, torch.Tensor]:
        """One ``(B,)`` tensor per requested feature, of ``batch.dtype`` on its device."""
        ...


HOOKS = ("prepare", "needs_kernels", "batch_cost", "compute")
"""The hook functions of :class:`FeatureFamily`, in the order the engine core calls them."""


def _parameters(fn: object) -> list[inspect.Parameter]:
    return list(inspect.signature(cast(Any, fn)).parameters.values())


def check_family(module: object) -> FeatureFamily:
    """``module`` as a :class:`FeatureFamily`; ``TypeError`` naming the module and every hook it lacks or whose
    parameters differ from the protocol's (extra trailing parameters need defaults), and a missing or empty
    ``FEATURES`` or a missing ``READS_VALUES``."""
    problems = []
    for hook in HOOKS:
        fn = getattr(module, hook, None)
        if not callable(fn):
            problems.append(f"no {hook}()")
            continue
        wanted = [p.name for p in _parameters(getattr(FeatureFamily, hook))[1:]]
        have = _parameters(fn)
        names = [p.name for p in have[: len(wanted)]]
        extra = [p.name for p in have[len(wanted) :] if p.default is inspect.Parameter.empty]
        if names != wanted or extra:
            problems.append(f"{hook}({', '.join(p.name for p in have)}) is not {hook}({', '.join(wanted)})")
    features = getattr(module, "FEATURES", None)
    if not isinstance(features, dict) or not features:
        problems.append("no FEATURES (feature name → formula)")
    if not isinstance(getattr(module, "READS_VALUES", None), bool):
        problems.append("no READS_VALUES (bool)")
    if problems:
        raise TypeError(
            f"{getattr(module, '__name__', module)} does not implement the feature family contract "
            f"(pdacrad.radiomics.family.FeatureFamily): {'; '.join(problems)}"
        )
    return cast(FeatureFamily, module)


def checked_families(families: dict[str, FeatureFamily]) -> dict[str, FeatureFamily]:
    """The engine's family registry (feature class name → module), each module run through :func:`check_family`.
    Written as a dict literal of modules, the argument is also checked by mypy against :class:`FeatureFamily`."""
    for module in families.values():
        check_family(module)
    return dict(families)


ComputeFn = Callable[[KernelBatch, Sequence[str], Mapping[str, Any], FamilyContext], dict[str, torch.Tensor]]


def registered_compute(
    family: str,
    formulas: Mapping[str, Callable[[C], torch.Tensor]],
    coefficients: Callable[[KernelBatch, Mapping[str, Any], FamilyContext], C],
) -> ComputeFn:
    """The ``compute`` hook of a family whose features are formulas of one coefficient object (its ``FEATURES``):
    the requested names checked against ``formulas`` (:class:`InvalidInputError` naming unknown ones),
    ``coefficients(batch, settings, context)`` built once per batch, and each requested formula applied to it, in
    the order requested."""

    def compute(
        batch: KernelBatch,
        features: Sequence[str],
        settings: Mapping[str, Any],
        context: FamilyContext = NO_CONTEXT,
    ) -> dict[str, torch.Tensor]:
        check_features(family, features, formulas)
        shared = coefficients(batch, settings, context)
        return {name: formulas[name](shared) for name in features}

    compute.__doc__ = (
        f"One ``(B,)`` tensor per requested {family} feature for the kernels of ``batch``, of its dtype on its "
        f"device, from :func:`{coefficients.__name__}` (see :func:`~pdacrad.radiomics.family.registered_compute`)."
    )
    return compute


def nothing_to_prepare(
    image: DiscretisedImage, features: Sequence[str], settings: Mapping[str, Any], backend: Backend
) -> None:
    """``prepare`` of a family that counts from each kernel alone (first-order, GLSZM)."""
    return None


def always_gathers(backend: Backend, features: Sequence[str], settings: Mapping[str, Any]) -> bool:
    """``needs_kernels`` of a family that reads gathered kernels on every backend (first-order)."""
    return True
