"""The four Stage-2 variants of the ablation study as nnU-Net datasets and trainers.

=========  ======================  ==========================  ==========================================
variant    input channels          network                     nnU-Net dataset
=========  ======================  ==========================  ==========================================
base       CT                      plain (``plain_trainer``)   ``stage2`` (the CT-only ROI dataset)
maps       CT + map channels       plain (``plain_trainer``)   a map dataset (below)
global     CT                      RadiomicsUNet (+ vector)    ``stage2``
both       CT + map channels       RadiomicsUNet (+ vector)    a map dataset
=========  ======================  ==========================  ==========================================

Map datasets hold the CT crops and labels of ``stage2`` plus the map channels of one feature selection: the
pooled selection → ``experiment.maps_dataset_id``; per-fold selection → ``maps_dataset_id + 1 + k`` for fold k,
because each fold's selection may choose other maps (nnU-Net's input channels are fixed per dataset).

:func:`load_selection` reads a selection's ``radiomics.json`` (written by ``select``), from which each fold model's
own ``radiomics.json`` is derived.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pdacrad.errors import InvalidInputError
from pdacrad.model.radiomics_spec import ModelInputs, RadiomicsSpec
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.workspace import Workspace

SelectionMode = Literal["per-fold", "pooled"]


def stage2_trainer(config: TrainConfig, variant: str) -> str:
    """The trainer class name of ``variant``: the radiomics trainer when the model takes the global vector."""
    inputs = ModelInputs.of_variant(variant)
    return config.experiment.radiomics_trainer if inputs.global_vector else config.experiment.plain_trainer


def maps_dataset(config: TrainConfig, mode: SelectionMode, fold: int | None) -> StageConfig:
    """The nnU-Net dataset of the map variants for one feature selection (``fold`` ignored when pooled)."""
    if mode == "pooled":
        return dataclasses.replace(
            config.stage2,
            dataset_id=config.experiment.maps_dataset_id,
            dataset_name=f"{config.stage2.dataset_name}MapsPooled",
        )
    if fold is None:
        raise ValueError("per-fold selection needs a fold")
    return dataclasses.replace(
        config.stage2,
        dataset_id=config.experiment.maps_dataset_id + 1 + fold,
        dataset_name=f"{config.stage2.dataset_name}MapsFold{fold}",
    )


def stage2_for(config: TrainConfig, variant: str, fold: int, mode: SelectionMode) -> StageConfig:
    """Stage 2 of ``variant`` in fold ``fold``: its dataset, trainer and fold, as a :class:`StageConfig`."""
    inputs = ModelInputs.of_variant(variant)
    stage = maps_dataset(config, mode, fold) if inputs.maps else config.stage2
    return dataclasses.replace(stage, trainer=stage2_trainer(config, variant), fold=fold)


def load_selection(ws: Workspace, fold: int | None) -> RadiomicsSpec:
    """The ``radiomics.json`` of a selection (``fold=None``: pooled).

    Raises:
        InvalidInputError: it has not been written (run ``select`` in the matching mode).
    """
    from pdacrad.model.manifest import RADIOMICS_NAME

    path = ws.selection_dir(fold) / RADIOMICS_NAME
    if not path.is_file():
        mode = "pooled" if fold is None else "per-fold"
        raise InvalidInputError(f"{path} not found: run `pdacrad-train select` with selection.mode {mode}.")
    return RadiomicsSpec.load(path)


def selection_training_cases(config: TrainConfig, ws: Workspace, fold: int | None) -> list[str] | None:
    """The cases a selection's fixed statistics (the map scaler) are fitted on: fold ``fold``'s training cases of
    Stage 2's ``splits_final.json`` for a per-fold selection, ``None`` (every case) for the pooled one.

    Raises:
        InvalidInputError: per-fold without the splits file, or a fold it does not have.
    """
    if fold is None:
        return None
    from pdacrad_train.splits import read_splits

    splits = read_splits(ws, config.stage2)
    if not 0 <= fold < len(splits):
        raise InvalidInputError(f"{ws.splits_file(config.stage2)} has {len(splits)} folds, no fold {fold}.")
    return list(splits[fold]["train"])
