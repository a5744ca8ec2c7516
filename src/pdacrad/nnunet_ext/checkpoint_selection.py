"""Checkpoint selection by the PI-CAI ranking score on a fold's validation cases: the names of the files, the score,
and its history.

Selection is offline: the Stage-2 trainers (:mod:`pdacrad.nnunet_ext.variants.picai`) only save a snapshot
``checkpoint_epoch_<NNNN>.pth`` every ``picai_every`` epochs (``NNNN`` = epochs trained); nnU-Net's
``checkpoint_final.pth`` is the last candidate. The training tree's ``select-checkpoint`` step
(``pdacrad_train.steps.select_checkpoint``) runs every candidate through the prediction pipeline on the fold's
validation cases, scores it, writes the history to ``picai_selection.json`` and copies the best candidate to
``checkpoint_best_picai.pth``.

Score = 0.5 · (AUROC + AP) by ``picai_eval.evaluate`` (its ``Metrics``): AUROC is case-level (the case likelihood,
which our pipeline makes the maximum of the detection map), AP is lesion-level (a candidate counts as a hit at
IoU > 0.1 with a ground-truth lesion).

Which checkpoint inference uses: :func:`pdacrad.model.checks.checkpoint_names` —
``checkpoint_best_picai.pth`` when every fold of the model folder has one, else nnU-Net's ``checkpoint_final.pth``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from pdacrad.io.json_files import read_json_object

#: Written by the ``select-checkpoint`` step: a copy of the candidate with the best validation PI-CAI score.
BEST_PICAI_CHECKPOINT = "checkpoint_best_picai.pth"
FINAL_CHECKPOINT = "checkpoint_final.pth"
#: Score history and best epoch, beside the checkpoints in the fold folder.
SELECTION_LOG = "picai_selection.json"
#: Shell pattern of the trainers' snapshots.
SNAPSHOT_GLOB = "checkpoint_epoch_*.pth"
_SNAPSHOT = re.compile(r"^checkpoint_epoch_(\d+)\.pth$")


def snapshot_name(epochs_trained: int) -> str:
    """File name of the snapshot taken after ``epochs_trained`` epochs: ``checkpoint_epoch_0100.pth``."""
    return f"checkpoint_epoch_{epochs_trained:04d}.pth"


def snapshot_epochs(name: str) -> int | None:
    """Epochs trained of a snapshot file name (:func:`snapshot_name`'s inverse); ``None`` for another name."""
    match = _SNAPSHOT.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class PicaiScore:
    """PI-CAI metrics of one evaluation.

    Attributes:
        auroc: case-level area under the ROC curve (NaN when the cases are all positive or all negative).
        ap: lesion-level average precision (NaN where picai_eval cannot define it).
        score: 0.5 · (auroc + ap); NaN when undefined, so it never counts as an improvement.
        num_cases: cases evaluated.
        num_positive: cases with at least one ground-truth lesion voxel.
    """

    auroc: float
    ap: float
    score: float
    num_cases: int
    num_positive: int

    @classmethod
    def of(cls, auroc: float, ap: float, num_cases: int, num_positive: int) -> PicaiScore:
        """The score of ``auroc`` and ``ap`` (NaN when either is)."""
        score = 0.5 * (auroc + ap) if math.isfinite(auroc) and math.isfinite(ap) else math.nan
        return cls(auroc=auroc, ap=ap, score=score, num_cases=num_cases, num_positive=num_positive)


@dataclass(frozen=True)
class SelectionState:
    """Best score so far and the history (epoch → score dict, with the candidate's ``checkpoint`` file name and
    ``sha256`` where the ``select-checkpoint`` step recorded them) of one fold's PI-CAI selection. ``epoch`` is
    0-based: the last epoch the candidate trained (``checkpoint_epoch_0100.pth`` → 99)."""

    best_score: float | None
    best_epoch: int | None
    history: tuple[tuple[int, dict], ...]

    def improved_by(self, score: float) -> bool:
        """Whether ``score`` beats the best so far (NaN never does)."""
        return math.isfinite(score) and (self.best_score is None or score > self.best_score)

    def record(self, epoch: int, result: PicaiScore, **candidate: str) -> SelectionState:
        """A new state with ``result`` of ``epoch`` appended (and made best if it improves); ``candidate``
        (``checkpoint=``, ``sha256=``) is stored with it."""
        better = self.improved_by(result.score)
        return SelectionState(
            best_score=result.score if better else self.best_score,
            best_epoch=epoch if better else self.best_epoch,
            history=(*self.history, (epoch, {**candidate, **_json_safe(asdict(result))})),
        )

    @property
    def best_checkpoint(self) -> str | None:
        """The file name of the best candidate (``None`` without a defined score or a recorded name)."""
        return next((h.get("checkpoint") for e, h in self.history if e == self.best_epoch), None)


def load_selection_state(fold_folder: str | Path) -> SelectionState:
    """The state saved in ``fold_folder/picai_selection.json``, or an empty one."""
    path = Path(fold_folder) / SELECTION_LOG
    if not path.is_file():
        return SelectionState(None, None, ())
    payload = read_json_object(path)
    return SelectionState(
        payload.get("best_score"),
        payload.get("best_epoch"),
        tuple(
            (int(h["epoch"]), {k: v for k, v in h.items() if k != "epoch"})
            for h in payload.get("history", [])
        ),
    )


def save_selection_state(fold_folder: str | Path, state: SelectionState, note: str | None = None) -> Path:
    """Write ``state`` (and ``note``, e.g. why the best checkpoint is a fallback) to
    ``fold_folder/picai_selection.json`` (NaN written as null)."""
    path = Path(fold_folder) / SELECTION_LOG
    payload: dict[str, object] = {
        "metric": "0.5 * (AUROC + AP), picai_eval",
        "checkpoint": BEST_PICAI_CHECKPOINT,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "best_checkpoint": state.best_checkpoint,
        "history": [{"epoch": e, **h} for e, h in state.history],
    }
    if note:
        payload["note"] = note
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)
    return path


def _json_safe(values: dict) -> dict:
    """``values`` with NaN/inf floats replaced by None (JSON has no NaN)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
