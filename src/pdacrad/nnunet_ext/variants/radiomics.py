"""nnU-Net trainer variant for the radiomics-enhanced Stage 2 (:class:`nnUNetTrainerRadiomics`).

Built on :class:`~pdacrad.nnunet_ext.variants.picai.nnUNetTrainerPicai` (snapshots for PI-CAI checkpoint
selection, schedule constants); targets nnunetv2 2.8.1 (see :mod:`pdacrad.nnunet_ext.variants.schedules`). What
differs from nnU-Net — nothing else does (augmentation, loss with deep supervision — nnU-Net's Dice + CE, or CE
alone as the fold's options say —, optimiser, AMP, DDP, checkpoint format are nnU-Net's):

* **network**: :class:`~pdacrad.nnunet_ext.networks.radiomics_net.RadiomicsUNet` (plans' U-Net + bottleneck cross-attention
  to the global vector). The parametric maps are ordinary input channels of the nnU-Net dataset.
* **global vectors, per fold**: ``<nnUNet_results>/<dataset>/<trainer>__<plans>__<conf>/fold_<k>/
  global_vectors.json`` when the training tree wrote one there (per-fold feature selection: that fold's features
  and scaler), else ``$nnUNet_preprocessed/<dataset>/global_vectors.json`` (one list for every fold).
* **the vector travels with the case**: training and validation batches carry ``batch['global_vector']`` (B, F)
  from the data loader (:mod:`~pdacrad.nnunet_ext.conditioning.data_loading`), and ``train_step`` / ``validation_step`` are
  nnU-Net's own, run inside ``network.conditioned_per_sample(g)`` (so DDP, compile and a future nnU-Net's step
  run unchanged); nnU-Net's final validation gets each case's vector
  from the dataset that loads the case (:mod:`~pdacrad.nnunet_ext.conditioning.case_vectors`); PI-CAI selection runs
  offline through the inference pipeline, which passes each case's vector itself.
* **settings per fold**: the feature names and attention settings go to ``fold_<k>/pdacrad_radiomics.json`` at the
  start of training and into the plans' ``"pdacrad_radiomics"`` block (plans.json of the model folder, the last
  trained fold's); :mod:`pdacrad.nnunet_ext.networks.builder` says why and how inference reads them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from pdacrad.errors import InvalidInputError
from pdacrad.nnunet_ext.conditioning.case_vectors import LoadOrderConditioner, dataset_class_with_vectors
from pdacrad.nnunet_ext.conditioning.data_loading import GLOBAL_VECTOR_KEY
from pdacrad.nnunet_ext.conditioning.global_vectors import (
    GLOBAL_VECTORS_FILENAME,
    GlobalVectors,
    load_global_vectors,
)
from pdacrad.nnunet_ext.networks.builder import (
    PLANS_KEY,
    RadiomicsNetworkSettings,
    build_radiomics_network,
    radiomics_settings,
    read_fold_settings,
    write_fold_settings,
)
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet
from pdacrad.nnunet_ext.variants.picai import (
    Stage2DemoSchedule,
    Stage2LongSchedule,
    Stage2SmokeSchedule,
    nnUNetTrainerPicai,
)
from pdacrad.nnunet_ext.variants.schedules import RehearsalSchedule

__all__ = [
    "PLANS_KEY",
    "nnUNetTrainerRadiomics",
    "nnUNetTrainerRadiomicsDemo",
    "nnUNetTrainerRadiomicsSmoke",
    "radiomics_plans_settings",
]


def radiomics_plans_settings(configuration: dict) -> dict:
    """The ``"pdacrad_radiomics"`` block of one plans configuration as a dict (``global_features``,
    ``attention_heads``, ``attention_tokens``).

    Raises:
        ResourceError: the plans were not written by :class:`nnUNetTrainerRadiomics`.
    """
    return radiomics_settings(configuration).as_dict()


class nnUNetTrainerRadiomics(nnUNetTrainerPicai):
    """nnU-Net trainer whose network is conditioned on each case's global radiomics vector."""

    #: Attention heads at the bottleneck (None: largest of 8/4/2/1 dividing the bottleneck channels).
    attention_heads: int | None = None
    #: Query tokens projected from the global vector.
    attention_tokens: int = 1

    def init_variant(self) -> None:
        """Load the global vectors (the fold folder's, else the preprocessed dataset's) and write this fold's
        radiomics settings into the plans."""
        super().init_variant()
        self.global_vectors: GlobalVectors | None = None
        self.global_vectors_file: Path | None = None
        for folder in (self.output_folder, self.preprocessed_dataset_folder_base):
            if folder is not None and (Path(folder) / GLOBAL_VECTORS_FILENAME).is_file():
                self.global_vectors_file = Path(folder) / GLOBAL_VECTORS_FILENAME
                self.global_vectors = load_global_vectors(self.global_vectors_file)
                break
        self.radiomics_settings = self._settings_of_this_fold()
        # the configuration manager holds a deep copy of the plans' configuration: update both
        block = self.radiomics_settings.as_dict()
        self.plans_manager.plans["configurations"][self.configuration_name][PLANS_KEY] = block
        self.configuration_manager.configuration[PLANS_KEY] = block
        self._conditioner = LoadOrderConditioner()

    def _settings_of_this_fold(self) -> RadiomicsNetworkSettings:
        """Settings from the vectors (checked against a fold that already has a checkpoint), else those recorded
        for the fold or in the plans (a trainer built only to load a checkpoint)."""
        recorded = read_fold_settings(self.output_folder) if self.output_folder else None
        if self.global_vectors is None:
            if recorded is not None:
                return recorded
            if PLANS_KEY in self.configuration_manager.configuration:
                return radiomics_settings(self.configuration_manager.configuration)
            raise InvalidInputError(
                f"No {GLOBAL_VECTORS_FILENAME} in {self.output_folder} or {self.preprocessed_dataset_folder_base}: "
                "nnUNetTrainerRadiomics needs the z-scored global vector of every case (written by the training tree)."
            )
        settings = RadiomicsNetworkSettings(
            self.global_vectors.feature_names, self.attention_heads, self.attention_tokens
        )
        trained = self.output_folder is not None and any(Path(self.output_folder).glob("checkpoint_*.pth"))
        if recorded is not None and trained and recorded != settings:
            raise InvalidInputError(
                f"{self.output_folder} was trained with global features {list(recorded.global_features)} but "
                f"{self.global_vectors_file} has {list(settings.global_features)}: delete the fold folder to train "
                "it afresh with the new features, or restore the vectors it was trained with."
            )
        return settings

    @staticmethod
    def build_network_architecture(
        plans_manager: Any,
        configuration_manager: Any,
        num_input_channels: int,
        num_output_channels: int,
        enable_deep_supervision: bool = True,
    ) -> nn.Module:
        """The plans' U-Net (input channels = CT + maps) wrapped in a :class:`RadiomicsUNet` sized by the plans'
        ``"pdacrad_radiomics"`` block (this fold's settings during training; nnU-Net's predictor sees the
        model folder's plans.json — see :mod:`pdacrad.nnunet_ext.networks.builder`)."""
        settings = radiomics_settings(configuration_manager.configuration)
        return build_radiomics_network(
            configuration_manager, num_input_channels, num_output_channels, settings, enable_deep_supervision
        )

    def initialize(self) -> None:
        """nnU-Net's ``initialize``; then the dataset class it chose is extended so that every loaded case carries
        its vector (:func:`~pdacrad.nnunet_ext.conditioning.case_vectors.dataset_class_with_vectors`)."""
        super().initialize()
        self.dataset_class = dataset_class_with_vectors(
            self.dataset_class,  # type: ignore[has-type]  # nnU-Net sets it untyped in __init__
            self._require_global_vectors(),
            self._conditioner,
        )

    def loader_global_vectors(self) -> GlobalVectors:
        """Every training and validation batch carries its ``(B, F)`` vectors."""
        return self._require_global_vectors()

    def _require_global_vectors(self) -> GlobalVectors:
        if self.global_vectors is None:
            raise InvalidInputError(
                f"No {GLOBAL_VECTORS_FILENAME} in {self.output_folder} or {self.preprocessed_dataset_folder_base}: "
                "nnUNetTrainerRadiomics needs the z-scored global vector of every case (written by the training tree)."
            )
        return self.global_vectors

    def network_module(self) -> RadiomicsUNet:
        """The :class:`RadiomicsUNet` itself, unwrapped from DDP and torch.compile."""
        network: Any = self.network
        module = network.module if self.is_ddp else network
        return cast(RadiomicsUNet, getattr(module, "_orig_mod", module))

    def train_step(self, batch: dict) -> dict:
        """nnU-Net's own training step, each sample conditioned on its row of ``batch['global_vector']``."""
        with self._batch_conditioning(batch):
            return super().train_step(batch)

    def validation_step(self, batch: dict) -> dict:
        """nnU-Net's own validation step (loss, pseudo Dice), each sample conditioned on its vector."""
        with self._batch_conditioning(batch):
            return super().validation_step(batch)

    def _batch_conditioning(self, batch: dict) -> AbstractContextManager[RadiomicsUNet]:
        """The network conditioned on the batch's ``(B, F)`` vectors (on the trainer's device) for the duration
        of nnU-Net's step, which calls ``network(x)`` as for any nnU-Net network (also through DDP or compile).

        Raises:
            InvalidInputError: the batch has no vectors, or not one per sample.
        """
        if GLOBAL_VECTOR_KEY not in batch:
            raise InvalidInputError(
                f"the batch has no {GLOBAL_VECTOR_KEY!r}: build the data loaders with the trainer's get_dataloaders"
            )
        g = torch.as_tensor(batch[GLOBAL_VECTOR_KEY]).to(self.device, non_blocking=True)
        if g.shape[0] != batch["data"].shape[0]:
            raise InvalidInputError(
                f"global vectors for {g.shape[0]} samples, data for {batch['data'].shape[0]}"
            )
        return self.network_module().conditioned_per_sample(g)

    def on_train_start(self) -> None:
        """Fail before the first epoch when a training or validation case has no global vector; record this
        fold's radiomics settings in ``fold_<k>/pdacrad_radiomics.json``; then nnU-Net's ``on_train_start``."""
        if not self.was_initialized:
            self.initialize()
        vectors = self._require_global_vectors()
        train_keys, val_keys = self.do_split()
        missing = vectors.missing([*train_keys, *val_keys])
        if missing:
            raise InvalidInputError(
                f"{len(missing)} cases of fold {self.fold} have no global vector in {self.global_vectors_file}: "
                f"{missing[:5]}"
            )
        if self.local_rank == 0:
            write_fold_settings(self.output_folder, self.radiomics_settings, self.__class__.__name__)
        super().on_train_start()

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        """nnU-Net's final validation (``nnUNetv2_train`` runs it after training; ``--val`` alone), each case
        predicted under its own vector: the dataset that loads a case binds its vector to the network until the
        next case is loaded (:class:`~pdacrad.nnunet_ext.conditioning.case_vectors.LoadOrderConditioner`, which raises if
        nnU-Net ever loads ahead of its predictions)."""
        with self._conditioner.conditioning(self.network_module()):
            super().perform_actual_validation(save_probabilities)


class nnUNetTrainerRadiomicsDemo(Stage2DemoSchedule, nnUNetTrainerRadiomics):
    """:class:`nnUNetTrainerRadiomics` on the Stage-2 CPU demo schedule
    (:class:`~pdacrad.nnunet_ext.variants.picai.Stage2DemoSchedule`)."""


class nnUNetTrainerRadiomicsLong(Stage2LongSchedule, nnUNetTrainerRadiomics):
    """:class:`nnUNetTrainerRadiomics` on the long Stage-2 CPU schedule
    (:class:`~pdacrad.nnunet_ext.variants.picai.Stage2LongSchedule`)."""


class nnUNetTrainerRadiomicsSmoke(Stage2SmokeSchedule, nnUNetTrainerRadiomics):
    """:class:`nnUNetTrainerRadiomics` on the CI smoke schedule
    (:class:`~pdacrad.nnunet_ext.variants.picai.Stage2SmokeSchedule`)."""


class nnUNetTrainerRadiomicsRehearsal(RehearsalSchedule, nnUNetTrainerRadiomics):
    """:class:`nnUNetTrainerRadiomics` on the full-size rehearsal's cut schedule
    (:class:`~pdacrad.nnunet_ext.variants.schedules.RehearsalSchedule`)."""
