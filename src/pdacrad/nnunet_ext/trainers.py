"""Trainer variants of nnU-Net v2 for pdacrad. Each variant overrides one thing and says what differs.

The training loop, loss, augmentation and checkpoint format stay nnU-Net's own, so a model folder trained with a
variant loads like any other in ``nnUNetPredictor`` (given :func:`pdacrad.nnunet_ext.register_trainers`).
Schedules are class constants (``EPOCHS``, ...) so that the training tree can tell, without building a trainer,
whether a final checkpoint already holds the whole schedule or can be trained further.
"""

from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class _ShortSchedule(nnUNetTrainer):
    """nnU-Net's trainer with its schedule taken from the class constants below (per-epoch LR decay as
    nnU-Net's own poly schedule over ``EPOCHS``)."""

    EPOCHS = 1000
    ITERATIONS = 250
    VAL_ITERATIONS = 50
    SAVE_EVERY = 50
    INITIAL_LR = 1e-2

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.EPOCHS
        self.num_iterations_per_epoch = self.ITERATIONS
        self.num_val_iterations_per_epoch = self.VAL_ITERATIONS
        self.save_every = self.SAVE_EVERY
        self.initial_lr = self.INITIAL_LR


class nnUNetTrainerDemo(_ShortSchedule):
    """The CPU demo schedule: 40 epochs × 10 iterations (instead of 1000 × 250), 1 validation iteration, a
    checkpoint every 4 epochs (so an interrupted run resumes close to where it stopped), and twice nnU-Net's
    initial learning rate because 400 iterations leave the poly schedule little time at a useful rate. Meant
    for the small networks and patches of ``synthetic-demo.yaml``."""

    EPOCHS = 40
    ITERATIONS = 10
    VAL_ITERATIONS = 1
    SAVE_EVERY = 4
    INITIAL_LR = 2e-2


class nnUNetTrainerSmoke(_ShortSchedule):
    """A smoke test of the training path: 1 epoch × 2 iterations, 1 validation iteration. Produces a real
    (useless) checkpoint in seconds on a tiny network."""

    EPOCHS = 1
    ITERATIONS = 2
    VAL_ITERATIONS = 1
