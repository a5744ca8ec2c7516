"""``select-checkpoint``: each Stage-2 fold model's PI-CAI checkpoint selection, offline, on what inference outputs.

Per variant × fold (a ledger unit ``select-checkpoint:<variant>:fold<k>``): every candidate of the fold folder —
the trainer's snapshots ``checkpoint_epoch_<NNNN>.pth``, then ``checkpoint_final.pth``
(:mod:`pdacrad_train.checkpoint_candidates`) — predicts the fold's validation cases through the same code as the
``predict`` step (:mod:`pdacrad_train.cv_prediction`: ROI, pancreas restriction, mirroring, post-processing, from
the out-of-fold Stage-1 masks; each case's inputs, maps included, made once for every candidate) and is scored by
picai_eval as ``evaluate`` scores them: 0.5·(AUROC + AP). Then:

- ``fold_<k>/picai_selection.json``: every candidate's score, file name and sha256; the best (first on ties);
- ``fold_<k>/checkpoint_best_picai.pth``: a copy of the best candidate (the final one, with a note, when no
  candidate has a defined score, e.g. a validation fold of one class);
- predictions: a snapshot's under ``<work_dir>/checkpoint_selection/<variant>/fold_<k>/<snapshot>/``, the final
  checkpoint's directly in ``cv_predictions_final/`` (the ``predict`` step's folder for it) and the selected
  one's linked into ``cv_predictions/``, so that ``predict`` afterwards predicts nothing again.

A fold selected during training by an older pdacrad (``picai_selection.json`` without checkpoint names) is kept as
it is, with a warning saying how to reselect: overwriting it would lose that checkpoint (such folds kept no
snapshots). Resumable: a killed unit resumes per case and candidate; a candidate already scored with the same sha256 is not
predicted again; one whose file changed (retrained) or whose other inputs changed (each prediction folder records
them: :func:`~pdacrad_train.cv_prediction.prediction_inputs`) is predicted again from scratch. Cost: one case's inputs plus
one Stage-2 prediction (with mirroring) per candidate, i.e. (snapshots + 1) × the ``predict`` step's network time. Runs wherever the work folder is shared (it
needs the model folders, the cohort and ``stage1_oof/``), on the config's ``run.device``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from pdacrad.io.atomic import atomic_write_json
from pdacrad.model.manifest import sha256_file
from pdacrad.nnunet_ext.checkpoint_selection import (
    BEST_PICAI_CHECKPOINT,
    FINAL_CHECKPOINT,
    SELECTION_LOG,
    PicaiScore,
    SelectionState,
    load_selection_state,
    save_selection_state,
)
from pdacrad_train.checkpoint_candidates import fold_candidates, score_predictions
from pdacrad_train.config import TrainConfig
from pdacrad_train.cv_prediction import (
    discard_stale_predictions,
    is_complete,
    predict_validation_cases,
    prediction_inputs,
    prediction_record,
    validation_cases,
)
from pdacrad_train.ledger import Ledger
from pdacrad_train.parallel import MapCompute
from pdacrad_train.units import select_checkpoint_units
from pdacrad_train.variants import SelectionMode, stage2_for
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


def candidate_predictions(ws: Workspace, variant: str, fold: int, checkpoint: str) -> Path:
    """Where ``checkpoint``'s predictions of the fold go: ``cv_predictions_final/…`` for the final checkpoint (the
    ``predict`` step's folder for it), else ``checkpoint_selection/<variant>/fold_<k>/<snapshot>``."""
    if checkpoint == FINAL_CHECKPOINT:
        return ws.fold_predictions("final", variant, fold)
    return ws.snapshot_predictions(variant, fold, checkpoint)


def _recorded_score(entry: dict) -> PicaiScore:
    """The :class:`PicaiScore` of a ``picai_selection.json`` history entry (null = NaN)."""

    def number(key: str) -> float:
        return math.nan if entry.get(key) is None else float(entry[key])

    return PicaiScore(
        number("auroc"), number("ap"), number("score"), int(entry["num_cases"]), int(entry["num_positive"])
    )


