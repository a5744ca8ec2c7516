"""Trainer variants of nnU-Net v2 for pdacrad. Each variant overrides one thing and says what differs.

Targets **nnunetv2 2.8.1** (pinned in pyproject.toml; ``tests/nnunet_ext/test_nnunet_version.py`` fails when the
installed version differs): the overrides below extend that version's methods rather than copy them — its own
``get_dataloaders`` runs with our loader (:func:`with_loader`), its own ``train_step`` / ``validation_step`` run
inside the network's conditioning — and rely on its hooks (``on_epoch_end``, ``perform_actual_validation``,
``initialize``), so a new nnU-Net version must still be re-read before the pin moves.

The training loop, loss, augmentation and checkpoint format stay nnU-Net's own, so a model folder trained with a
variant loads like any other in ``nnUNetPredictor`` (given :func:`pdacrad.nnunet_ext.register_trainers`), and
``nnUNetv2_train ... -tr <variant>`` (``--c``, ``--val``, ``-num_gpus``) runs them. Schedules are class constants
(``EPOCHS``, ...) so that the training tree can tell, without building a trainer, whether a final checkpoint
already holds the whole schedule or can be trained further.

Variants here: :class:`PdacradTrainer` (schedule from constants, our data loader, intensity augmentation on the CT
channel only, the loss the fold folder's ``pdacrad_training.json`` names — :mod:`pdacrad.nnunet_ext.training_options`;
a variant sets up its own state in :meth:`~PdacradTrainer.init_variant`), the Stage-1 schedules
:class:`nnUNetTrainerDemo`,
:class:`nnUNetTrainerDemoLong` and :class:`nnUNetTrainerSmoke`, and the full-size rehearsal's cut schedule
:class:`RehearsalSchedule` (:class:`nnUNetTrainerRehearsal` for Stage 1). PI-CAI checkpoint selection:
:mod:`pdacrad.nnunet_ext.variants.picai`; the radiomics network: :mod:`pdacrad.nnunet_ext.variants.radiomics`.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeVar, cast

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from pdacrad.nnunet_ext.augmentation import ct_only_intensity
from pdacrad.nnunet_ext.conditioning.data_loading import PdacradDataLoader
from pdacrad.nnunet_ext.conditioning.global_vectors import GlobalVectors
from pdacrad.nnunet_ext.training_options import TrainingOptions, read_training_options, select_loss

T = TypeVar("T")


class PdacradTrainer(nnUNetTrainer):
    """nnU-Net's trainer with its schedule taken from the class constants below (per-epoch LR decay as nnU-Net's
    own poly schedule over ``EPOCHS``) and its data loaders built by :meth:`build_data_loader`
    (:class:`~pdacrad.nnunet_ext.conditioning.data_loading.PdacradDataLoader`: lesion-focused patches, and the global vector
    in the batch when :meth:`loader_global_vectors` gives one). The constants' defaults are nnU-Net's."""

    EPOCHS = 1000
    ITERATIONS = 250
    VAL_ITERATIONS = 50
    SAVE_EVERY = 50
    INITIAL_LR = 1e-2
    #: nnU-Net's share of patches forced onto foreground.
    OVERSAMPLE_FOREGROUND = 0.33
    #: Share of those foreground patches centred on the lesion label (0: nnU-Net's uniform choice of class).
    LESION_PATCH_PROBABILITY = 0.0
    #: Label value of the lesion class (PANORAMA: 1 = PDAC).
    LESION_LABEL = 1

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
        recorded = read_training_options(self.output_folder) if self.output_folder else None
        self.training_options = recorded or TrainingOptions()
        self.init_variant()

    def init_variant(self) -> None:
        """Set up what a variant adds, at the end of ``__init__`` (after nnU-Net's and the schedule constants);
        an override calls ``super().init_variant()`` first. Nothing here. Variants override this instead of
        ``__init__``, so the one ``__init__`` keeps nnU-Net's signature (which nnU-Net records in the checkpoint
        as ``init_args``)."""

    def _build_loss(self) -> Any:
        """nnU-Net's loss, trained as the fold's ``pdacrad_training.json`` says (Dice + CE or CE alone; see
        :mod:`pdacrad.nnunet_ext.training_options`)."""
        loss = select_loss(super()._build_loss(), self.training_options.loss)
        self.print_to_log_file(f"loss: {self.training_options.loss}")
        return loss

    @staticmethod
    def get_training_transforms(
        patch_size: Any,
        rotation_for_DA: Any,
        deep_supervision_scales: Any,
        mirror_axes: Any,
        do_dummy_2d_data_aug: bool,
        use_mask_for_norm: Any = None,
        is_cascaded: bool = False,
        foreground_labels: Any = None,
        regions: Any = None,
        ignore_label: Any = None,
    ) -> Any:
        """nnU-Net 2.8.1's training transforms with its intensity transforms (noise, blur, brightness, contrast,
        low resolution, gamma) on channel 0, the CT, only (:func:`~pdacrad.nnunet_ext.augmentation.
        ct_only_intensity`): parametric-map channels are not CT and keep their values; spatial transforms and
        mirroring still move every channel together. One-channel (CT-only) models train exactly as before."""
        return ct_only_intensity(
            nnUNetTrainer.get_training_transforms(
                patch_size,
                rotation_for_DA,
                deep_supervision_scales,
                mirror_axes,
                do_dummy_2d_data_aug,
                use_mask_for_norm,
                is_cascaded,
                foreground_labels,
                regions,
                ignore_label,
            )
        )

    def loader_global_vectors(self) -> GlobalVectors | None:
        """Global vectors the data loaders put into every batch (None here: plain network)."""
        return None

    def build_data_loader(self, *args: Any, **kwargs: Any) -> PdacradDataLoader:
        """One data loader from the arguments nnU-Net's ``get_dataloaders`` gives ``nnUNetDataLoader`` (passed on
        unchanged), plus our lesion sampling and global vectors."""
        return PdacradDataLoader(
            *args,
            **kwargs,
            lesion_label=self.LESION_LABEL,
            lesion_probability=self.LESION_PATCH_PROBABILITY,
            global_vectors=self.loader_global_vectors(),
        )

    def get_dataloaders(self) -> tuple[Any, Any]:
        """nnU-Net's own ``get_dataloaders`` (transforms, datasets, augmenter processes, warm-up), run with its
        name ``nnUNetDataLoader`` resolved to :meth:`build_data_loader` (:func:`with_loader`)."""
        return with_loader(nnUNetTrainer.get_dataloaders, self.build_data_loader)(self)


def with_loader(method: Callable[..., T], build_loader: Callable[..., Any]) -> Callable[..., T]:
    """``method`` of nnU-Net — the same code object — run with its global name ``nnUNetDataLoader`` bound to
    ``build_loader``: a function with its own copy of the module's globals, so nothing in nnU-Net is rebound (other
    trainers and threads keep nnU-Net's loader) and nothing of nnU-Net's is copied here.

    Raises:
        RuntimeError: ``method`` no longer builds its loaders by that name (a new nnU-Net: re-read it).
    """
    code = method.__code__
    if "nnUNetDataLoader" not in code.co_names:
        raise RuntimeError(
            f"{method.__qualname__} no longer constructs nnUNetDataLoader; re-read it for this nnU-Net"
        )
    scope = {**method.__globals__, "nnUNetDataLoader": build_loader}
    return cast(
        Callable[..., T],
        types.FunctionType(code, scope, method.__name__, method.__defaults__, method.__closure__),
    )


class nnUNetTrainerDemo(PdacradTrainer):
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


class nnUNetTrainerDemoLong(nnUNetTrainerDemo):
    """:class:`nnUNetTrainerDemo` with 4× the epochs (160 × 10 iterations), for Stage 1 on cohorts where 400
    iterations are too few: on the ablation cohort (confounders, 1.5–5 mm slices; fold 0 of 2, 30 training cases)
    the 40-epoch schedule ended with validation Dice 0.013 and the loss still falling (−0.13 at epoch 40)."""

    EPOCHS = 160


class nnUNetTrainerSmoke(PdacradTrainer):
    """A smoke test of the training path: 1 epoch × 2 iterations, 1 validation iteration. Produces a real
    (useless) checkpoint in seconds on a tiny network. Samples like the demo schedule, so the smoke test also
    runs the lesion-focused loader."""

    EPOCHS = 1
    ITERATIONS = 2
    VAL_ITERATIONS = 1
    OVERSAMPLE_FOREGROUND = nnUNetTrainerDemo.OVERSAMPLE_FOREGROUND
    LESION_PATCH_PROBABILITY = nnUNetTrainerDemo.LESION_PATCH_PROBABILITY


class RehearsalSchedule:
    """A cut schedule for rehearsing a real recipe at full size (``benchmarks/rehearsal.py``; mixed in before the
    trainer class): 2 epochs × 2 iterations, 1 validation iteration, a checkpoint and a PI-CAI snapshot every
    epoch — and nothing else: sampling, learning rate, loss, augmentation, plans and network stay the trainer's
    own, so every code path and array size of the real run is exercised, only fewer times."""

    EPOCHS = 2
    ITERATIONS = 2
    VAL_ITERATIONS = 1
    SAVE_EVERY = 1
    picai_every = 1


class nnUNetTrainerRehearsal(RehearsalSchedule, PdacradTrainer):
    """Stage 1 on the rehearsal schedule (:class:`RehearsalSchedule`): :class:`PdacradTrainer` with nnU-Net's
    defaults (its sampling, learning rate and loss; the intensity augmentation of a one-channel CT is nnU-Net's),
    standing in for ``nnUNetTrainer`` of ``panorama.yaml``."""
