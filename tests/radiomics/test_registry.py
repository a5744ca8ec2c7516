"""The one feature registry of the engine: duplicate names refused, unknown names reported, every family on it."""

from __future__ import annotations

import importlib

import pytest
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.maps import FAMILIES
from pdacrad.radiomics.registry import check_features, feature_registry


def test_registering_a_name_twice_is_refused() -> None:
    features, register = feature_registry()

    @register("Contrast")
    def contrast(c: torch.Tensor) -> torch.Tensor:
        return c

    assert features == {"Contrast": contrast}
    with pytest.raises(ValueError, match="Contrast"):
        register("Contrast")(contrast)


def test_unknown_features_are_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match=r"unknown glcm feature\(s\) \['Nope'\].*'Contrast'"):
        check_features("glcm", ["Contrast", "Nope"], {"Contrast": None})


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_rejects_unknown_names_through_the_registry(family: str) -> None:
    module = importlib.import_module(f"pdacrad.radiomics.{family}")
    assert module.FEATURES and all(callable(fn) for fn in module.FEATURES.values())
    with pytest.raises(InvalidInputError, match=f"unknown {family} feature"):
        module.compute(None, ["NoSuchFeature"], {})
