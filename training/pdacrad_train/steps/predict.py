"""``predict``: cross-validated predictions, each Stage-2 fold model predicting the cases it was validated on,
through the code the container runs (:mod:`pdacrad_train.cv_prediction`: ROI, pancreas restriction, radiomics
inputs, mirroring, post-processing, as ``process.py`` after its Stage 1). Outputs in :mod:`pdacrad.io.predictions`'s
layout::

    <work_dir>/cv_predictions_final/<variant>/fold_<k>/<case>/detection_map.mha, likelihood.json

with each fold's final checkpoint (``experiment.checkpoint: final``, the default), or under ``cv_predictions/`` with
its PI-CAI-selected ``checkpoint_best_picai.pth`` (``picai``, written by ``select-checkpoint``).

Nothing is predicted twice: ``select-checkpoint`` runs before this step and already writes the final checkpoint's
predictions into ``cv_predictions_final/`` and the selected checkpoint's into ``cv_predictions/`` (same code, same
file), so here every finished case is skipped and the model is not even loaded. A killed run resumes per case; a
folder predicted from other inputs (its record in ``.pdacrad_inputs/`` beside it: checkpoint, ``radiomics.json``,
out-of-fold masks) is predicted again.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from pdacrad_train.config import TrainConfig
from pdacrad_train.cv_prediction import (
    CHECKPOINT_FILES,
    is_complete,
    predict_validation_cases,
    prediction_inputs,
)
from pdacrad_train.ledger import Ledger
from pdacrad_train.parallel import MapCompute
from pdacrad_train.units import predict_units
from pdacrad_train.variants import SelectionMode
from pdacrad_train.workspace import Workspace


def fold_predictions(config: TrainConfig, ws: Workspace, variant: str, fold: int) -> Path:
    """``<work_dir>/cv_predictions[_final]/<variant>/fold_<k>`` (``experiment.checkpoint``)."""
    return ws.fold_predictions(config.experiment.checkpoint, variant, fold)


def is_predicted(config: TrainConfig, ws: Workspace, variant: str, fold: int) -> bool:
    """Whether every validation case of the fold has both outputs."""
    return is_complete(config, ws, fold, fold_predictions(config, ws, variant, fold))


def predict_fold(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode, compute: MapCompute
) -> Path:
    """Predict fold ``fold``'s validation cases with that fold's ``variant`` model, from the checkpoint of
    ``experiment.checkpoint`` and no other (a missing one is an error, never a fallback), maps on ``compute``'s
    cluster; returns the output folder."""
    out = fold_predictions(config, ws, variant, fold)
    checkpoint = CHECKPOINT_FILES[config.experiment.checkpoint]
    predict_validation_cases(config, ws, variant, fold, mode, {checkpoint: out}, compute)
    return out


def run_predict(
    config: TrainConfig,
    ws: Workspace,
    ledger: Ledger,
    variants: Sequence[str],
    folds: Sequence[int],
    mode: SelectionMode,
    compute: MapCompute,
) -> None:
    """The experiment's ``predict`` step: every variant × fold, each a ledger unit (``predict-final:…`` for the
    final checkpoints, ``predict:…`` for the selected ones), maps on ``compute``'s cluster, redone when the inputs
    of its predictions changed (:func:`~pdacrad_train.cv_prediction.prediction_inputs`)."""
    checkpoint = CHECKPOINT_FILES[config.experiment.checkpoint]
    for unit in predict_units(config, variants, folds, mode):
        assert unit.variant is not None and unit.fold is not None
        ledger.run(
            unit.name,
            functools.partial(predict_fold, config, ws, unit.variant, unit.fold, mode, compute),
            complete=functools.partial(is_predicted, config, ws, unit.variant, unit.fold),
            inputs=functools.partial(
                prediction_inputs, config, ws, unit.variant, unit.fold, mode, checkpoint
            ),
        )
