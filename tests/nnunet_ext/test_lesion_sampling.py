"""The demo schedules centre foreground patches on the lesion label more often than nnU-Net's uniform choice."""

from __future__ import annotations

import numpy as np
import pytest
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

from pdacrad.nnunet_ext.conditioning.data_loading import PdacradDataLoader
from pdacrad.nnunet_ext.variants.picai import nnUNetTrainerPicaiDemo, nnUNetTrainerPicaiSmoke
from pdacrad.nnunet_ext.variants.radiomics import nnUNetTrainerRadiomicsDemo, nnUNetTrainerRadiomicsSmoke
from pdacrad.nnunet_ext.variants.schedules import nnUNetTrainerDemo, nnUNetTrainerSmoke


def _chosen_classes(
    monkeypatch: pytest.MonkeyPatch, probability: float, locations: dict, force_fg: bool
) -> list:
    """The class nnU-Net's get_bbox is asked to centre on, over 2000 draws (nnU-Net's box itself not computed)."""
    seen: list = []

    def record(self, shape, fg, locs, overwrite_class=None, verbose=False):  # type: ignore[no-untyped-def]
        seen.append(overwrite_class)

    monkeypatch.setattr(nnUNetDataLoader, "get_bbox", record)
    loader = object.__new__(PdacradDataLoader)
    loader.lesion_label, loader.lesion_probability = 1, probability
    np.random.seed(0)
    for _ in range(2000):
        loader.get_bbox(np.array([1, 8, 8, 8]), force_fg, locations)
    return seen


def test_lesion_is_the_centre_with_the_given_probability(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _chosen_classes(monkeypatch, 0.6, {1: np.zeros((3, 4)), 4: np.zeros((5, 4))}, force_fg=True)
    assert abs(seen.count(1) / len(seen) - 0.6) < 0.04
    assert set(seen) == {1, None}  # otherwise nnU-Net's own choice


@pytest.mark.parametrize(
    ("locations", "force_fg"),
    [({1: np.zeros((0, 4)), 4: np.zeros((5, 4))}, True), ({1: np.zeros((3, 4))}, False)],
)
def test_no_lesion_or_random_patch_keeps_nnunet_behaviour(
    monkeypatch: pytest.MonkeyPatch, locations: dict, force_fg: bool
) -> None:
    assert set(_chosen_classes(monkeypatch, 1.0, locations, force_fg)) == {None}


@pytest.mark.parametrize(
    "cls",
    [
        nnUNetTrainerSmoke,
        nnUNetTrainerPicaiDemo,
        nnUNetTrainerPicaiSmoke,
        nnUNetTrainerRadiomicsDemo,
        nnUNetTrainerRadiomicsSmoke,
    ],
)
def test_demo_and_smoke_schedules_sample_like_the_stage1_demo(cls: type) -> None:
    assert nnUNetTrainerDemo.LESION_PATCH_PROBABILITY > 0
    assert cls.LESION_PATCH_PROBABILITY == nnUNetTrainerDemo.LESION_PATCH_PROBABILITY
    assert cls.OVERSAMPLE_FOREGROUND == nnUNetTrainerDemo.OVERSAMPLE_FOREGROUND
