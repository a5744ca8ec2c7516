"""``experiment``: the paper's cross-validated ablation study from one config, resumable, on one machine or many.

Steps (``--steps``, default all, in this order):

``prepare``    ``convert`` + ``splits`` (5 folds stratified by lesion size, shared by both stages)
``stage1``     Stage 1 of every fold through nnU-Net's ``run_training`` incl. its final validation
``oof``        the folds' validation predictions → ``<work_dir>/stage1_oof/<case>.nii.gz`` (out-of-fold masks)
``radiomics``  ``global-features`` on the OOF masks, ``select`` (per fold: fitted on the fold's training cases
               only; or pooled, the paper's, with its leak stated), ``maps`` (the map datasets of the +maps/+both
               variants) — skipped when only ``base`` runs
``stage2``     every variant × fold: the fold's ``radiomics.json`` (and global vectors) into the fold folder, then
               nnU-Net training with PI-CAI checkpoint selection and final validation
``predict``    cross-validated predictions through the container's Stage-2 code (:mod:`pdacrad_train.steps.predict`)
``evaluate``   the ablation table (AUROC, AP, PI-CAI score, 95% bootstrap CIs, paired tests against ``base``),
               ROC/PR/FROC plots and report.html in ``<work_dir>/evaluation``

Every unit (step × variant × fold) is recorded in the run ledger (:mod:`pdacrad_train.ledger`) with its wall time;
a rerun skips finished units whose outputs are still there, and a killed training resumes from nnU-Net's latest
checkpoint. Many machines: share the work folder and give each job its folds, e.g. ``--steps stage1 --folds 3``,
then one job runs the rest (a step that needs all folds says which are missing).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from pdacrad.errors import InvalidInputError
from pdacrad.nnunet_ext.global_vectors import GLOBAL_VECTORS_FILENAME
from pdacrad.radiomics_spec import ModelInputs, Preprocessing, RadiomicsSpec
from pdacrad.resources import RADIOMICS_NAME
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.ledger import Ledger
from pdacrad_train.nnunet_run import fold_folder, is_validated, plan_stage, preprocess_stage, train_fold
from pdacrad_train.radiomics_config import RadiomicsConfig
from pdacrad_train.variants import SelectionMode, maps_dataset, stage2_for
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

STEPS: tuple[str, ...] = ("prepare", "stage1", "oof", "radiomics", "stage2", "predict", "evaluate")


def ledger_of(ws: Workspace) -> Ledger:
    """The experiment's run ledger, ``<work_dir>/experiment/ledger``."""
    return Ledger(ws.root / "experiment" / "ledger")


def selection_mode(rcfg: RadiomicsConfig) -> SelectionMode:
    """Per-fold (default, no leakage) or pooled (the paper's) feature selection."""
    return rcfg.selection.mode


def variant_spec(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode
) -> RadiomicsSpec:
    """The ``radiomics.json`` of ``variant``'s fold-``fold`` model: the fold's (or pooled) selection with the
    variant's inputs; for ``base`` no features, only the preprocessing (ROI margins) the model is trained with."""
    inputs = ModelInputs.of_variant(variant)
    if not (inputs.maps or inputs.global_vector):
        return RadiomicsSpec(
            params={},
            global_features=(),
            mean=(),
            std=(),
            inputs=inputs,
            preprocessing=Preprocessing(roi_margins_mm_xyz=config.stage2.margins_mm_xyz),
        )
    from pdacrad_train.steps.radiomics.select import load_selection

    return load_selection(ws, fold if mode == "per-fold" else None).for_variant(variant)


def prepare_fold_inputs(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode
) -> StageConfig:
    """Write the fold's ``radiomics.json`` (and, for the global-vector variants, its ``global_vectors.json``) into
    the Stage-2 fold folder before training; returns the fold's stage."""
    from pdacrad_train.steps.radiomics.select import selection_dir

    stage = stage2_for(config, variant, fold, mode)
    folder = fold_folder(stage, ws, fold)
    folder.mkdir(parents=True, exist_ok=True)
    spec = variant_spec(config, ws, variant, fold, mode)
    spec.save(folder / RADIOMICS_NAME)
    if spec.inputs.global_vector:
        source = selection_dir(ws, fold if mode == "per-fold" else None) / GLOBAL_VECTORS_FILENAME
        shutil.copyfile(source, folder / GLOBAL_VECTORS_FILENAME)
    return stage


def _prepared_dataset(config: TrainConfig, ws: Workspace, stage: StageConfig, done: set[int]) -> None:
    """Plan and preprocess ``stage``'s dataset once per run (the map datasets get Stage 2's splits)."""
    if stage.dataset_id in done:
        return
    splits = ws.preprocessed_dataset(stage) / "splits_final.json"
    source = ws.preprocessed_dataset(config.stage2) / "splits_final.json"
    if stage.dataset_id != config.stage2.dataset_id and (
        not splits.is_file() or splits.read_bytes() != source.read_bytes()
    ):
        if splits.is_file():
            logger.warning(
                "dataset %d: its folds differ from Stage 2's (splits rerun?); copied Stage 2's. Models trained "
                "on the old folds are stale: delete their fold folders and rerun stage2.",
                stage.dataset_id,
            )
        splits.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, splits)
    plan_stage(stage, config.run, ws)
    preprocess_stage(stage, config.run, ws)
    done.add(stage.dataset_id)


