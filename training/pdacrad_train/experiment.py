"""``experiment``: the paper's cross-validated ablation study from one config, resumable, on one machine or many.

Steps (``--steps``, default all, in this order):

``prepare``    ``convert`` + ``splits`` (5 folds stratified by lesion size, by patient, shared by both stages)
``stage1``     Stage 1 of every fold through nnU-Net's ``run_training`` incl. its final validation
``oof``        the folds' validation predictions → ``<work_dir>/stage1_oof/<case>.nii.gz`` (out-of-fold masks)
``radiomics``  ``global-features`` on the OOF masks, ``select`` (per fold: fitted on the fold's training cases
               only; or pooled, the paper's, with its leak stated), ``maps`` (the map datasets of the +maps/+both
               variants) — skipped when only ``base`` runs
``stage2``     every variant × fold: the fold's ``radiomics.json`` (and global vectors) into the fold folder, then
               nnU-Net training (snapshots every ``picai_every`` epochs) and final validation
``select-checkpoint``  every variant × fold: each snapshot and the final checkpoint through the prediction pipeline
               on the fold's validation cases, PI-CAI score, the best copied to ``checkpoint_best_picai.pth``
               (the paper's protocol); leaves both checkpoints' CV predictions behind
``predict``    cross-validated predictions through the container's Stage-2 code (``experiment.checkpoint``; a no-op
               after ``select-checkpoint``)
``evaluate``   the ablation table (AUROC, AP, PI-CAI score, 95% bootstrap CIs, paired tests against ``base``),
               ROC/PR/FROC plots and report.html: the ``experiment.checkpoint`` table (default ``final``,
               ``<work_dir>/evaluation_final``) and beside it the other checkpoint's (``<work_dir>/evaluation``, the
               PI-CAI-selected) when its predictions are complete

Each step is a module of :mod:`pdacrad_train.steps` named after it; this module only runs them in order.

Every unit (step × variant × fold) is recorded in the run ledger (:mod:`pdacrad_train.ledger`) with its wall time
and the digests of its inputs; a rerun skips finished units whose outputs are still there and whose inputs are
unchanged, redoes exactly the units downstream of a changed input (saying which input changed), and a killed
training resumes from nnU-Net's latest checkpoint. Many machines: share the work folder and give each job its folds, e.g. ``--steps stage1 --folds 3``,
then one job runs the rest (a step that needs all folds says which are missing). Planning + preprocessing of each
nnU-Net dataset is one guarded unit (:mod:`pdacrad_train.dataset_guard`): the first job does it under a lock in
the dataset's preprocessed folder, the others wait and then skip it, so fold jobs only train.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from pdacrad.errors import InvalidInputError
from pdacrad.model.radiomics_spec import VARIANTS
from pdacrad_train.config import CHECKPOINTS, TrainConfig, with_checkpoint
from pdacrad_train.cv_prediction import is_complete
from pdacrad_train.ledger import checkpoint_unit
from pdacrad_train.parallel import MapCompute, map_compute
from pdacrad_train.radiomics_config import RadiomicsConfig
from pdacrad_train.steps.evaluate import run_evaluate
from pdacrad_train.steps.oof import collect_oof_masks
from pdacrad_train.steps.predict import run_predict
from pdacrad_train.steps.prepare import run_prepare
from pdacrad_train.steps.radiomics import run_radiomics
from pdacrad_train.steps.select_checkpoint import run_select_checkpoint
from pdacrad_train.steps.stage1 import run_stage1
from pdacrad_train.steps.stage2 import run_stage2
from pdacrad_train.units import STEPS, oof_units
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


def run_experiment(
    config: TrainConfig,
    ws: Workspace,
    rcfg: RadiomicsConfig,
    variants: Sequence[str] | None = None,
    folds: Sequence[int] | None = None,
    steps: Sequence[str] = STEPS,
    compute: MapCompute | None = None,
) -> Path | None:
    """Run ``steps`` of the study for ``variants`` × ``folds`` (defaults: the config's). The steps that compute
    maps or features (``radiomics``, ``select-checkpoint``, ``predict``) do it with ``compute`` (default:
    :func:`~pdacrad_train.parallel.map_compute` of ``config`` and ``rcfg``). Returns the HTML report of
    ``experiment.checkpoint`` when ``evaluate`` ran, else ``None``.

    Raises:
        InvalidInputError: an unknown step, variant or fold, or a step whose inputs are missing.
    """
    variants = tuple(variants or config.experiment.variants)
    folds = tuple(config.folds if folds is None else folds)
    unknown = [s for s in steps if s not in STEPS] + [v for v in variants if v not in VARIANTS]
    bad_folds = [k for k in folds if not 0 <= k < config.splits.n_folds]
    if unknown or bad_folds:
        raise InvalidInputError(
            f"experiment: unknown {unknown or ''}{' ' if unknown and bad_folds else ''}"
            f"{f'folds {bad_folds}' if bad_folds else ''}; steps {', '.join(STEPS)}; variants {', '.join(VARIANTS)}; "
            f"folds 0..{config.splits.n_folds - 1}."
        )
    ledger = ws.ledger
    mode = rcfg.selection.mode  # per-fold (default, no leakage) or pooled (the paper's)
    logger.info(
        "experiment %s: steps %s, variants %s, folds %s, %s feature selection",
        config.name, ",".join(steps), ",".join(variants), ",".join(map(str, folds)), mode,
    )  # fmt: skip
    ws.export_environment()
    if compute is None and {"radiomics", "select-checkpoint", "predict"} & set(steps):
        compute = map_compute(config, rcfg)  # resolved once; steps without maps never need the device
    if "prepare" in steps:
        run_prepare(config, ws, ledger)
    if "stage1" in steps:
        run_stage1(config, ws, ledger, folds)
    if "oof" in steps:
        (oof,) = oof_units()
        ledger.run(oof.name, lambda: collect_oof_masks(config, ws), lambda: False)
    if "radiomics" in steps:
        run_radiomics(config, ws, rcfg, ledger, variants, _given(compute))
    if "stage2" in steps:
        run_stage2(config, ws, ledger, variants, folds, mode)
    if "select-checkpoint" in steps:
        run_select_checkpoint(config, ws, ledger, variants, folds, mode, _given(compute))
    if "predict" in steps:
        run_predict(config, ws, ledger, variants, folds, mode, _given(compute))
    if "evaluate" not in steps:
        return None
    report = None
    for checkpoint in study_checkpoints(config, ws, variants, folds):
        cfg = with_checkpoint(config, checkpoint)
        _, files = ledger.run(
            checkpoint_unit("evaluate", checkpoint),
            lambda cfg=cfg: run_evaluate(cfg, ws, n_bootstrap=cfg.experiment.n_bootstrap),
            lambda: False,
        ) or (None, None)
        if checkpoint == config.experiment.checkpoint and files is not None:
            report = files.html
    return report


def _given(compute: MapCompute | None) -> MapCompute:
    """``compute``, set by :func:`run_experiment` before any step that needs it."""
    assert compute is not None, "map settings resolved before the steps that compute maps"
    return compute


def study_checkpoints(
    config: TrainConfig, ws: Workspace, variants: Sequence[str], folds: Sequence[int]
) -> tuple[str, ...]:
    """The tables ``evaluate`` writes: ``experiment.checkpoint``'s, then each other checkpoint whose CV
    predictions are complete for ``variants`` × ``folds`` (the PI-CAI-selected ones beside the final ones)."""
    others = [
        c
        for c in CHECKPOINTS
        if c != config.experiment.checkpoint
        and all(is_complete(config, ws, k, ws.fold_predictions(c, v, k)) for v in variants for k in folds)
    ]
    return (config.experiment.checkpoint, *others)
