"""The candidates of one Stage-2 fold's PI-CAI checkpoint selection, and the score of a folder of predictions.

Candidates are the trainer's snapshots ``checkpoint_epoch_<NNNN>.pth`` (:mod:`pdacrad.nnunet_ext.variants.picai`)
in training order, then nnU-Net's ``checkpoint_final.pth``. A fold without snapshots (a trainer that keeps none)
has one candidate, the final checkpoint.

The score is the one the ``evaluate`` step gives the same predictions: ``picai_eval`` through
:func:`pdacrad.evaluation.metrics.evaluate_cases`, case level from each case's ``likelihood.json``, lesions = label
1 (PDAC) of the cohort's ``labelsTr``; PI-CAI score = 0.5·(AUROC + AP), NaN where either is undefined.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pdacrad.errors import InvalidInputError
from pdacrad.io.predictions import label_path, read_case_folder
from pdacrad.nnunet_ext.checkpoint_selection import (
    FINAL_CHECKPOINT,
    SNAPSHOT_GLOB,
    PicaiScore,
    snapshot_epochs,
)


@dataclass(frozen=True)
class Candidate:
    """One checkpoint file of a fold folder: its name and the epochs it trained."""

    name: str
    epochs_trained: int

    @property
    def epoch(self) -> int:
        """0-based index of the last epoch it trained (what ``picai_selection.json`` records)."""
        return self.epochs_trained - 1


def fold_candidates(fold_folder: Path) -> list[Candidate]:
    """The snapshots of ``fold_folder`` by epoch, then ``checkpoint_final.pth`` (its epochs read from the file).

    Raises:
        InvalidInputError: the fold has no ``checkpoint_final.pth`` (training unfinished).
    """
    final = fold_folder / FINAL_CHECKPOINT
    if not final.is_file():
        raise InvalidInputError(f"{final} missing: finish training first (`--steps stage2`).")
    snapshots = []
    for path in fold_folder.glob(SNAPSHOT_GLOB):
        epochs = snapshot_epochs(path.name)
        if epochs is not None:
            snapshots.append(Candidate(path.name, epochs))
    final_epochs = _trained_epochs(final)
    # a snapshot at or past the final epoch belongs to an earlier, longer training of this folder
    kept = sorted((c for c in snapshots if c.epochs_trained < final_epochs), key=lambda c: c.epochs_trained)
    return [*kept, Candidate(FINAL_CHECKPOINT, final_epochs)]


def _trained_epochs(checkpoint: Path) -> int:
    """Epochs an nnU-Net checkpoint has completed (its ``current_epoch``), read without loading the tensors."""
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True)["current_epoch"])


def score_predictions(folder: Path, cases: Sequence[str], labels_dir: Path) -> PicaiScore:
    """PI-CAI score of the predictions ``folder/<case>/`` of ``cases`` against ``labels_dir/<case>.nii.gz``.

    Raises:
        InvalidInputError: a case has no finished prediction in ``folder``.
    """
    from pdacrad.evaluation.metrics import case_targets, evaluate_cases

    predicted = {c.case: c for c in read_case_folder(folder, "")} if folder.is_dir() else {}
    missing = [c for c in cases if c not in predicted]
    if missing:
        raise InvalidInputError(f"{folder}: no finished prediction of {missing[:3]} ({len(missing)} cases).")
    chosen = [predicted[c] for c in cases]
    with warnings.catch_warnings():
        # sklearn warns on a single-class validation set; the NaN AUROC says it
        warnings.simplefilter("ignore", UserWarning)
        metrics = evaluate_cases(
            [c.detection_map for c in chosen],
            [label_path(labels_dir, c.case) for c in chosen],
            [c.case for c in chosen],
            [c.likelihood for c in chosen],
        )
        auroc, ap = _defined_or_nan(lambda: metrics.auroc), _defined_or_nan(lambda: metrics.AP)
    positive = int(sum(case_targets(metrics).values()))
    return PicaiScore.of(auroc, ap, num_cases=len(chosen), num_positive=positive)


def _defined_or_nan(metric: Callable[[], float]) -> float:
    """``metric()``, or NaN where it is undefined (sklearn on one class; picai_eval raises on a set without any
    lesion and without any candidate, e.g. an untrained network on negative cases)."""
    try:
        value = float(metric())
    except (ValueError, ZeroDivisionError, IndexError):
        return math.nan
    return value if math.isfinite(value) else math.nan