def run_prepare(config: TrainConfig, ws: Workspace, ledger: Ledger) -> None:
    from pdacrad_train.splits import write_splits
    from pdacrad_train.steps.prepare import convert

    ledger.run("prepare:convert", lambda: convert(config, ws), complete=ws.cases_table.is_file)
    ledger.run(
        "prepare:splits",
        lambda: write_splits(config, ws),
        complete=(ws.preprocessed_dataset(config.stage2) / "splits_final.json").is_file,
    )


def run_stage1(config: TrainConfig, ws: Workspace, ledger: Ledger, folds: Sequence[int]) -> None:
    plan_stage(config.stage1, config.run, ws)
    preprocess_stage(config.stage1, config.run, ws)
    for k in folds:
        folder = fold_folder(config.stage1, ws, k)
        ledger.run(
            f"stage1:fold{k}",
            lambda k=k: train_fold(config.stage1, config.run, ws, k),
            complete=lambda folder=folder: is_validated(folder),
        )


def run_radiomics(
    config: TrainConfig, ws: Workspace, rcfg: RadiomicsConfig, ledger: Ledger, variants: Sequence[str]
) -> None:
    """Global features of the OOF masks, feature selection, and the map datasets the variants need."""
    from pdacrad_train.steps.radiomics.global_features import run_global_features
    from pdacrad_train.steps.radiomics.maps import materialise_map_dataset
    from pdacrad_train.steps.radiomics.select import load_selection, run_select

    needs = [ModelInputs.of_variant(v) for v in variants]
    if not any(i.maps or i.global_vector for i in needs):
        logger.info("radiomics: only the base variant runs, nothing to compute")
        return
    allow_gt = config.experiment.allow_gt_masks
    # both are cheap to rerun: their own caches skip what is unchanged
    ledger.run(
        "radiomics:global-features",
        lambda: run_global_features(ws, rcfg, allow_gt_masks=allow_gt),
        lambda: False,
    )
    ledger.run("radiomics:select", lambda: run_select(config, ws, rcfg), lambda: False)
    if not any(i.maps for i in needs):
        return
    mode = selection_mode(rcfg)
    selections = [None] if mode == "pooled" else list(config.folds)
    for fold in selections:
        target = maps_dataset(config, mode, fold)
        spec = load_selection(ws, fold)
        ledger.run(
            f"radiomics:maps:{target.dataset_folder_name}",
            lambda spec=spec, target=target: materialise_map_dataset(
                config, ws, spec, target, allow_gt_masks=allow_gt
            ),
            lambda: False,
        )


def run_stage2(
    config: TrainConfig,
    ws: Workspace,
    ledger: Ledger,
    variants: Sequence[str],
    folds: Sequence[int],
    mode: SelectionMode,
) -> None:
    prepared: set[int] = set()
    for variant in variants:
        for k in folds:
            stage = prepare_fold_inputs(config, ws, variant, k, mode)
            _prepared_dataset(config, ws, stage, prepared)
            folder = fold_folder(stage, ws, k)
            ledger.run(
                f"stage2:{variant}:fold{k}",
                lambda stage=stage, k=k: train_fold(stage, config.run, ws, k),
                complete=lambda folder=folder: is_validated(folder),
            )


def _unit(step: str, config: TrainConfig) -> str:
    """The ledger unit of a checkpoint-dependent step: ``step`` for the PI-CAI-selected checkpoints,
    ``step-<checkpoint>`` otherwise (so both sets of predictions and evaluations are tracked apart)."""
    checkpoint = config.experiment.checkpoint
    return step if checkpoint == "picai" else f"{step}-{checkpoint}"


def run_predict(
    config: TrainConfig,
    ws: Workspace,
    ledger: Ledger,
    variants: Sequence[str],
    folds: Sequence[int],
    mode: SelectionMode,
) -> None:
    from pdacrad_train.steps.predict import is_predicted, predict_fold

    step = _unit("predict", config)
    for variant in variants:
        for k in folds:
            ledger.run(
                f"{step}:{variant}:fold{k}",
                lambda variant=variant, k=k: predict_fold(config, ws, variant, k, mode),
                complete=lambda variant=variant, k=k: is_predicted(config, ws, variant, k),
            )


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
    from pdacrad.radiomics_spec import VARIANTS

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
    ledger = ledger_of(ws)
    mode = selection_mode(rcfg)
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
        from pdacrad_train.steps.oof import collect_oof_masks

        ledger.run("stage1:oof", lambda: collect_oof_masks(config, ws), lambda: False)
    if "radiomics" in steps:
        run_radiomics(config, ws, rcfg, ledger, variants)
    if "stage2" in steps:
        run_stage2(config, ws, ledger, variants, folds, mode)
    if "predict" in steps:
        run_predict(config, ws, ledger, variants, folds, mode)
    if "evaluate" not in steps:
        return None
    from pdacrad_train.steps.evaluate import run_evaluate

    _, files = ledger.run(
        _unit("evaluate", config),
        lambda: run_evaluate(config, ws, n_bootstrap=config.experiment.n_bootstrap),
        lambda: False,
    ) or (None, None)
    return files.html if files is not None else None
