"""nnU-Net trainer variant for the radiomics-enhanced Stage 2 (:class:`nnUNetTrainerRadiomics`).

What differs from ``nnUNetTrainer`` — nothing else does (data loading, augmentation, Dice + CE loss with deep
supervision, optimiser, schedule, DDP, checkpoint format are nnU-Net's):

* **network**: :class:`~pdacrad.nnunet_ext.radiomics_net.RadiomicsUNet` (plans' U-Net + bottleneck cross-attention
  to the global vector). The parametric maps are ordinary input channels of the nnU-Net dataset.
* **global vectors**: loaded once from ``$nnUNet_preprocessed/<dataset>/global_vectors.json``; every training and
  validation step looks up one row per sample from ``batch['keys']`` (nnU-Net's data loader returns the case ids
  in batch order), so each sample carries its own vector through augmentation (spatial and intensity
  augmentation do not change a segment-level feature vector).
* **plans**: the feature names and attention settings are written into the plans' configuration under
  ``"pdacrad_radiomics"``, so ``plans.json`` of the trained-model folder is enough to rebuild the network
  (``build_network_architecture`` is static and sees only the plans), and inference can check its
  ``radiomics.json`` against them.
* **checkpoint selection**: every :attr:`picai_every` epochs (and at the last) the fold's validation cases are
  predicted with the sliding window and scored by PI-CAI 0.5·(AUROC + AP); ``checkpoint_best_picai.pth`` is
  saved when the score improves (see :mod:`pdacrad.nnunet_ext.picai_selection`, which also says which checkpoint
  inference loads).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from os.path import join
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
from torch import nn

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad.nnunet_ext.global_vectors import GLOBAL_VECTORS_FILENAME, GlobalVectors, load_global_vectors
from pdacrad.nnunet_ext.picai_selection import (
    BEST_PICAI_CHECKPOINT,
    PicaiScore,
    detection_map,
    load_selection_state,
    picai_score,
    save_selection_state,
)
from pdacrad.nnunet_ext.radiomics_net import RadiomicsUNet, build_radiomics_unet
from pdacrad.nnunet_ext.trainers import nnUNetTrainerDemo

#: Key of the configuration in plans.json that holds the radiomics settings of the network.
PLANS_KEY = "pdacrad_radiomics"


def radiomics_plans_settings(configuration: dict) -> dict:
    """The ``"pdacrad_radiomics"`` block of one plans configuration: ``global_features`` (names, vector order),
    ``attention_heads`` (None = default), ``attention_tokens``.

    Raises:
        ResourceError: the plans were not written by :class:`nnUNetTrainerRadiomics`.
    """
    settings = configuration.get(PLANS_KEY)
    if not isinstance(settings, dict) or not isinstance(settings.get("global_features"), list):
        raise ResourceError(
            f"The nnU-Net plans have no {PLANS_KEY!r} block with 'global_features': this model folder was not "
            "trained with nnUNetTrainerRadiomics (or its plans.json was replaced)."
        )
    return settings


class _VectorBoundNetwork:
    """Stands in for ``trainer.network`` during one step: ``network(x)`` becomes ``network(x, g=g)``; every other
    attribute (``parameters``, ``train``, ...) is the wrapped network's. Lets nnU-Net's own ``train_step`` and
    ``validation_step`` run unchanged while ``g`` goes through DDP / torch.compile as an ordinary input."""

    def __init__(self, network: Any, g: torch.Tensor):
        self._network = network
        self._g = g

    def __call__(self, x: torch.Tensor) -> Any:
        return self._network(x, g=self._g)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._network, name)


class nnUNetTrainerRadiomics(nnUNetTrainer):
    """nnU-Net trainer whose network is conditioned on each case's global radiomics vector."""

    #: Attention heads at the bottleneck (None: largest of 8/4/2/1 dividing the bottleneck channels).
    attention_heads: int | None = None
    #: Query tokens projected from the global vector.
    attention_tokens: int = 1
    #: PI-CAI checkpoint selection every N epochs (and at the last epoch); 0 disables it.
    picai_every: int = 50
    #: Label value of the lesion class whose probability makes the detection map (PANORAMA: 1 = PDAC).
    picai_lesion_label: int = 1
    #: Mirroring test-time augmentation in the selection pass (off: 8× cheaper; inference may use it).
    picai_use_mirroring: bool = False

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = torch.device("cuda"),
    ):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.global_vectors: GlobalVectors | None = None
        if self.preprocessed_dataset_folder_base is not None:
            path = Path(self.preprocessed_dataset_folder_base) / GLOBAL_VECTORS_FILENAME
            if path.is_file():
                self.global_vectors = load_global_vectors(path)
        self._record_settings_in_plans(configuration)
        self._picai_state = load_selection_state(self.output_folder) if self.output_folder else None

    def _record_settings_in_plans(self, configuration: str) -> None:
        """Write the feature names and attention settings into the plans (saved to the model folder's plans.json
        at the start of training), or check that plans already holding them agree with the vector file."""
        recorded = self.configuration_manager.configuration.get(PLANS_KEY)
        if self.global_vectors is None:
            if recorded is None:
                raise InvalidInputError(
                    f"{self.preprocessed_dataset_folder_base}: no {GLOBAL_VECTORS_FILENAME}; nnUNetTrainerRadiomics "
                    "needs the z-scored global vector of every case (written by the training tree)."
                )
            return
        settings = {
            "global_features": list(self.global_vectors.feature_names),
            "attention_heads": self.attention_heads,
            "attention_tokens": self.attention_tokens,
        }
        if recorded is not None and recorded.get("global_features") != settings["global_features"]:
            raise InvalidInputError(
                f"The plans record global features {recorded.get('global_features')} but "
                f"{GLOBAL_VECTORS_FILENAME} has {settings['global_features']}: re-plan or rewrite the vectors."
            )
        # the configuration manager holds a deep copy of the plans' configuration: update both
        self.plans_manager.plans["configurations"][configuration][PLANS_KEY] = settings
        self.configuration_manager.configuration[PLANS_KEY] = settings

    @staticmethod
    def build_network_architecture(
        plans_manager: Any,
        configuration_manager: Any,
        num_input_channels: int,
        num_output_channels: int,
        enable_deep_supervision: bool = True,
    ) -> nn.Module:
        """The plans' U-Net (input channels = CT + maps) wrapped in a :class:`RadiomicsUNet` whose number of
        global features and attention settings come from the plans' ``"pdacrad_radiomics"`` block."""
        settings = radiomics_plans_settings(configuration_manager.configuration)
        return build_radiomics_unet(
            configuration_manager.network_arch_class_name,
            configuration_manager.network_arch_init_kwargs,
            configuration_manager.network_arch_init_kwargs_req_import,
            num_input_channels,
            num_output_channels,
            num_global_features=len(settings["global_features"]),
            deep_supervision=enable_deep_supervision,
            num_heads=settings.get("attention_heads"),
            num_tokens=int(settings.get("attention_tokens", 1)),
        )

    def batch_global_vectors(self, batch: dict) -> torch.Tensor:
        """The ``(B, F)`` float32 matrix of ``batch['keys']``' vectors, row ``i`` = sample ``i``, on the device."""
        vectors = self._require_global_vectors()
        return vectors.matrix([str(k) for k in batch["keys"]]).to(self.device, non_blocking=True)

    def _require_global_vectors(self) -> GlobalVectors:
        if self.global_vectors is None:
            raise InvalidInputError(
                f"No {GLOBAL_VECTORS_FILENAME} in {self.preprocessed_dataset_folder_base}: nnUNetTrainerRadiomics "
                "needs the z-scored global vector of every case (written by the training tree)."
            )
        return self.global_vectors

    @contextlib.contextmanager
    def _network_bound_to(self, g: torch.Tensor) -> Iterator[None]:
        network: Any = self.network  # type: ignore[has-type]
        self.network = _VectorBoundNetwork(network, g)
        try:
            yield
        finally:
            self.network = network

    def train_step(self, batch: dict) -> dict:
        """nnU-Net's training step with ``network(x, g)``, ``g`` from ``batch['keys']``."""
        with self._network_bound_to(self.batch_global_vectors(batch)):
            return super().train_step(batch)

    def validation_step(self, batch: dict) -> dict:
        """nnU-Net's validation step (pseudo Dice) with ``network(x, g)``, ``g`` from ``batch['keys']``."""
        with self._network_bound_to(self.batch_global_vectors(batch)):
            return super().validation_step(batch)

    def network_module(self) -> RadiomicsUNet:
        """The :class:`RadiomicsUNet` itself, unwrapped from DDP and torch.compile."""
        network: Any = self.network
        module = network.module if self.is_ddp else network
        return cast(RadiomicsUNet, getattr(module, "_orig_mod", module))

    def on_train_start(self) -> None:
        """Fail before the first epoch when a training or validation case has no global vector."""
        if not self.was_initialized:
            self.initialize()
        if self.global_vectors is None:
            raise InvalidInputError(
                f"No {GLOBAL_VECTORS_FILENAME} in {self.preprocessed_dataset_folder_base}."
            )
        train_keys, val_keys = self.do_split()
        missing = self.global_vectors.missing([*train_keys, *val_keys])
        if missing:
            raise InvalidInputError(
                f"{len(missing)} cases of fold {self.fold} have no global vector in "
                f"{Path(self.preprocessed_dataset_folder_base or '') / GLOBAL_VECTORS_FILENAME}: {missing[:5]}"
            )
        super().on_train_start()

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        """nnU-Net's final validation (``nnUNetv2_train`` runs it after training), each case predicted under its
        own vector. nnU-Net loads every validation case through ``self.dataset_class(...).load_case(key)`` right
        before predicting it, so a dataset class whose ``load_case`` switches the network's vector conditions
        each prediction without copying nnU-Net's loop."""
        net, vectors = self.network_module(), self._require_global_vectors()
        base: Any = self.dataset_class  # type: ignore[has-type]
        current = contextlib.ExitStack()

        class _ConditioningDataset(base):
            def load_case(self, identifier: str) -> Any:
                current.close()  # leave the previous case's vector
                current.enter_context(net.conditioned_on(torch.from_numpy(vectors.vector(identifier))))
                return super().load_case(identifier)

        self.dataset_class = _ConditioningDataset
        try:
            super().perform_actual_validation(save_probabilities)
        finally:
            self.dataset_class = base
            current.close()

    def on_epoch_end(self) -> None:
        """nnU-Net's epoch end, preceded (every :attr:`picai_every` epochs and at the last) by PI-CAI selection."""
        epoch = self.current_epoch
        if self.picai_every > 0 and ((epoch + 1) % self.picai_every == 0 or epoch == self.num_epochs - 1):
            self.select_checkpoint_by_picai(epoch)
        super().on_epoch_end()

    def select_checkpoint_by_picai(self, epoch: int) -> PicaiScore | None:
        """Score the fold's validation cases; save ``checkpoint_best_picai.pth`` if the score improved. Rank 0
        does the work (other DDP ranks wait at a barrier); returns the score on rank 0, None elsewhere."""
        result = None
        if self.local_rank == 0:
            result = self.validation_picai_score()
            state = self._picai_state or load_selection_state(self.output_folder)
            improved = state.improved_by(result.score)
            self._picai_state = state.record(epoch, result)
            self.print_to_log_file(
                f"PI-CAI validation: score {result.score:.4f} (AUROC {result.auroc:.4f}, AP {result.ap:.4f}, "
                f"{result.num_positive}/{result.num_cases} positive)" + (" — new best" if improved else "")
            )
            if improved:
                self.save_checkpoint(join(self.output_folder, BEST_PICAI_CHECKPOINT))
            save_selection_state(self.output_folder, self._picai_state)
        if self.is_ddp:
            import torch.distributed as dist

            dist.barrier()
        return result

    def validation_picai_score(self) -> PicaiScore:
        """Predict every validation case of the fold (preprocessed space, sliding window, each case conditioned
        on its own vector), extract lesion candidates from the lesion-class probability, and score them against
        the preprocessed labels with picai_eval."""
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from tqdm import tqdm

        if self.label_manager.has_regions:
            raise InvalidInputError("PI-CAI selection needs softmax labels, not region-based training.")
        channel = list(self.label_manager.all_labels).index(self.picai_lesion_label)
        vectors = self._require_global_vectors()
        net = self.network_module()
        was_training, deep_supervision = net.training, net.decoder.deep_supervision
        net.eval()
        net.decoder.deep_supervision = False
        predictor = nnUNetPredictor(
            tile_step_size=0.5,
            use_gaussian=True,
            use_mirroring=self.picai_use_mirroring,
            perform_everything_on_device=True,
            device=self.device,
            verbose=False,
            verbose_preprocessing=False,
            allow_tqdm=False,
        )
        predictor.manual_initialization(
            net,
            self.plans_manager,
            self.configuration_manager,
            None,
            self.dataset_json,
            self.__class__.__name__,
            self.inference_allowed_mirroring_axes,
        )
        _, val_keys = self.do_split()
        dataset = self.dataset_class(self.preprocessed_dataset_folder, val_keys)
        maps, labels = [], []
        try:
            for key in tqdm(dataset.identifiers, desc="PI-CAI validation", leave=False):
                data, seg, _, _ = dataset.load_case(key)
                with net.conditioned_on(torch.from_numpy(vectors.vector(key))):
                    logits = predictor.predict_sliding_window_return_logits(
                        torch.from_numpy(np.asarray(data[:]))
                    )
                probability = torch.softmax(logits.float(), dim=0)[channel].cpu().numpy()
                maps.append(detection_map(probability))
                labels.append(np.asarray(seg[:])[0] == self.picai_lesion_label)
        finally:
            net.decoder.deep_supervision = deep_supervision
            net.train(was_training)
        return picai_score(maps, labels, list(dataset.identifiers))


class nnUNetTrainerRadiomicsDemo(nnUNetTrainerRadiomics, nnUNetTrainerDemo):
    """The CPU demo schedule for the radiomics variant: the baseline demo's iterations per epoch and lesion-focused
    sampling (inherited from :class:`~pdacrad.nnunet_ext.trainers.nnUNetTrainerDemo`, whose ``__init__`` runs after
    this variant's in the MRO), but 600 epochs (6,000 iterations) at nnU-Net's own initial learning rate 1e-2.
    Measured on the demo cohort (PI-CAI score on its training cases, every 100 epochs): the lesion class is not
    learned before ~300 epochs (AUROC ≈ 0.5), then AUROC 0.77–0.84 / AP 0.45–0.65 from epoch 400 on; the earlier
    160 epochs at 2e-2 never got past AUROC 0.56. PI-CAI selection every 100 epochs (each one predicts every
    validation case, about a minute on the CPU)."""

    EPOCHS = 600
    INITIAL_LR = 1e-2
    picai_every = 100
