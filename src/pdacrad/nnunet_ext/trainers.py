"""Trainer variants of nnU-Net v2 for pdacrad. Each variant overrides one thing and says what differs.

The training loop, loss, augmentation and checkpoint format stay nnU-Net's own, so a model folder trained with a
variant loads like any other in ``nnUNetPredictor`` (given :func:`pdacrad.nnunet_ext.register_trainers`).
"""

from __future__ import annotations

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerDemo(nnUNetTrainer):
    """The CPU demo schedule: 24 epochs × 10 iterations (instead of 1000 × 250), 1 validation iteration, a
    checkpoint every 4 epochs (so an interrupted run resumes close to where it stopped). Meant for the small networks and patches of ``synthetic-demo.yaml``."""

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 24
        self.num_iterations_per_epoch = 10
        self.num_val_iterations_per_epoch = 1
        self.save_every = 4


class nnUNetTrainerSmoke(nnUNetTrainer):
    """A smoke test of the training path: 1 epoch × 2 iterations, 1 validation iteration. Produces a real
    (useless) checkpoint in seconds on a tiny network."""

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 1
        self.num_iterations_per_epoch = 2
        self.num_val_iterations_per_epoch = 1
