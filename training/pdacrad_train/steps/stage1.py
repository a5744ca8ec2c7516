"""``stage1``: Stage 1 of every fold through nnU-Net's ``run_training``, incl. its final validation.

The final validation of fold k writes ``fold_k/validation/<case>.nii.gz`` for fold k's validation cases, from which
the ``oof`` step (:mod:`pdacrad_train.steps.oof`) takes the out-of-fold masks. Planning, preprocessing and training
are :mod:`pdacrad_train.nnunet_run`'s (planning + preprocessing one guarded unit per dataset, so that fold jobs on
several machines sharing the work folder only train); each fold is a unit of the run ledger, done when its final
checkpoint and validation exist and its inputs (plans, preprocessed data, the fold's cases:
:func:`~pdacrad_train.nnunet_run.training_inputs`) are those it was trained from — otherwise its old folder is
moved aside and it trains afresh.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from pdacrad_train.config import TrainConfig
from pdacrad_train.ledger import Ledger
from pdacrad_train.nnunet_run import is_validated, prepare_stage, set_aside_fold, train_fold, training_inputs
from pdacrad_train.units import stage1_units
from pdacrad_train.workspace import Workspace


def run_stage1(config: TrainConfig, ws: Workspace, ledger: Ledger, folds: Sequence[int]) -> None:
    """Plan and preprocess Stage 1's dataset (one guarded unit: concurrent fold jobs wait for it, then skip it),
    then train and validate each of ``folds`` (ledger units ``stage1:fold<k>``)."""
    prepare_stage(config.stage1, config.run, ws)
    for unit in stage1_units(config, folds):
        if not unit.ledger:  # the dataset's preparation: prepare_stage above
            continue
        assert unit.fold is not None
        k = unit.fold
        ledger.run(
            unit.name,
            functools.partial(train_fold, config.stage1, config.run, ws, k),
            complete=functools.partial(is_validated, ws.fold_folder(config.stage1, k)),
            inputs=functools.partial(training_inputs, config.stage1, ws, k),
            reset=functools.partial(set_aside_fold, ws, config.stage1, k),
        )
