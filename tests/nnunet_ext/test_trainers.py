"""Trainer variants are found by name the way nnU-Net finds them (nnUNet_extTrainer), and every one of them is
known to the inference-side network builder."""

from __future__ import annotations

import importlib.util
import inspect
import os

import pytest

from pdacrad.errors import ResourceError
from pdacrad.nnunet_ext import (
    EXT_TRAINER_ENV,
    TRAINER_DIR,
    find_trainer,
    register_trainers,
)
from pdacrad.nnunet_ext.trainer_names import PLAIN_TRAINERS, RADIOMICS_TRAINERS
from pdacrad.nnunet_ext.variants import picai, radiomics, schedules
from pdacrad.nnunet_ext.variants.picai import nnUNetTrainerPicai
from pdacrad.nnunet_ext.variants.radiomics import nnUNetTrainerRadiomics
from pdacrad.nnunet_ext.variants.schedules import nnUNetTrainerDemo

ALL_TRAINERS = sorted(PLAIN_TRAINERS | RADIOMICS_TRAINERS)


def _trainer_classes() -> dict[str, type]:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    return {
        name: cls
        for module in (schedules, picai, radiomics)
        for name, cls in vars(module).items()
        if inspect.isclass(cls) and issubclass(cls, nnUNetTrainer) and cls.__module__.startswith("pdacrad.")
    }


def test_find_trainer_ours_and_nnunets() -> None:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    assert find_trainer("nnUNetTrainerDemo") is nnUNetTrainerDemo
    assert find_trainer("nnUNetTrainerRadiomicsSmoke").__mro__[2] is nnUNetTrainerRadiomics
    assert find_trainer("nnUNetTrainer") is nnUNetTrainer
    with pytest.raises(ResourceError, match="Unknown nnU-Net trainer 'NoSuchTrainer'"):
        find_trainer("NoSuchTrainer")


def test_network_builder_knows_every_trainer_and_its_network() -> None:
    classes = _trainer_classes()
    assert sorted(classes) == ALL_TRAINERS
    for name, cls in classes.items():
        assert issubclass(cls, nnUNetTrainerRadiomics) == (name in RADIOMICS_TRAINERS)


def test_stage2_trainers_keep_snapshots_and_stage1_keeps_nnunet() -> None:
    for name, cls in _trainer_classes().items():
        assert issubclass(cls, nnUNetTrainerPicai) == (
            name.startswith(("nnUNetTrainerPicai", "nnUNetTrainerRadiomics"))
        )
    smoke = find_trainer("nnUNetTrainerRadiomicsSmoke")
    assert (smoke.EPOCHS, smoke.ITERATIONS, smoke.VAL_ITERATIONS, smoke.picai_every) == (2, 2, 1, 1)
    demo = find_trainer("nnUNetTrainerPicaiDemo")
    assert (demo.EPOCHS, demo.ITERATIONS, demo.picai_every) == (600, 10, 100)


@pytest.mark.parametrize(
    ("every", "epochs", "expected"),
    [(100, 600, [99, 199, 299, 399, 499]), (1, 2, [0]), (50, 1000, list(range(49, 999, 50))), (0, 10, [])],
)
def test_snapshot_epochs_skip_the_last_which_is_checkpoint_final(every: int, epochs: int, expected) -> None:
    """Snapshots every ``picai_every`` epochs; the last epoch's weights are nnU-Net's checkpoint_final.pth."""
    trainer = object.__new__(nnUNetTrainerPicai)  # the rule reads two attributes only: no nnU-Net set-up
    trainer.picai_every, trainer.num_epochs = every, epochs
    assert [e for e in range(epochs) if trainer.is_snapshot_epoch(e)] == expected


def test_register_trainers_is_idempotent_and_keeps_other_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXT_TRAINER_ENV, "/some/other/trainers")
    register_trainers()
    register_trainers()
    assert os.environ[EXT_TRAINER_ENV].split(os.pathsep) == ["/some/other/trainers", str(TRAINER_DIR)]


@pytest.mark.parametrize("name", ALL_TRAINERS)
def test_nnunet_finds_our_variants_through_ext_trainer(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The look-up ``nnUNetv2_train -tr <name>`` and nnU-Net's predictor do with a trainer name."""
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    monkeypatch.delenv(EXT_TRAINER_ENV, raising=False)
    register_trainers()
    found = recursive_find_trainer_class_by_name(name)
    # the class itself, not a copy from a second import of our module under another name: what run_training
    # trains is what pdacrad.nnunet_ext defines (class attributes set at run time included)
    assert found is find_trainer(name)
    assert found.__module__.startswith("pdacrad.nnunet_ext.")


def test_the_folder_nnunet_walks_exports_exactly_our_trainer_names() -> None:
    """The re-export module holds every name of the one list, bound to our class, and nothing else is in the folder
    (nnU-Net imports every module there)."""
    assert sorted(p.name for p in TRAINER_DIR.iterdir() if p.suffix == ".py") == ["pdacrad_trainers.py"]
    spec = importlib.util.spec_from_file_location(
        "pdacrad_trainers_probe", TRAINER_DIR / "pdacrad_trainers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sorted(module.__all__) == ALL_TRAINERS
    assert all(getattr(module, name) is find_trainer(name) for name in ALL_TRAINERS)
