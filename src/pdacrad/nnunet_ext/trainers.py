"""Trainer variants of nnU-Net v2 for pdacrad. Each variant overrides one thing and says what differs.

The training loop, loss, augmentation and checkpoint format stay nnU-Net's own, so a model folder trained with a
variant loads like any other in ``nnUNetPredictor`` (given :func:`pdacrad.nnunet_ext.register_trainers`).
Schedules are class constants (``EPOCHS``, ...) so that the training tree can tell, without building a trainer,
whether a final checkpoint already holds the whole schedule or can be trained further.
"""

from __future__ import annotations

from typing import Any

import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module
import numpy as np
import torch
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class LesionFocusedDataLoader(nnUNetDataLoader):
    """nnU-Net's data loader, except that a patch forced onto foreground is centred on the lesion label with
    probability :attr:`lesion_probability` when the case has lesion voxels.

    nnU-Net picks the class of a foreground patch uniformly among the classes present; with six structures a
    small lesion is then the centre of only a few percent of the patches, too few for a schedule of a few hundred
    iterations to learn it.
    """

    lesion_label: int = 1
    lesion_probability: float = 0.0

    def get_bbox(
        self,
        data_shape: np.ndarray,
        force_fg: bool,
        class_locations: dict | None,
        overwrite_class: Any = None,
        verbose: bool = False,
    ) -> Any:
        if (
            force_fg
            and overwrite_class is None
            and class_locations
            and len(class_locations.get(self.lesion_label, ())) > 0
            and np.random.uniform() < self.lesion_probability
        ):
            overwrite_class = self.lesion_label
        return super().get_bbox(data_shape, force_fg, class_locations, overwrite_class, verbose)


class _ShortSchedule(nnUNetTrainer):
    """nnU-Net's trainer with its schedule taken from the class constants below (per-epoch LR decay as
    nnU-Net's own poly schedule over ``EPOCHS``)."""

    EPOCHS = 1000
    ITERATIONS = 250
    VAL_ITERATIONS = 50
    SAVE_EVERY = 50
    INITIAL_LR = 1e-2
    #: nnU-Net's share of patches forced onto foreground.
    OVERSAMPLE_FOREGROUND = 0.33
    #: Share of those foreground patches centred on the lesion label (0: nnU-Net's uniform choice of class).
    LESION_PATCH_PROBABILITY = 0.0

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
        self.oversample_foreground_percent = self.OVERSAMPLE_FOREGROUND

    def get_dataloaders(self):  # type: ignore[no-untyped-def]
        """nnU-Net's data loaders, built with :class:`LesionFocusedDataLoader` when the schedule asks for
        lesion-centred patches. nnU-Net constructs its loader class by module-level name inside
        ``get_dataloaders``; that name is swapped for the duration of this call only."""
        if self.LESION_PATCH_PROBABILITY <= 0:
            return super().get_dataloaders()
        loader = type(
            "LesionFocusedDataLoader",
            (LesionFocusedDataLoader,),
            {"lesion_probability": self.LESION_PATCH_PROBABILITY},
        )
        original = nnunet_trainer_module.nnUNetDataLoader
        nnunet_trainer_module.nnUNetDataLoader = loader
        try:
            return super().get_dataloaders()
        finally:
            nnunet_trainer_module.nnUNetDataLoader = original


class nnUNetTrainerDemo(_ShortSchedule):
    """The CPU demo schedule: 40 epochs × 10 iterations (instead of 1000 × 250), 1 validation iteration, a
    checkpoint every 4 epochs (so an interrupted run resumes close to where it stopped), and twice nnU-Net's
    initial learning rate because 400 iterations leave the poly schedule little time at a useful rate. Half of
    the patches are forced onto foreground and 60% of those are centred on the lesion (label 1) when the case has
    one: with nnU-Net's defaults the first demo run never learned the small lesion class. Meant for the small
    networks and patches of ``synthetic-demo.yaml``."""

    EPOCHS = 40
    ITERATIONS = 10
    VAL_ITERATIONS = 1
    SAVE_EVERY = 4
    INITIAL_LR = 2e-2
    OVERSAMPLE_FOREGROUND = 0.5
    LESION_PATCH_PROBABILITY = 0.6


class nnUNetTrainerSmoke(_ShortSchedule):
    """A smoke test of the training path: 1 epoch × 2 iterations, 1 validation iteration. Produces a real
    (useless) checkpoint in seconds on a tiny network. Samples like the demo schedule, so the smoke test also
    runs the lesion-focused loader."""

    EPOCHS = 1
    ITERATIONS = 2
    VAL_ITERATIONS = 1
    OVERSAMPLE_FOREGROUND = nnUNetTrainerDemo.OVERSAMPLE_FOREGROUND
    LESION_PATCH_PROBABILITY = nnUNetTrainerDemo.LESION_PATCH_PROBABILITY
