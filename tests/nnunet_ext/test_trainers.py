"""Trainer variants are found by name the way nnU-Net's predictor finds them (nnUNet_extTrainer)."""

from __future__ import annotations

import os

import pytest

from pdacrad.errors import ResourceError
from pdacrad.nnunet_ext import EXT_TRAINER_ENV, TRAINER_DIR, find_trainer, register_trainers
from pdacrad.nnunet_ext.trainers import nnUNetTrainerDemo, nnUNetTrainerSmoke


def test_find_trainer_ours_and_nnunets() -> None:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    assert find_trainer("nnUNetTrainerDemo") is nnUNetTrainerDemo
    assert find_trainer("nnUNetTrainer") is nnUNetTrainer
    with pytest.raises(ResourceError, match="Unknown nnU-Net trainer 'NoSuchTrainer'"):
        find_trainer("NoSuchTrainer")


def test_register_trainers_is_idempotent_and_keeps_other_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXT_TRAINER_ENV, "/some/other/trainers")
    register_trainers()
    register_trainers()
    assert os.environ[EXT_TRAINER_ENV].split(os.pathsep) == ["/some/other/trainers", str(TRAINER_DIR)]


@pytest.mark.parametrize("cls", [nnUNetTrainerDemo, nnUNetTrainerSmoke])
def test_nnunet_finds_our_variants_through_ext_trainer(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """This is the look-up `nnUNetPredictor.initialize_from_trained_model_folder` does with the name stored
    in a checkpoint."""
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    monkeypatch.delenv(EXT_TRAINER_ENV, raising=False)
    register_trainers()
    found = recursive_find_trainer_class_by_name(cls.__name__)
    assert found.__name__ == cls.__name__
    assert "nnUNetTrainer" in [base.__name__ for base in found.__mro__]
    assert found.EPOCHS == cls.EPOCHS
