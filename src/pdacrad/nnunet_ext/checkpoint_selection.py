"""Checkpoint selection by the PI-CAI ranking score on a fold's validation cases.

Score = 0.5 · (AUROC + AP), computed by ``picai_eval.evaluate`` (its ``Metrics.score``): AUROC is case-level
(case confidence = max of the detection map), AP is lesion-level (a candidate counts as a hit at IoU > 0.1 with
a ground-truth lesion). Detection maps are lesion candidates from ``report_guided_annotation``'s
``extract_lesion_candidates`` with its defaults, as the PANORAMA baseline and our inference do.

Which checkpoint inference uses: :func:`pdacrad.model.checks.checkpoint_names` —
``checkpoint_best_picai.pth`` when every fold of the model folder has one, else nnU-Net's ``checkpoint_final.pth``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

#: Written by the trainer variant when the validation PI-CAI score improves.
BEST_PICAI_CHECKPOINT = "checkpoint_best_picai.pth"
FINAL_CHECKPOINT = "checkpoint_final.pth"
#: Score history and best epoch, beside the checkpoints in the fold folder (survives resuming).
SELECTION_LOG = "picai_selection.json"


@dataclass(frozen=True)
class PicaiScore:
    """PI-CAI metrics of one evaluation.

    Attributes:
        auroc: case-level area under the ROC curve (NaN when the cases are all positive or all negative).
        ap: lesion-level average precision.
        score: 0.5 · (auroc + ap); NaN when undefined, so it never counts as an improvement.
        num_cases: cases evaluated.
        num_positive: cases with at least one ground-truth lesion voxel.
    """

    auroc: float
    ap: float
    score: float
    num_cases: int
    num_positive: int


def detection_map(probability: np.ndarray) -> np.ndarray:
    """Lesion candidates of a tumour probability map (z, y, x; values in [0, 1]): each candidate filled with its
    confidence, 0 elsewhere (``report_guided_annotation.extract_lesion_candidates`` defaults), float32."""
    prob = np.asarray(probability, dtype=np.float32)
    if not np.any(prob > 0):
        return np.zeros(prob.shape, np.float32)
    # the package prints a citation banner on first import
    with contextlib.redirect_stdout(io.StringIO()):
        from report_guided_annotation import extract_lesion_candidates
    return np.asarray(extract_lesion_candidates(prob.astype(np.float64))[0], dtype=np.float32)


def picai_score(
    detection_maps: Sequence[np.ndarray], labels: Sequence[np.ndarray], case_ids: Sequence[str] | None = None
) -> PicaiScore:
    """PI-CAI score of per-case detection maps against binary lesion labels (same shapes, pairwise).

    Raises:
        ValueError: the sequences differ in length or a map and its label differ in shape.
    """
    if len(detection_maps) != len(labels) or (case_ids is not None and len(case_ids) != len(labels)):
        raise ValueError(
            f"got {len(detection_maps)} detection maps, {len(labels)} labels"
            + ("" if case_ids is None else f", {len(case_ids)} case ids")
        )
    for i, (det, lab) in enumerate(zip(detection_maps, labels, strict=True)):
        if np.shape(det) != np.shape(lab):
            raise ValueError(
                f"case {i if case_ids is None else case_ids[i]}: map {np.shape(det)} ≠ label {np.shape(lab)}"
            )
    from picai_eval import evaluate

    with warnings.catch_warnings():
        # sklearn warns on a single-class validation set; the NaN AUROC says it
        warnings.simplefilter("ignore", UserWarning)
        metrics = evaluate(
            y_det=[np.asarray(d, np.float32) for d in detection_maps],
            y_true=[(np.asarray(lab) > 0).astype(np.int32) for lab in labels],
            subject_list=list(case_ids) if case_ids is not None else None,
            num_parallel_calls=1,
        )
        auroc, ap = _defined_or_nan(lambda: metrics.auroc), _defined_or_nan(lambda: metrics.AP)
    positive = sum(int(np.any(np.asarray(lab) > 0)) for lab in labels)
    score = 0.5 * (auroc + ap) if math.isfinite(auroc) and math.isfinite(ap) else math.nan
    return PicaiScore(auroc=auroc, ap=ap, score=score, num_cases=len(labels), num_positive=positive)


@dataclass(frozen=True)
class SelectionState:
    """Best score so far and the history (epoch → score dict) of one fold's PI-CAI selection."""

    best_score: float | None
    best_epoch: int | None
    history: tuple[tuple[int, dict], ...]

    def improved_by(self, score: float) -> bool:
        """Whether ``score`` beats the best so far (NaN never does)."""
        return math.isfinite(score) and (self.best_score is None or score > self.best_score)

    def record(self, epoch: int, result: PicaiScore) -> SelectionState:
        """A new state with ``result`` of ``epoch`` appended (and made best if it improves)."""
        better = self.improved_by(result.score)
        return SelectionState(
            best_score=result.score if better else self.best_score,
            best_epoch=epoch if better else self.best_epoch,
            history=(*self.history, (epoch, _json_safe(asdict(result)))),
        )


def load_selection_state(fold_folder: str | Path) -> SelectionState:
    """The state saved in ``fold_folder/picai_selection.json``, or an empty one."""
    path = Path(fold_folder) / SELECTION_LOG
    if not path.is_file():
        return SelectionState(None, None, ())
    payload = json.loads(path.read_text())
    return SelectionState(
        payload.get("best_score"),
        payload.get("best_epoch"),
        tuple(
            (int(h["epoch"]), {k: v for k, v in h.items() if k != "epoch"})
            for h in payload.get("history", [])
        ),
    )


def save_selection_state(fold_folder: str | Path, state: SelectionState) -> Path:
    """Write ``state`` to ``fold_folder/picai_selection.json`` (NaN written as null)."""
    path = Path(fold_folder) / SELECTION_LOG
    payload = {
        "metric": "0.5 * (AUROC + AP), picai_eval",
        "checkpoint": BEST_PICAI_CHECKPOINT,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "history": [{"epoch": e, **h} for e, h in state.history],
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)
    return path


def _defined_or_nan(metric: Callable[[], float]) -> float:
    """``metric()``, or NaN where sklearn cannot define it (picai_eval raises on a validation set without any
    lesion and without any candidate, e.g. an untrained network on negative cases)."""
    try:
        return float(metric())
    except (ValueError, ZeroDivisionError, IndexError):
        return math.nan


def _json_safe(values: dict) -> dict:
    """``values`` with NaN/inf floats replaced by None (JSON has no NaN)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