def select_fold(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode, compute: MapCompute
) -> SelectionState:
    """Predict the fold's validation cases with every candidate not yet scored on its current file (each case's
    inputs made once for all of them), score every candidate, write ``picai_selection.json``, then copy the best to
    ``checkpoint_best_picai.pth`` and link its predictions into ``cv_predictions/``."""
    folder = ws.fold_folder(stage2_for(config, variant, fold, mode), fold)
    previous = load_selection_state(folder)
    if is_legacy_selection(folder):
        logger.warning(
            "%s fold %d: kept the selection made during training by an older pdacrad (%s without checkpoint names; "
            "it scored preprocessed crops without the pancreas restriction and mirroring). To select as inference "
            "predicts, move %s and %s aside and rerun (that fold kept no snapshots: only the final checkpoint "
            "would be a candidate).",
            variant, fold, SELECTION_LOG, SELECTION_LOG, BEST_PICAI_CHECKPOINT,
        )  # fmt: skip
        return previous
    scored = {h.get("checkpoint"): h for _, h in previous.history if h.get("sha256")}
    candidates = fold_candidates(folder)
    digests = {c.name: sha256_file(folder / c.name) for c in candidates}
    outs = {c.name: candidate_predictions(ws, variant, fold, c.name) for c in candidates}
    for name, out in outs.items():  # predictions from other inputs (a new Stage-1 mask, ...) are deleted
        discard_stale_predictions(
            out, prediction_inputs(config, ws, variant, fold, mode, name, digests[name])
        )
    reusable = set()
    for name, out in outs.items():
        entry = scored.get(name)
        if entry is not None and entry["sha256"] != digests[name] and out.exists():
            logger.info("%s changed since it was scored: predicting it again", name)
            shutil.rmtree(out)
        elif entry is not None and entry["sha256"] == digests[name] and is_complete(config, ws, fold, out):
            reusable.add(name)
    predict_validation_cases(
        config, ws, variant, fold, mode, {n: out for n, out in outs.items() if n not in reusable}, compute
    )
    cases, labels = validation_cases(config, ws, fold), ws.cohort / "labelsTr"
    state = SelectionState(None, None, ())
    for candidate in candidates:
        name = candidate.name
        result = (
            _recorded_score(scored[name])
            if name in reusable
            else score_predictions(outs[name], cases, labels)
        )
        state = state.record(candidate.epoch, result, checkpoint=name, sha256=digests[name])
        logger.info(
            "%s fold %d, %s: PI-CAI score %.4f (AUROC %.4f, AP %.4f, %d/%d positive)",
            variant, fold, name, result.score, result.auroc, result.ap, result.num_positive, result.num_cases,
        )  # fmt: skip
    chosen, note = state.best_checkpoint, None
    if chosen is None:
        chosen, note = FINAL_CHECKPOINT, "no candidate has a defined score: the final checkpoint stands in"
        logger.warning("%s fold %d: %s", variant, fold, note)
    save_selection_state(folder, state, note)
    _copy_if_changed(folder / chosen, folder / BEST_PICAI_CHECKPOINT)
    selected = ws.fold_predictions("picai", variant, fold)
    _link_tree(outs[chosen], selected)
    # checkpoint_best_picai.pth is a copy of the chosen file: the same inputs
    atomic_write_json(json.loads(prediction_record(outs[chosen]).read_text()), prediction_record(selected))
    return state


def is_legacy_selection(folder: Path) -> bool:
    """Whether ``folder`` holds a PI-CAI selection made during training by pdacrad before selection moved offline:
    a ``checkpoint_best_picai.pth`` and a history whose entries name no checkpoint file."""
    history = load_selection_state(folder).history
    return (folder / BEST_PICAI_CHECKPOINT).is_file() and any("checkpoint" not in h for _, h in history)


def _copy_if_changed(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` (temp file + rename: nnU-Net rewrites checkpoints in place, so no hard link)
    unless ``target`` already has the same bytes."""
    if target.is_file() and sha256_file(target) == sha256_file(source):
        return
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def _link_tree(source: Path, target: Path) -> None:
    """Replace ``target`` by a tree of hard links to ``source``'s files (copies across file systems); our
    prediction files are written by rename, never in place, so the links cannot change under each other."""
    if target.exists():
        shutil.rmtree(target)
    for path in sorted(source.rglob("*")):
        if path.is_file():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, dest)
            except OSError:
                shutil.copy2(path, dest)


def is_selected(config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode) -> bool:
    """Whether the fold's selection covers every current candidate by name, its ``checkpoint_best_picai.pth``
    exists and the selected checkpoint's predictions are complete in ``cv_predictions/``."""
    folder = ws.fold_folder(stage2_for(config, variant, fold, mode), fold)
    if not ((folder / SELECTION_LOG).is_file() and (folder / BEST_PICAI_CHECKPOINT).is_file()):
        return False
    if is_legacy_selection(folder):
        return True
    recorded = [h.get("checkpoint") for _, h in load_selection_state(folder).history]
    return recorded == [c.name for c in fold_candidates(folder)] and is_complete(
        config, ws, fold, ws.fold_predictions("picai", variant, fold)
    )


def run_select_checkpoint(
    config: TrainConfig,
    ws: Workspace,
    ledger: Ledger,
    variants: Sequence[str],
    folds: Sequence[int],
    mode: SelectionMode,
    compute: MapCompute,
) -> None:
    """The experiment's ``select-checkpoint`` step: every variant × fold, each a ledger unit whose inputs are
    those of the final checkpoint's predictions (:func:`~pdacrad_train.cv_prediction.prediction_inputs`: a
    retrained fold, new out-of-fold masks or another ``radiomics.json`` select again); maps on ``compute``'s
    cluster."""
    for unit in select_checkpoint_units(config, variants, folds, mode):
        assert unit.variant is not None and unit.fold is not None
        variant, k = unit.variant, unit.fold
        ledger.run(
            unit.name,
            functools.partial(select_fold, config, ws, variant, k, mode, compute),
            complete=functools.partial(is_selected, config, ws, variant, k, mode),
            inputs=functools.partial(prediction_inputs, config, ws, variant, k, mode, FINAL_CHECKPOINT),
        )
