"""Training curves from the log nnU-Net keeps in its checkpoints: one row per finished epoch, one pseudo-Dice column
per class named from dataset.json, a figure beside the table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pdacrad_train.curves import training_curves, write_curves

from pdacrad.errors import InvalidInputError


def _fold(tmp_path: Path, epochs: int, classes: int, name: str = "checkpoint_final.pth") -> Path:
    labels = {"background": 0, **{f"class{k}": k for k in range(classes, 0, -1)}}  # out of order on purpose
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": labels}))
    fold = tmp_path / "fold_0"
    fold.mkdir()
    rng = np.random.default_rng(0)
    log = {
        "train_losses": list(rng.random(epochs)),
        "val_losses": list(rng.random(epochs)),
        "lrs": list(np.linspace(0.01, 0.0, epochs)),
        # nnU-Net logs the epoch in progress too: one entry more than the finished epochs of the losses
        "dice_per_class_or_region": [list(rng.random(classes)) for _ in range(epochs + 1)],
    }
    torch.save({"logging": log, "current_epoch": epochs}, fold / name)
    return fold


def test_one_row_per_finished_epoch_and_one_column_per_class_in_label_order(tmp_path: Path) -> None:
    fold = _fold(tmp_path, epochs=30, classes=3, name="checkpoint_latest.pth")
    table = training_curves(fold)
    assert len(table) == 30 and table.epoch.tolist() == list(range(30))
    assert [c for c in table.columns if c.startswith("pseudo_dice_")] == [
        "pseudo_dice_class1", "pseudo_dice_class2", "pseudo_dice_class3",
    ]  # fmt: skip
    log = torch.load(fold / "checkpoint_latest.pth", weights_only=False)["logging"]
    assert table.pseudo_dice_class2.tolist() == [row[1] for row in log["dice_per_class_or_region"][:30]]
    csv, png = write_curves(table, tmp_path / "out", "test")
    assert png.stat().st_size > 10_000
    pd.testing.assert_frame_equal(pd.read_csv(csv), table, check_exact=False, rtol=1e-4)


def test_a_fold_without_checkpoint_or_with_other_classes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"no checkpoint_final\.pth or checkpoint_latest\.pth"):
        training_curves(tmp_path / "empty")
    fold = _fold(tmp_path, epochs=5, classes=2)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "x": 1}}))
    with pytest.raises(InvalidInputError, match=r"the log has 2 classes, dataset\.json 1"):
        training_curves(fold)
