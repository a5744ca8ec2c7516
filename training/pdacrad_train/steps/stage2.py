"""``stage2``: every variant × fold of Stage 2, each fold model trained on the inputs its own selection chose.

Per variant and fold: the fold's ``radiomics.json`` (which inputs, which features, which preprocessing; for
``base`` only the ROI margins) and, for the global-vector variants, the selection's ``global_vectors.json`` go into
the Stage-2 fold folder; the variant's dataset (:mod:`pdacrad_train.variants`) is planned and preprocessed once per
run with Stage 2's folds; then nnU-Net's ``run_training`` trains the fold (snapshots for ``select-checkpoint``) and its
final validation (:mod:`pdacrad_train.nnunet_run`). Each variant × fold is a unit of the run ledger.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence

from pdacrad.model.manifest import RADIOMICS_NAME
from pdacrad.model.radiomics_spec import ModelInputs, Preprocessing, RadiomicsSpec
from pdacrad.nnunet_ext.conditioning.global_vectors import GLOBAL_VECTORS_FILENAME
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.ledger import Ledger
from pdacrad_train.nnunet_run import is_validated, plan_stage, preprocess_stage, train_fold
from pdacrad_train.variants import SelectionMode, load_selection, stage2_for
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


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
    return load_selection(ws, fold if mode == "per-fold" else None).for_variant(variant)


def prepare_fold_inputs(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode
) -> StageConfig:
    """Write the fold's ``radiomics.json`` (and, for the global-vector variants, its ``global_vectors.json``) into
    the Stage-2 fold folder before training; returns the fold's stage."""
    stage = stage2_for(config, variant, fold, mode)
    folder = ws.fold_folder(stage, fold)
    folder.mkdir(parents=True, exist_ok=True)
    spec = variant_spec(config, ws, variant, fold, mode)
    spec.save(folder / RADIOMICS_NAME)
    if spec.inputs.global_vector:
        source = ws.selection_dir(fold if mode == "per-fold" else None) / GLOBAL_VECTORS_FILENAME
        shutil.copyfile(source, folder / GLOBAL_VECTORS_FILENAME)
    return stage


def _prepared_dataset(config: TrainConfig, ws: Workspace, stage: StageConfig, done: set[int]) -> None:
    """Plan and preprocess ``stage``'s dataset once per run (the map datasets get Stage 2's splits)."""
    if stage.dataset_id in done:
        return
    splits = ws.splits_file(stage)
    source = ws.splits_file(config.stage2)
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


def run_stage2(
    config: TrainConfig,
    ws: Workspace,
    ledger: Ledger,
    variants: Sequence[str],
    folds: Sequence[int],
    mode: SelectionMode,
) -> None:
    """Train every variant × fold (ledger units ``stage2:<variant>:fold<k>``), each fold's inputs written first."""
    prepared: set[int] = set()
    for variant in variants:
        for k in folds:
            stage = prepare_fold_inputs(config, ws, variant, k, mode)
            _prepared_dataset(config, ws, stage, prepared)
            folder = ws.fold_folder(stage, k)
            ledger.run(
                f"stage2:{variant}:fold{k}",
                lambda stage=stage, k=k: train_fold(stage, config.run, ws, k),
                complete=lambda folder=folder: is_validated(folder),
            )
