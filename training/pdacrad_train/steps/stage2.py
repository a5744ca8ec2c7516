"""``stage2``: every variant × fold of Stage 2, each fold model trained on the inputs its own selection chose.

Per variant and fold: the fold's ``radiomics.json`` (which inputs, which features, which preprocessing; for the
map variants the ``map_scaler`` the map dataset's channels were normalised with; for ``base`` only the ROI
margins) and, for the global-vector variants, the selection's ``global_vectors.json`` go into
the Stage-2 fold folder; the variant's dataset (:mod:`pdacrad_train.variants`) is planned and preprocessed once per
run with Stage 2's folds (a map dataset's plans normalise its already scaled map channels with ``NoNormalization``);
then nnU-Net's ``run_training`` trains the fold (snapshots for ``select-checkpoint``) and its
final validation (:mod:`pdacrad_train.nnunet_run`). Each variant × fold is a unit of the run ledger whose inputs
(:func:`fold_inputs`: plans, preprocessed data, folds, ``radiomics.json``, global vectors, map channels, out-of-fold
masks) are recorded: a fold whose inputs changed since it trained (a retrained Stage-1 fold, another selection) is
moved aside and trained afresh; its ``radiomics.json`` is never rewritten under a trained model.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from pdacrad.errors import InvalidInputError
from pdacrad.model.manifest import RADIOMICS_NAME
from pdacrad.model.map_scaler import with_fixed_map_normalisation
from pdacrad.model.radiomics_spec import ModelInputs, Preprocessing, RadiomicsSpec
from pdacrad.nnunet_ext.conditioning.global_vectors import GLOBAL_VECTORS_FILENAME
from pdacrad_train.cases import training_cases
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.input_digests import MISSING, file_digest, json_digest, json_field_digest, oof_masks_digest
from pdacrad_train.ledger import Ledger
from pdacrad_train.map_scaling import MAPS_MANIFEST, dataset_spec
from pdacrad_train.nnunet_run import (
    CONFIGURATION,
    is_validated,
    prepare_stage,
    set_aside_fold,
    train_fold,
    training_inputs,
)
from pdacrad_train.units import stage2_units
from pdacrad_train.variants import SelectionMode, load_selection, maps_dataset, stage2_for
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


def variant_spec(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode
) -> RadiomicsSpec:
    """The ``radiomics.json`` of ``variant``'s fold-``fold`` model: the fold's (or pooled) selection with the
    variant's inputs, and for the map variants the ``map_scaler`` its map dataset was made with; for ``base`` no
    features, only the preprocessing (ROI margins) the model is trained with.

    Raises:
        InvalidInputError: the map dataset was made for another selection (or before its record existed).
    """
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
    spec = load_selection(ws, fold if mode == "per-fold" else None).for_variant(variant)
    if not inputs.maps:
        return spec
    raw = ws.raw_dataset(maps_dataset(config, mode, fold))
    made = dataset_spec(raw)
    if made is None or (made.map_features, made.map_params, made.preprocessing) != (
        spec.map_features,
        spec.map_params,
        spec.preprocessing,
    ):
        raise InvalidInputError(
            f"{raw / MAPS_MANIFEST}: the map dataset was not made for the current selection (select ran again, "
            "or the dataset predates normalised maps): run `pdacrad-train maps` (or the experiment's radiomics "
            "step) again."
        )
    return dataclasses.replace(spec, map_scaler=made.map_scaler)


def prepare_fold_inputs(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode, spec: RadiomicsSpec
) -> Path:
    """Write the fold's ``radiomics.json`` (``spec``) and, for the global-vector variants, its
    ``global_vectors.json`` into the Stage-2 fold folder before training; returns the fold folder.

    Raises:
        InvalidInputError: the fold already holds checkpoints trained with other files (the ``stage2`` step moves
            such a fold aside first, when its ledger entry says what it was trained from).
    """
    folder = ws.fold_folder(stage2_for(config, variant, fold, mode), fold)
    vectors = ws.selection_dir(fold if mode == "per-fold" else None) / GLOBAL_VECTORS_FILENAME
    wanted = {RADIOMICS_NAME: json_digest(spec.to_dict())}
    if spec.inputs.global_vector:
        wanted[GLOBAL_VECTORS_FILENAME] = file_digest(vectors)
    have = {RADIOMICS_NAME: _json_file_digest(folder / RADIOMICS_NAME)}
    have[GLOBAL_VECTORS_FILENAME] = file_digest(folder / GLOBAL_VECTORS_FILENAME)
    differ = [name for name, digest in wanted.items() if have[name] != digest]
    if differ and any(folder.glob("checkpoint_*.pth")):
        raise InvalidInputError(
            f"{folder} was trained with another {' and '.join(differ)} than the selection now gives: move the "
            "fold folder aside (or delete it) to train it afresh, or rerun `pdacrad-train experiment --steps "
            "stage2`, which does so when the run ledger records what the fold was trained from."
        )
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(folder / RADIOMICS_NAME)
    if spec.inputs.global_vector:
        shutil.copyfile(vectors, folder / GLOBAL_VECTORS_FILENAME)
    return folder


def _json_file_digest(path: Path) -> str:
    """:func:`~pdacrad_train.input_digests.json_digest` of a JSON file's content (:data:`MISSING` without it)."""
    return json_digest(json.loads(path.read_text())) if path.is_file() else MISSING


