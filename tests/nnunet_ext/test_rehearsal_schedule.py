"""The full-size rehearsal's trainers differ from the recipe's only in the schedule (fewer epochs, iterations,
validation iterations; more frequent checkpoints), never in sampling, learning rate or anything else."""

from __future__ import annotations

import pytest

from pdacrad.nnunet_ext import find_trainer

SCHEDULE = {"EPOCHS", "ITERATIONS", "VAL_ITERATIONS", "SAVE_EVERY", "picai_every"}


def _differences(a: type, b: type) -> set[str]:
    names = {n for n in dir(a) if not n.startswith("__")} | {n for n in dir(b) if not n.startswith("__")}
    return {
        n
        for n in names
        if getattr(a, n, None) is not getattr(b, n, None) and getattr(a, n, None) != getattr(b, n, None)
    }


@pytest.mark.parametrize(
    ("rehearsal", "recipe"),
    [
        ("nnUNetTrainerRehearsal", "PdacradTrainer"),
        ("nnUNetTrainerPicaiRehearsal", "nnUNetTrainerPicai"),
        ("nnUNetTrainerRadiomicsRehearsal", "nnUNetTrainerRadiomics"),
    ],
)
def test_a_rehearsal_trainer_changes_only_the_schedule(rehearsal: str, recipe: str) -> None:
    cut, real = find_trainer(rehearsal), find_trainer(recipe)
    assert issubclass(cut, real)
    changed = _differences(cut, real)
    assert changed and changed <= SCHEDULE
    assert cut.EPOCHS * cut.ITERATIONS < real.EPOCHS * real.ITERATIONS


def test_the_stage1_rehearsal_samples_and_learns_as_nnunet() -> None:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    cut = find_trainer("nnUNetTrainerRehearsal")
    assert (cut.OVERSAMPLE_FOREGROUND, cut.INITIAL_LR, cut.LESION_PATCH_PROBABILITY) == (0.33, 1e-2, 0.0)
    assert issubclass(cut, nnUNetTrainer)
