"""Per-fold training options of pdacrad's nnU-Net trainers, recorded in ``fold_<k>/pdacrad_training.json``.

One option so far, the segmentation loss:

* ``dice_ce`` (default) — nnU-Net's own Dice + cross-entropy (weights 1 : 1, Dice over foreground classes with the
  plans' ``batch_dice``), the paper's "Dice loss and normalized cross-entropy";
* ``ce`` — cross-entropy alone, the PANORAMA baseline's detector loss ("CE is more suitable for detection":
  a soft Dice term rewards overlap of the few lesion voxels and may push the lesion class to all-or-nothing).

It is an option of every trainer (not a fork of trainer classes): the training tree writes the file from the
config (``stage1.loss`` / ``stage2.loss``) before nnU-Net builds the trainer, and
:class:`~pdacrad.nnunet_ext.variants.schedules.PdacradTrainer` reads it in ``__init__`` and adjusts nnU-Net's
own loss in ``_build_loss`` (deep supervision, DDP and torch.compile stay nnU-Net's). A fold folder without the
file trains with ``dice_ce``, as ``nnUNetv2_train -tr <our trainer>`` always did. The file stays beside the
checkpoints, so a fold's loss is on record; inference does not read it. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pdacrad.errors import ResourceError
from pdacrad.io.json_files import read_json_object

TRAINING_OPTIONS_FILENAME = "pdacrad_training.json"
TRAINING_OPTIONS_VERSION = 1
#: The losses a trainer can train with (see the module docstring).
LOSSES = ("dice_ce", "ce")


@dataclass(frozen=True)
class TrainingOptions:
    """What a fold trains with beyond its trainer class and plans. ``loss``: one of :data:`LOSSES`."""

    loss: str = "dice_ce"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ResourceError(f"unknown loss {self.loss!r}: expected one of {list(LOSSES)}")


def write_training_options(fold_folder: str | Path, options: TrainingOptions) -> Path:
    """Write ``fold_folder/pdacrad_training.json`` (atomically); returns its path."""
    path = Path(fold_folder) / TRAINING_OPTIONS_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"format_version": TRAINING_OPTIONS_VERSION, **asdict(options)}, indent=1))
    tmp.replace(path)
    return path


def read_training_options(fold_folder: str | Path) -> TrainingOptions | None:
    """The options in ``fold_folder/pdacrad_training.json``, or None when there is no such file.

    Raises:
        ResourceError: the file is not valid JSON, has the wrong format version or an unknown option or value.
    """
    path = Path(fold_folder) / TRAINING_OPTIONS_FILENAME
    if not path.is_file():
        return None
    payload = read_json_object(path)
    if payload.pop("format_version", None) != TRAINING_OPTIONS_VERSION:
        raise ResourceError(f"{path}: expected format_version {TRAINING_OPTIONS_VERSION}")
    unknown = set(payload) - {"loss"}
    if unknown:
        raise ResourceError(f"{path}: unknown options {sorted(unknown)}")
    try:
        return TrainingOptions(**payload)
    except ResourceError as error:
        raise ResourceError(f"{path}: {error}") from None


def select_loss(loss: Any, choice: str) -> Any:
    """nnU-Net's Dice + CE ``loss`` (as ``nnUNetTrainer._build_loss`` returns it, possibly inside its
    ``DeepSupervisionWrapper``) set to train with ``choice``: ``dice_ce`` leaves it as it is, ``ce`` sets the
    Dice weight to 0 (nnU-Net's ``DC_and_CE_loss`` then skips the Dice term). Returns ``loss``.

    Raises:
        ResourceError: ``choice`` is not one of :data:`LOSSES`, or ``ce`` was asked of a loss without a Dice
            weight (region-based training: nnU-Net's Dice + BCE).
    """
    TrainingOptions(choice)
    if choice == "dice_ce":
        return loss
    inner = getattr(loss, "loss", loss)  # DeepSupervisionWrapper keeps the wrapped loss as .loss
    if type(inner).__name__ != "DC_and_CE_loss":
        raise ResourceError(f"loss {choice!r} needs nnU-Net's DC_and_CE_loss, not {type(inner).__name__}")
    inner.weight_dice = 0
    return loss
