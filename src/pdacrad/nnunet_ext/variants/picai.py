"""PI-CAI checkpoint selection for nnU-Net trainers (:class:`nnUNetTrainerPicai` and its schedules).

What differs from :class:`~pdacrad.nnunet_ext.variants.schedules.PdacradTrainer` (nnU-Net's trainer with a schedule):
every :attr:`~nnUNetTrainerPicai.picai_every` epochs and at the last epoch, ``on_epoch_end`` first predicts the
fold's validation cases (preprocessed space, sliding window, no mirroring by default) and scores them by the PI-CAI
ranking score 0.5·(AUROC + AP); ``checkpoint_best_picai.pth`` is saved when the score improves, and the history
goes to ``picai_selection.json`` (see :mod:`pdacrad.nnunet_ext.checkpoint_selection`, which also says which checkpoint
inference loads). nnU-Net's own ``checkpoint_best.pth`` (EMA pseudo Dice) and ``checkpoint_final.pth`` are
unchanged. The network is nnU-Net's plain plans network; :class:`~pdacrad.nnunet_ext.variants.radiomics.
nnUNetTrainerRadiomics` builds on this class and only changes how one case is predicted
(:meth:`~nnUNetTrainerPicai.predict_validation_case`).

DDP (``-num_gpus N``): rank 0 scores every validation case while the other ranks wait at a barrier after it, so
all ranks leave ``on_epoch_end`` together and checkpoints are written by rank 0 only (as nnU-Net's).
"""

from __future__ import annotations

from os.path import join
from typing import Any

import numpy as np
import torch
from torch import nn

from pdacrad.errors import InvalidInputError
from pdacrad.nnunet_ext.checkpoint_selection import (
    BEST_PICAI_CHECKPOINT,
    PicaiScore,
    SelectionState,
    detection_map,
    load_selection_state,
    picai_score,
    save_selection_state,
)
from pdacrad.nnunet_ext.variants.schedules import PdacradTrainer


class nnUNetTrainerPicai(PdacradTrainer):
    """nnU-Net's trainer (plain network, nnU-Net's schedule) with PI-CAI checkpoint selection."""

    #: PI-CAI selection every N epochs (and at the last epoch); 0 disables it.
    picai_every: int = 50
    #: Mirroring test-time augmentation in the selection pass (off: 8× cheaper; inference may use it).
    picai_use_mirroring: bool = False

    def init_variant(self) -> None:
        """The PI-CAI selection history starts unread (loaded from the fold folder at the first selection)."""
        super().init_variant()
        self._picai_state: SelectionState | None = None

    def network_module(self) -> nn.Module:
        """The network itself, unwrapped from DDP and torch.compile."""
        network: Any = self.network
        module = network.module if self.is_ddp else network
        return getattr(module, "_orig_mod", module)

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

    def predict_validation_case(self, predictor: Any, key: str, data: torch.Tensor) -> torch.Tensor:
        """Logits (classes, z, y, x) of one preprocessed validation case ``data`` (channels, z, y, x) from nnU-Net's
        sliding-window predictor set up on this trainer's network."""
        return predictor.predict_sliding_window_return_logits(data)

    def validation_picai_score(self) -> PicaiScore:
        """Predict every validation case of the fold (preprocessed space, sliding window, through
        :meth:`predict_validation_case`), extract lesion candidates from the lesion-class probability, and score
        them against the preprocessed labels with picai_eval."""
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from tqdm import tqdm

        if self.label_manager.has_regions:
            raise InvalidInputError("PI-CAI selection needs softmax labels, not region-based training.")
        channel = list(self.label_manager.all_labels).index(self.LESION_LABEL)
        net: Any = self.network_module()
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
                logits = self.predict_validation_case(predictor, key, torch.from_numpy(np.asarray(data[:])))
                probability = torch.softmax(logits.float(), dim=0)[channel].cpu().numpy()
                maps.append(detection_map(probability))
                labels.append(np.asarray(seg[:])[0] == self.LESION_LABEL)
        finally:
            net.decoder.deep_supervision = deep_supervision
            net.train(was_training)
        return picai_score(maps, labels, list(dataset.identifiers))


class Stage2DemoSchedule:
    """The CPU demo schedule of the Stage-2 variants (mixed in before the trainer class): 600 epochs × 10
    iterations (6,000) at nnU-Net's initial learning rate 1e-2, 1 validation iteration, a checkpoint every 4
    epochs, lesion-focused sampling as :class:`~pdacrad.nnunet_ext.variants.schedules.nnUNetTrainerDemo`, PI-CAI selection
    every 100 epochs (each predicts every validation case, about a minute on the CPU). Measured on the demo cohort
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


class Stage2SmokeSchedule:
    """A CI-sized schedule of the Stage-2 variants (mixed in before the trainer class): 2 epochs × 2 iterations,
    1 validation iteration, PI-CAI selection at the last epoch only, lesion-focused sampling as the demo."""

    EPOCHS = 2
    ITERATIONS = 2
    VAL_ITERATIONS = 1
    OVERSAMPLE_FOREGROUND = 0.5
    LESION_PATCH_PROBABILITY = 0.6
    picai_every = EPOCHS


class nnUNetTrainerPicaiDemo(Stage2DemoSchedule, nnUNetTrainerPicai):
    """:class:`nnUNetTrainerPicai` on the Stage-2 CPU demo schedule (:class:`Stage2DemoSchedule`)."""


class nnUNetTrainerPicaiSmoke(Stage2SmokeSchedule, nnUNetTrainerPicai):
    """:class:`nnUNetTrainerPicai` on the CI smoke schedule (:class:`Stage2SmokeSchedule`)."""
