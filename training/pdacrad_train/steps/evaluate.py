"""``evaluate``: PI-CAI / PANORAMA metrics of the cross-validation predictions of each ablation variant.

Input: ``<work_dir>/cv_predictions_final/<variant>/fold_<k>/<case>/{detection_map.mha, likelihood.json}`` (the layout
of :mod:`pdacrad.io.predictions`; each fold folder is what ``pdacrad predict-cohort`` writes for that fold's
validation cases with that fold's model), variants ``base``, ``maps``, ``global``, ``both``; labels from the
cohort's ``labelsTr``; the case table ``cases.csv`` (lesion kind, size, confounder flags; what ``pdacrad synth``
writes) and the CTs ``imagesTr`` from the cohort when it has them. Output in ``<work_dir>/evaluation_final/`` for
the final checkpoints (``experiment.checkpoint: final``, the default), ``cv_predictions``/``evaluation`` for the
PI-CAI-selected ones (``picai``):
``metrics.csv``, ``comparisons.csv``, ``calibration.csv``, ``subgroups.csv``, ``evaluation.json``, the PNGs
(ROC, PR, FROC, reliability, likelihoods, subgroups, ``cases/``) and ``report.html``. Cheap to rerun: it always
recomputes from the predictions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pdacrad_train.config import StudyCheckpoint, TrainConfig
from pdacrad_train.radiomics_config import load_radiomics_config
from pdacrad_train.splits import split_patients_note, splits_phrase
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    from pdacrad.evaluation import EvaluationFiles, EvaluationResult

logger = logging.getLogger(__name__)


CHECKPOINT_NOTE: dict[StudyCheckpoint, str] = {
    "picai": "Checkpoint: each fold model's PI-CAI-selected one (the paper's protocol): of its snapshots and final "
    "checkpoint, the one whose predictions of this very validation fold (through this pipeline) scored best, so the "
    "table is optimistic.",
    "final": "Checkpoint: each fold model's final one (end of the fixed schedule); nothing was selected on the "
    "scored cases.",
}


def study_notes(cfg: TrainConfig, ws: Workspace) -> list[str]:
    """How the predictions were made, for the report: the folds (and the patients they split, if any),
    feature-selection mode (and its leak when pooled), where the training cases' radiomics came from, and the run
    ledger's time per step."""
    mode = load_radiomics_config(cfg, None).selection.mode
    notes = [
        f"Config {cfg.source or cfg.name}; {cfg.splits.n_folds}-fold CV ({splits_phrase(cfg.splits)}); each case "
        "predicted by the Stage-2 fold model that did not train on it, from its "
        "out-of-fold Stage-1 mask, through the container's Stage-2 code."
        + split_patients_note(ws, cfg.stage2),
        CHECKPOINT_NOTE[cfg.experiment.checkpoint],
        "Feature selection per fold: FDR filter + SVM-RFE and the scaler fitted on each fold's training cases only."
        if mode == "per-fold"
        else "Feature selection POOLED (the paper's): one fit on all cases, so every validation fold helped choose "
        "its own global features and maps — optimistic for +maps/+global/+both.",
        "Radiomics of training cases from out-of-fold Stage-1 masks"
        + (
            " (ground-truth fallback allowed by experiment.allow_gt_masks)."
            if cfg.experiment.allow_gt_masks
            else "."
        ),
    ]
    totals: dict[str, float] = {}
    for entry in ws.ledger.entries():
        totals[entry.unit.split(":")[0]] = totals.get(entry.unit.split(":")[0], 0.0) + entry.seconds
    if totals:
        notes.append(
            "Wall time per step (run ledger): "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in totals.items())
        )
    return notes


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def run_evaluate(
    cfg: TrainConfig,
    ws: Workspace,
    predictions: Path | None = None,
    labels: Path | None = None,
    out: Path | None = None,
    n_bootstrap: int | None = None,
    seed: int = 0,
    cases: Path | None = None,
    images: Path | None = None,
    n_figures: int = 4,
) -> tuple[EvaluationResult, EvaluationFiles]:
    """Evaluate the CV predictions of ``ws`` and write the report; returns (result, files). ``predictions`` and
    ``out`` default to the folders of ``cfg.experiment.checkpoint``; ``cases`` (case table) and ``images`` (CTs
    for the case pictures) to the cohort's ``cases.csv`` and ``imagesTr`` when they exist; ``n_bootstrap`` (bootstrap
    replicates of the CIs and paired tests) to ``cfg.experiment.n_bootstrap``, so that a study's evaluation is
    reproduced from its config alone."""
    from pdacrad.evaluation import (
        CaseSources,
        EvaluationConfig,
        discover_predictions,
        evaluate_predictions,
        read_case_table,
        write_evaluation,
    )

    predictions = predictions or ws.predictions_dir(cfg.experiment.checkpoint)
    labels = labels or ws.cohort / "labelsTr"
    cases = cases or _existing(ws.cohort / "cases.csv")
    images = images or _existing(ws.cohort / "imagesTr")
    replicates = cfg.experiment.n_bootstrap if n_bootstrap is None else n_bootstrap
    result = evaluate_predictions(predictions, labels, EvaluationConfig(n_bootstrap=replicates, seed=seed))
    sources = CaseSources(
        table=read_case_table(cases) if cases else None,
        predictions=discover_predictions(predictions),
        images_dir=images,
        labels_dir=labels,
        n_figures=n_figures,
    )
    files = write_evaluation(
        result, out or ws.evaluation_dir(cfg.experiment.checkpoint), study_notes(cfg, ws), sources
    )
    logger.info("%s: evaluated %d variant(s) → %s", cfg.name, len(result.variants), files.html)
    return result, files
