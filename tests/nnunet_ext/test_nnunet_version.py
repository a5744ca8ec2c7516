"""The trainer overrides target one nnU-Net version (see pdacrad.nnunet_ext.variants.schedules): the installed nnunetv2 must
be the version pinned in pyproject.toml, and the modules must say which one they target."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pdacrad.nnunet_ext.variants.schedules as trainers

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _pinned() -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = [d.split("==", 1)[1].strip() for d in dependencies if re.match(r"nnunetv2\s*==", d)]
    assert len(pins) == 1, f"pyproject.toml must pin nnunetv2 exactly once (==), got {dependencies}"
    return pins[0]


def test_installed_nnunet_is_the_pinned_version() -> None:
    assert version("nnunetv2") == _pinned(), (
        "nnunetv2 differs from the pin: re-read nnUNetTrainer (get_dataloaders, train_step, validation_step, "
        "perform_actual_validation) before moving the pin"
    )


def test_trainers_state_the_version_they_target() -> None:
    assert f"nnunetv2 {_pinned()}" in (trainers.__doc__ or "")
