"""Training curves of one nnU-Net fold: per epoch the train and validation loss, the learning rate and the pseudo-Dice
of every class, read from the log nnU-Net keeps inside its checkpoints (``checkpoint["logging"]``), as a table
(``curves.csv``) and a figure (``curves.png``).

The pseudo-Dice is nnU-Net's: computed on the epoch's validation patches (``VAL_ITERATIONS`` batches, sampled like
the training ones), so it is noisy and optimistic for a rare class; the figure shows a 20-epoch running mean, the
CSV the raw values. Class names come from the model folder's ``dataset.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pdacrad.errors import InvalidInputError

#: Checkpoints that hold the whole log so far, in order of preference.
LOG_CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_latest.pth")
CSV_NAME, PNG_NAME = "curves.csv", "curves.png"
SMOOTHING_EPOCHS = 20


def class_names(fold_folder: Path) -> list[str]:
    """Foreground class names in label order, from ``dataset.json`` beside the fold folder."""
    labels = json.loads((fold_folder.parent / "dataset.json").read_text())["labels"]
    return [name for name, value in sorted(labels.items(), key=lambda item: int(item[1])) if int(value) > 0]


def log_checkpoint(fold_folder: Path) -> Path | None:
    """The fold's checkpoint that holds its training log (:data:`LOG_CHECKPOINTS`), or None before the first one."""
    return next((fold_folder / name for name in LOG_CHECKPOINTS if (fold_folder / name).is_file()), None)


def training_curves(fold_folder: Path) -> pd.DataFrame:
    """One row per finished epoch: ``epoch``, ``train_loss``, ``val_loss``, ``lr``, ``pseudo_dice_<class>``.

    Raises:
        InvalidInputError: the fold has no checkpoint, or its log does not match the dataset's classes.
    """
    import torch

    checkpoint = log_checkpoint(fold_folder)
    if checkpoint is None:
        raise InvalidInputError(
            f"{fold_folder}: no {' or '.join(LOG_CHECKPOINTS)} to read the training log from."
        )
    log = torch.load(checkpoint, map_location="cpu", weights_only=False)["logging"]
    epochs = min(len(log[key]) for key in ("train_losses", "val_losses", "lrs", "dice_per_class_or_region"))
    per_class = np.asarray(log["dice_per_class_or_region"][:epochs], dtype=float).reshape(epochs, -1)
    names = class_names(fold_folder)
    if per_class.shape[1] != len(names):
        raise InvalidInputError(
            f"{checkpoint}: the log has {per_class.shape[1]} classes, dataset.json {len(names)} ({names})."
        )
    table = pd.DataFrame(
        {
            "epoch": np.arange(epochs),
            "train_loss": np.asarray(log["train_losses"][:epochs], dtype=float),
            "val_loss": np.asarray(log["val_losses"][:epochs], dtype=float),
            "lr": np.asarray(log["lrs"][:epochs], dtype=float),
        }
    )
    for j, name in enumerate(names):
        table[f"pseudo_dice_{name}"] = per_class[:, j]
    return table


def write_curves(table: pd.DataFrame, out: Path, title: str) -> tuple[Path, Path]:
    """``curves.csv`` and ``curves.png`` of ``table`` (from :func:`training_curves`) into the folder ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / CSV_NAME, index=False, float_format="%.5g")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    top.plot(table.epoch, table.train_loss, label="train")
    top.plot(table.epoch, table.val_loss, label="validation")
    top.set_ylabel("loss")
    top.legend()
    dice = [c for c in table.columns if c.startswith("pseudo_dice_")]
    for k, column in enumerate(dice):
        smooth = table[column].rolling(SMOOTHING_EPOCHS, min_periods=1).mean()
        # the first class is the lesion in PANORAMA's schema (PDAC = 1): drawn heavier
        bottom.plot(
            table.epoch, smooth, label=column.removeprefix("pseudo_dice_"), linewidth=2.5 if k == 0 else 1
        )
    bottom.set_ylabel(f"pseudo-Dice ({SMOOTHING_EPOCHS}-epoch mean)")
    bottom.set_xlabel("epoch")
    bottom.set_ylim(0, 1)
    bottom.legend(ncol=3, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out / PNG_NAME, dpi=100)
    plt.close(fig)
    return out / CSV_NAME, out / PNG_NAME
