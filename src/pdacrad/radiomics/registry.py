"""The feature registry every family module uses: one ``FEATURES`` table per family, filled by a decorator.

A family module does ``FEATURES, register = feature_registry()`` and decorates each feature function (a pure
function of the family's coefficient object, returning one ``(B,)`` value per voxel) with
``@register("<PyRadiomics feature name>")``; :func:`check_features` turns a request for a name the family does
not define into an :class:`~pdacrad.errors.InvalidInputError` that lists the known names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import torch

from pdacrad.errors import InvalidInputError

FeatureFn = Callable[..., torch.Tensor]
F = TypeVar("F", bound=FeatureFn)


def feature_registry() -> tuple[dict[str, FeatureFn], Callable[[str], Callable[[F], F]]]:
    """A family's ``FEATURES`` dict (PyRadiomics name → function) and the decorator that fills it.

    Registering one name twice raises ``ValueError`` (a copy-paste slip would otherwise shadow a feature)."""
    features: dict[str, FeatureFn] = {}

    def register(name: str) -> Callable[[F], F]:
        def add(fn: F) -> F:
            if name in features:
                raise ValueError(f"feature {name!r} registered twice")
            features[name] = fn
            return fn

        return add

    return features, register


def check_features(family: str, features: Sequence[str], known: Mapping[str, object]) -> None:
    """Raise :class:`InvalidInputError` naming the unknown feature(s) of ``family``."""
    unknown = [f for f in features if f not in known]
    if unknown:
        raise InvalidInputError(f"unknown {family} feature(s) {unknown}; known: {sorted(known)}")
