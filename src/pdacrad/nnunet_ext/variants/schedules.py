"""Trainer variants of nnU-Net v2 for pdacrad. Each variant overrides one thing and says what differs.

Targets **nnunetv2 2.8.1** (pinned in pyproject.toml; ``tests/nnunet_ext/test_nnunet_version.py`` fails when the
installed version differs): the overrides below copy the structure of that version's ``get_dataloaders`` and
rely on its hooks (``train_step``, ``validation_step``, ``on_epoch_end``, ``perform_actual_validation``,
``initialize``), so a new nnU-Net version must be re-read before the pin moves.

The training loop, loss, augmentation and checkpoint format stay nnU-Net's own, so a model folder trained with a
variant loads like any other in ``nnUNetPredictor`` (given :func:`pdacrad.nnunet_ext.register_trainers`), and
``nnUNetv2_train ... -tr <variant>`` (``--c``, ``--val``, ``-num_gpus``) runs them. Schedules are class constants
(``EPOCHS``, ...) so that the training tree can tell, without building a trainer, whether a final checkpoint
already holds the whole schedule or can be trained further.

Variants here: :class:`PdacradTrainer` (schedule from constants, our data loader, intensity augmentation on the CT
channel only, the loss the fold folder's ``pdacrad_training.json`` names — :mod:`pdacrad.nnunet_ext.training_options`;
a variant sets up its own state in :meth:`~PdacradTrainer.init_variant`), the Stage-1 schedules
:class:`nnUNetTrainerDemo`,
:class:`nnUNetTrainerDemoLong` and :class:`nnUNetTrainerSmoke`. PI-CAI checkpoint selection:
:mod:`pdacrad.nnunet_ext.variants.picai`; the radiomics network: :mod:`pdacrad.nnunet_ext.variants.radiomics`.
"""

from __future__ import annotations

from typing import Any

import torch
from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
from batchgenerators.dataloading.single_threaded_augmenter import SingleThreadedAugmenter
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from nnunetv2.utilities.default_n_proc_DA import get_allowed_n_proc_DA

from pdacrad.nnunet_ext.augmentation import ct_only_intensity
from pdacrad.nnunet_ext.conditioning.data_loading import PdacradDataLoader
from pdacrad.nnunet_ext.conditioning.global_vectors import GlobalVectors
from pdacrad.nnunet_ext.training_options import TrainingOptions, read_training_options, select_loss


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

    def build_data_loader(
        self, dataset: Any, patch_size: Any, final_patch_size: Any, transforms: Any
    ) -> PdacradDataLoader:
        """One data loader, with the arguments nnU-Net 2.8.1's ``get_dataloaders`` gives ``nnUNetDataLoader``."""
        return PdacradDataLoader(
            dataset,
            self.batch_size,
            patch_size,
            final_patch_size,
            self.label_manager,
            oversample_foreground_percent=self.oversample_foreground_percent,
            sampling_probabilities=None,
            pad_sides=None,
            transforms=transforms,
            probabilistic_oversampling=self.probabilistic_oversampling,
            lesion_label=self.LESION_LABEL,
            lesion_probability=self.LESION_PATCH_PROBABILITY,
            global_vectors=self.loader_global_vectors(),
        )

    def get_dataloaders(self) -> tuple[Any, Any]:
        """nnU-Net 2.8.1's ``get_dataloaders`` (same transforms, datasets, augmenter processes and warm-up), with
        the loaders built by :meth:`build_data_loader` instead of ``nnUNetDataLoader``."""
        from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

        if self.dataset_class is None:  # type: ignore[has-type]
            self.dataset_class = infer_dataset_class(self.preprocessed_dataset_folder)
        patch_size = self.configuration_manager.patch_size
        deep_supervision_scales = self._get_deep_supervision_scales()
        rotation_for_da, do_dummy_2d_data_aug, initial_patch_size, mirror_axes = (
            self.configure_rotation_dummyDA_mirroring_and_inital_patch_size()
        )
        labels = self.label_manager
        regions = labels.foreground_regions if labels.has_regions else None
        tr_transforms = self.get_training_transforms(
            patch_size,
            rotation_for_da,
            deep_supervision_scales,
            mirror_axes,
            do_dummy_2d_data_aug,
            use_mask_for_norm=self.configuration_manager.use_mask_for_norm,
            is_cascaded=self.is_cascaded,
            foreground_labels=labels.foreground_labels,
            regions=regions,
            ignore_label=labels.ignore_label,
        )
        val_transforms = self.get_validation_transforms(
            deep_supervision_scales,
            is_cascaded=self.is_cascaded,
            foreground_labels=labels.foreground_labels,
            regions=regions,
            ignore_label=labels.ignore_label,
        )
        dataset_tr, dataset_val = self.get_tr_and_val_datasets()
        dl_tr = self.build_data_loader(dataset_tr, initial_patch_size, patch_size, tr_transforms)
        dl_val = self.build_data_loader(dataset_val, patch_size, patch_size, val_transforms)

        processes = get_allowed_n_proc_DA()
        mt_gen_train: Any
        mt_gen_val: Any
        if processes == 0:
            mt_gen_train = SingleThreadedAugmenter(dl_tr, None)
            mt_gen_val = SingleThreadedAugmenter(dl_val, None)
        else:
            pin = self.device.type == "cuda"
            mt_gen_train = NonDetMultiThreadedAugmenter(
                data_loader=dl_tr,
                transform=None,
                num_processes=processes,
                num_cached=max(6, processes // 2),
                seeds=None,
                pin_memory=pin,
                wait_time=0.002,
            )
            mt_gen_val = NonDetMultiThreadedAugmenter(
                data_loader=dl_val,
                transform=None,
                num_processes=max(1, processes // 2),
                num_cached=max(3, processes // 4),
                seeds=None,
                pin_memory=pin,
                wait_time=0.002,
            )
        _ = next(mt_gen_train)  # nnU-Net starts the workers here
        _ = next(mt_gen_val)
        return mt_gen_train, mt_gen_val


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
