"""The demo schedules centre foreground patches on the lesion label more often than nnU-Net's uniform choice."""

from __future__ import annotations

import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module
import numpy as np
import pytest
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

from pdacrad.nnunet_ext.trainers import LesionFocusedDataLoader, nnUNetTrainerDemo, nnUNetTrainerSmoke


def _chosen_classes(
    monkeypatch: pytest.MonkeyPatch, probability: float, locations: dict, force_fg: bool
) -> list:
    seen: list = []

    def record(self, shape, fg, locs, overwrite_class=None, verbose=False):  # type: ignore[no-untyped-def]
        seen.append(overwrite_class)

    monkeypatch.setattr(nnUNetDataLoader, "get_bbox", record)
    loader = object.__new__(type("L", (LesionFocusedDataLoader,), {"lesion_probability": probability}))
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


def test_demo_schedules_use_it() -> None:
    assert nnUNetTrainerDemo.LESION_PATCH_PROBABILITY > 0
    assert nnUNetTrainerSmoke.LESION_PATCH_PROBABILITY == nnUNetTrainerDemo.LESION_PATCH_PROBABILITY
    # the loader class nnU-Net builds by name is restored after get_dataloaders (checked by the fit tests' runs)
    assert nnunet_trainer_module.nnUNetDataLoader is nnUNetDataLoader
