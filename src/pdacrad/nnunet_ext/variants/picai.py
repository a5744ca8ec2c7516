"""Snapshots for offline PI-CAI checkpoint selection (:class:`nnUNetTrainerPicai` and its schedules).

What differs from :class:`~pdacrad.nnunet_ext.variants.schedules.PdacradTrainer` (nnU-Net's trainer with a schedule):
every :attr:`~nnUNetTrainerPicai.picai_every` epochs ``on_epoch_end`` saves a snapshot
``checkpoint_epoch_<NNNN>.pth`` (``NNNN`` = epochs trained): nnU-Net's ``save_checkpoint`` (so rank 0 only under
DDP) without the optimizer and grad-scaler state, as ``export`` strips them (a snapshot is never resumed from:
``checkpoint_latest.pth`` is), written under a temporary name and renamed. The last epoch needs none: nnU-Net's ``checkpoint_final.pth`` holds the same weights. Nothing is
predicted during training and no rank waits for another: the training tree's ``select-checkpoint`` step later runs
every snapshot and the final checkpoint through the prediction pipeline (ROI, pancreas restriction, mirroring, as
the container) on the fold's validation cases, scores them by 0.5·(AUROC + AP) and copies the best to
``checkpoint_best_picai.pth`` (see :mod:`pdacrad.nnunet_ext.checkpoint_selection`, which also says which checkpoint
inference loads). nnU-Net's own ``checkpoint_best.pth`` (EMA pseudo Dice) and ``checkpoint_final.pth`` are unchanged.
The network is nnU-Net's plain plans network; :class:`~pdacrad.nnunet_ext.variants.radiomics.nnUNetTrainerRadiomics`
builds on this class.

Disk: a snapshot is the weights, ~125 MB for nnU-Net's default 3d_fullres U-Net (31 M parameters; a full nnU-Net
checkpoint with SGD momentum is ~250 MB); ``panorama.yaml``'s 1000 epochs at ``picai_every = 50`` keep 19 per
fold and variant (~2.4 GB; ~47 GB for 4 variants × 5 folds).
"""

from __future__ import annotations

import os
from os.path import isfile, join

import torch

from pdacrad.nnunet_ext.checkpoint_selection import snapshot_name
from pdacrad.nnunet_ext.variants.schedules import PdacradTrainer, RehearsalSchedule


class nnUNetTrainerPicai(PdacradTrainer):
    """nnU-Net's trainer (plain network, nnU-Net's schedule) that keeps snapshots for PI-CAI checkpoint selection."""

    #: A snapshot every N epochs (the last epoch's is ``checkpoint_final.pth``); 0 keeps none.
    picai_every: int = 50

    def is_snapshot_epoch(self, epoch: int) -> bool:
        """Whether 0-based ``epoch`` ends with a snapshot: every :attr:`picai_every` epochs, except the last."""
        return self.picai_every > 0 and (epoch + 1) % self.picai_every == 0 and epoch != self.num_epochs - 1

    def on_epoch_end(self) -> None:
        """nnU-Net's epoch end, preceded (every :attr:`picai_every` epochs) by a snapshot of the weights."""
        if self.is_snapshot_epoch(self.current_epoch):
            self.save_snapshot(join(self.output_folder, snapshot_name(self.current_epoch + 1)))
        super().on_epoch_end()

    def save_snapshot(self, path: str) -> None:
        """nnU-Net's checkpoint of the current weights at ``path``, without optimizer and grad-scaler state
        (rank 0 only; nothing when nnU-Net's checkpointing is disabled)."""
        partial = path + ".partial"
        self.save_checkpoint(partial)
        if self.local_rank != 0 or not isfile(partial):
            return
        checkpoint = torch.load(partial, map_location="cpu", weights_only=False)
        for key in ("optimizer_state", "grad_scaler_state"):
            checkpoint.pop(key, None)
        torch.save(checkpoint, partial)
        os.replace(partial, path)


class Stage2DemoSchedule:
    """The CPU demo schedule of the Stage-2 variants (mixed in before the trainer class): 600 epochs × 10
    iterations (6,000) at nnU-Net's initial learning rate 1e-2, 1 validation iteration, a checkpoint every 4
    epochs, lesion-focused sampling as :class:`~pdacrad.nnunet_ext.variants.schedules.nnUNetTrainerDemo`, a snapshot for
    PI-CAI selection every 100 epochs (5 snapshots + the final checkpoint per fold). Measured on the demo cohort
    (PI-CAI score on its training cases, every 100 epochs): the lesion class is not learned before ~300 epochs
    (AUROC ≈ 0.5), then AUROC 0.77–0.84 / AP 0.45–0.65 from epoch 400 on; 160 epochs at 2e-2 never got past
    AUROC 0.56."""

    EPOCHS = 600
    ITERATIONS = 10
    VAL_ITERATIONS = 1
    SAVE_EVERY = 4
    INITIAL_LR = 1e-2
    OVERSAMPLE_FOREGROUND = 0.5
    LESION_PATCH_PROBABILITY = 0.6
    picai_every = 100


class Stage2LongSchedule(Stage2DemoSchedule):
    """:class:`Stage2DemoSchedule` with twice the epochs (1,200 × 10 iterations; nnU-Net's poly learning rate decays
    over all of them), a snapshot every 200 epochs. Why: in the learning gate's first run (``benchmarks/gate.py``,
    ``benchmarks/RESULTS.md``) the lesion class was the last one learned (pseudo-Dice left 0 at epoch ≈ 200) and was
    still rising when the demo schedule's 600 epochs ended."""

    EPOCHS = 1200
    picai_every = 200


class Stage2SmokeSchedule:
    """A CI-sized schedule of the Stage-2 variants (mixed in before the trainer class): 2 epochs × 2 iterations,
    1 validation iteration, a snapshot after epoch 1 (so selection has two candidates: it and the final checkpoint),
    lesion-focused sampling as the demo."""

    EPOCHS = 2
    ITERATIONS = 2
    VAL_ITERATIONS = 1
    OVERSAMPLE_FOREGROUND = 0.5
    LESION_PATCH_PROBABILITY = 0.6
    picai_every = 1


class nnUNetTrainerPicaiDemo(Stage2DemoSchedule, nnUNetTrainerPicai):
    """:class:`nnUNetTrainerPicai` on the Stage-2 CPU demo schedule (:class:`Stage2DemoSchedule`)."""


class nnUNetTrainerPicaiLong(Stage2LongSchedule, nnUNetTrainerPicai):
    """:class:`nnUNetTrainerPicai` on the long Stage-2 CPU schedule (:class:`Stage2LongSchedule`)."""


class nnUNetTrainerPicaiSmoke(Stage2SmokeSchedule, nnUNetTrainerPicai):
    """:class:`nnUNetTrainerPicai` on the CI smoke schedule (:class:`Stage2SmokeSchedule`)."""


class nnUNetTrainerPicaiRehearsal(RehearsalSchedule, nnUNetTrainerPicai):
    """:class:`nnUNetTrainerPicai` on the full-size rehearsal's cut schedule
    (:class:`~pdacrad.nnunet_ext.variants.schedules.RehearsalSchedule`)."""
