"""The loss option of our trainers: read from the fold folder, applied to nnU-Net's own loss (CE alone equals
nnU-Net's CE-only trainer's loss; Dice + CE is left as nnU-Net builds it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
from nnunetv2.training.loss.robust_ce_loss import RobustCrossEntropyLoss

from pdacrad.errors import ResourceError
from pdacrad.nnunet_ext.training_options import (
    TRAINING_OPTIONS_FILENAME,
    TrainingOptions,
    read_training_options,
    select_loss,
    write_training_options,
)

from .conftest import CONFIGURATION, DATASET, TinyDataset


def _nnunet_loss() -> DeepSupervisionWrapper:
    """nnU-Net 2.8.1's ``_build_loss`` for softmax labels, two deep-supervision outputs weighted 2/3 and 1/3."""
    dice_ce = DC_and_CE_loss(
        {"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False},
        {},
        weight_ce=1,
        weight_dice=1,
        ignore_label=None,
        dice_class=MemoryEfficientSoftDiceLoss,
    )
    return DeepSupervisionWrapper(dice_ce, [2 / 3, 1 / 3])


def _outputs_and_targets() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    outputs = [
        torch.randn(2, 4, 6, 8, 8, generator=generator),
        torch.randn(2, 4, 3, 4, 4, generator=generator),
    ]
    targets = [torch.randint(0, 4, (2, 1, 6, 8, 8), generator=generator).float()]
    targets.append(targets[0][:, :, ::2, ::2, ::2])
    return outputs, targets


def test_ce_is_cross_entropy_alone_and_dice_ce_is_unchanged() -> None:
    outputs, targets = _outputs_and_targets()
    reference = _nnunet_loss()(outputs, targets)
    assert select_loss(_nnunet_loss(), "dice_ce")(outputs, targets) == reference
    ce = RobustCrossEntropyLoss()
    expected = 2 / 3 * ce(outputs[0], targets[0][:, 0]) + 1 / 3 * ce(outputs[1], targets[1][:, 0])
    got = select_loss(_nnunet_loss(), "ce")(outputs, targets)
    assert torch.allclose(got, expected, rtol=1e-6) and not torch.allclose(got, reference)


def test_an_unknown_loss_or_a_loss_without_dice_weight_is_refused() -> None:
    with pytest.raises(ResourceError, match="unknown loss 'focal'"):
        select_loss(_nnunet_loss(), "focal")
    with pytest.raises(ResourceError, match="needs nnU-Net's DC_and_CE_loss"):
        select_loss(RobustCrossEntropyLoss(), "ce")


def test_options_round_trip_and_malformed_files_are_named(tmp_path: Path) -> None:
    assert read_training_options(tmp_path) is None
    write_training_options(tmp_path, TrainingOptions(loss="ce"))
    assert read_training_options(tmp_path) == TrainingOptions(loss="ce")
    path = tmp_path / TRAINING_OPTIONS_FILENAME
    for text, message in [
        ("{", "not valid JSON"),
        (json.dumps({"loss": "ce"}), "expected format_version 1"),
        (json.dumps({"format_version": 1, "loss": "ce", "lr": 1}), "unknown options \\['lr'\\]"),
        (json.dumps({"format_version": 1, "loss": "dice"}), "unknown loss 'dice'"),
    ]:
        path.write_text(text)
        with pytest.raises(ResourceError, match=message):
            read_training_options(tmp_path)


@pytest.mark.parametrize(("loss", "dice_weight"), [(None, 1), ("ce", 0)])
def test_the_trainer_trains_with_the_loss_its_fold_folder_names(
    tiny_dataset: TinyDataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loss: str | None,
    dice_weight: int,
) -> None:
    from pdacrad.nnunet_ext.variants.picai import nnUNetTrainerPicaiSmoke

    tiny_dataset.use(monkeypatch)
    monkeypatch.setenv("nnUNet_results", str(tmp_path))
    fold = tmp_path / DATASET / f"nnUNetTrainerPicaiSmoke__nnUNetPlans__{CONFIGURATION}" / "fold_0"
    if loss is not None:
        write_training_options(fold, TrainingOptions(loss=loss))
    plans = json.loads((tiny_dataset.preprocessed / "nnUNetPlans.json").read_text())
    dataset_json = json.loads((tiny_dataset.preprocessed / "dataset.json").read_text())
    trainer = nnUNetTrainerPicaiSmoke(
        {**plans, "continue_training": False}, CONFIGURATION, 0, dataset_json, torch.device("cpu")
    )
    built = trainer._build_loss()
    assert isinstance(built, DeepSupervisionWrapper)
    assert built.loss.weight_dice == dice_weight and built.loss.weight_ce == 1
    assert np.isclose(sum(built.weight_factors), 1.0)