def fold_inputs(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode, spec: RadiomicsSpec
) -> dict[str, str]:
    """The digests of what ``variant``'s fold ``fold`` is trained from (:mod:`pdacrad_train.input_digests`):
    nnU-Net's plans, preprocessed data and the fold's cases; its ``radiomics.json`` (selection, scaler, map
    scaler, preprocessing); for the global-vector variants the selection's ``global_vectors.json``; for the map
    variants the map dataset's channels (``pdacrad_maps.json``); for both the out-of-fold masks of every case
    (the maps and vectors of training and validation cases are made from them)."""
    stage = stage2_for(config, variant, fold, mode)
    found = {**training_inputs(stage, ws, fold), RADIOMICS_NAME: json_digest(spec.to_dict())}
    selection = ws.selection_dir(fold if mode == "per-fold" else None)
    if spec.inputs.global_vector:
        found[GLOBAL_VECTORS_FILENAME] = file_digest(selection / GLOBAL_VECTORS_FILENAME)
    if spec.inputs.maps:
        found["maps"] = json_field_digest(ws.raw_dataset(stage) / MAPS_MANIFEST, "digest")
    if spec.inputs.maps or spec.inputs.global_vector:
        found["oof_masks"] = oof_masks_digest(ws.stage1_oof, training_cases(ws)["case"])
    return found


def _train(
    config: TrainConfig, ws: Workspace, variant: str, fold: int, mode: SelectionMode, spec: RadiomicsSpec
) -> Path:
    """One ledger unit of Stage 2: the fold's input files, then its training and final validation."""
    prepare_fold_inputs(config, ws, variant, fold, mode, spec)
    return train_fold(stage2_for(config, variant, fold, mode), config.run, ws, fold)


def fix_map_normalisation(ws: Workspace, stage: StageConfig, spec: RadiomicsSpec) -> None:
    """For a dataset of map channels scaled by ``spec.map_scaler``: its plans normalise channels 1..N with
    ``NoNormalization`` (rewritten in place when planning chose otherwise, e.g. a per-case z-score for a channel
    named after a feature), so that nnU-Net's preprocessing and predictor pass them on as they are."""
    if not (spec.inputs.maps and spec.map_scaler is not None):
        return
    plans_file = ws.preprocessed_dataset(stage) / f"{stage.plans_name}.json"
    plans = json.loads(plans_file.read_text())
    fixed = with_fixed_map_normalisation(plans, len(spec.map_features))
    if fixed != plans:
        plans_file.write_text(json.dumps(fixed, indent=2))
        logger.info(
            "%s: map channels 1..%d normalised by radiomics.json's map_scaler: plans say %s",
            stage.dataset_folder_name,
            len(spec.map_features),
            fixed["configurations"][CONFIGURATION]["normalization_schemes"][1:],
        )


def _prepared_dataset(
    config: TrainConfig, ws: Workspace, stage: StageConfig, done: set[int], spec: RadiomicsSpec | None = None
) -> None:
    """Plan and preprocess ``stage``'s dataset once per run (the map datasets get Stage 2's splits, and plans
    that leave the map channels scaled by ``spec.map_scaler`` as they are), as one guarded unit with the splits
    copy and the plans fix (:func:`~pdacrad_train.nnunet_run.prepare_stage`)."""
    if stage.dataset_id in done:
        return
    prepare_stage(
        stage,
        config.run,
        ws,
        setup=lambda: _copy_stage2_splits(config, ws, stage),
        after_planning=None if spec is None else lambda: fix_map_normalisation(ws, stage, spec),
    )
    done.add(stage.dataset_id)


def _copy_stage2_splits(config: TrainConfig, ws: Workspace, stage: StageConfig) -> None:
    """Give a map dataset Stage 2's folds (a copy of its ``splits_final.json``) when they differ."""
    splits = ws.splits_file(stage)
    source = ws.splits_file(config.stage2)
    if stage.dataset_id == config.stage2.dataset_id or (
        splits.is_file() and splits.read_bytes() == source.read_bytes()
    ):
        return
    if splits.is_file():
        logger.warning(
            "dataset %d: its folds differ from Stage 2's (splits rerun?); copied Stage 2's. Models trained "
            "on the old folds are stale: the stage2 step trains them afresh (the folds are one of their inputs).",
            stage.dataset_id,
        )
    splits.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, splits)


def run_stage2(
    config: TrainConfig,
    ws: Workspace,
    ledger: Ledger,
    variants: Sequence[str],
    folds: Sequence[int],
    mode: SelectionMode,
) -> None:
    """Train every variant × fold (ledger units ``stage2:<variant>:fold<k>``, inputs :func:`fold_inputs`; a fold
    whose inputs changed is moved aside and trained afresh), each fold's input files written first."""
    prepared: set[int] = set()
    for unit in stage2_units(config, variants, folds, mode):
        if not unit.ledger:  # a dataset's preparation: _prepared_dataset below
            continue
        assert unit.variant is not None and unit.fold is not None
        variant, k = unit.variant, unit.fold
        stage = stage2_for(config, variant, k, mode)
        spec = variant_spec(config, ws, variant, k, mode)
        _prepared_dataset(config, ws, stage, prepared, spec)
        ledger.run(
            unit.name,
            functools.partial(_train, config, ws, variant, k, mode, spec),
            complete=functools.partial(is_validated, ws.fold_folder(stage, k)),
            inputs=functools.partial(fold_inputs, config, ws, variant, k, mode, spec),
            reset=functools.partial(set_aside_fold, ws, stage, k),
        )
