"""``experiment``: the paper's cross-validated ablation study from one config, resumable, on one machine or many.

Steps (``--steps``, default all, in this order):

``prepare``    ``convert`` + ``splits`` (5 folds stratified by lesion size, by patient, shared by both stages)
``stage1``     Stage 1 of every fold through nnU-Net's ``run_training`` incl. its final validation
``oof``        the folds' validation predictions → ``<work_dir>/stage1_oof/<case>.nii.gz`` (out-of-fold masks)
``radiomics``  ``global-features`` on the OOF masks, ``select`` (per fold: fitted on the fold's training cases
               only; or pooled, the paper's, with its leak stated), ``maps`` (the map datasets of the +maps/+both
               variants) — skipped when only ``base`` runs
``stage2``     every variant × fold: the fold's ``radiomics.json`` (and global vectors) into the fold folder, then
               nnU-Net training with PI-CAI checkpoint selection and final validation
``predict``    cross-validated predictions through the container's Stage-2 code
``evaluate``   the ablation table (AUROC, AP, PI-CAI score, 95% bootstrap CIs, paired tests against ``base``),
               ROC/PR/FROC plots and report.html in ``<work_dir>/evaluation``

Each step is a module of :mod:`pdacrad_train.steps` named after it; this module only runs them in order.

Every unit (step × variant × fold) is recorded in the run ledger (:mod:`pdacrad_train.ledger`) with its wall time;
a rerun skips finished units whose outputs are still there, and a killed training resumes from nnU-Net's latest
checkpoint. Many machines: share the work folder and give each job its folds, e.g. ``--steps stage1 --folds 3``,
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
from pdacrad_train.config import TrainConfig
from pdacrad_train.ledger import checkpoint_unit
from pdacrad_train.radiomics_config import RadiomicsConfig
from pdacrad_train.steps.evaluate import run_evaluate
from pdacrad_train.steps.oof import collect_oof_masks
from pdacrad_train.steps.predict import run_predict
from pdacrad_train.steps.prepare import run_prepare
from pdacrad_train.steps.radiomics import run_radiomics
from pdacrad_train.steps.stage1 import run_stage1
from pdacrad_train.steps.stage2 import run_stage2
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("prepare", "stage1", "oof", "radiomics", "stage2", "predict", "evaluate")


def run_experiment(
    config: TrainConfig,
    ws: Workspace,
    rcfg: RadiomicsConfig,
    variants: Sequence[str] | None = None,
    folds: Sequence[int] | None = None,
    steps: Sequence[str] = STEPS,
) -> Path | None:
    """Run ``steps`` of the study for ``variants`` × ``folds`` (defaults: the config's). Returns the HTML report
    when ``evaluate`` ran, else ``None``.

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
    if "prepare" in steps:
        run_prepare(config, ws, ledger)
    if "stage1" in steps:
        run_stage1(config, ws, ledger, folds)
    if "oof" in steps:
        ledger.run("stage1:oof", lambda: collect_oof_masks(config, ws), lambda: False)
    if "radiomics" in steps:
        run_radiomics(config, ws, rcfg, ledger, variants)
    if "stage2" in steps:
        run_stage2(config, ws, ledger, variants, folds, mode)
    if "predict" in steps:
        run_predict(config, ws, ledger, variants, folds, mode)
    if "evaluate" not in steps:
        return None
    _, files = ledger.run(
        checkpoint_unit("evaluate", config.experiment.checkpoint),
        lambda: run_evaluate(config, ws, n_bootstrap=config.experiment.n_bootstrap),
        lambda: False,
    ) or (None, None)
    return files.html if files is not None else None
