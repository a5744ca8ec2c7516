"""Which units of work ``pdacrad-train experiment`` runs: one list, read by the steps that run them and by the
cost plan (:mod:`pdacrad_train.cost_plan`) that prices them before anything runs.

A unit is a step × variant × fold (ledger units, :mod:`pdacrad_train.ledger`, e.g. ``stage2:base:fold0``) or the
guarded planning + preprocessing of one nnU-Net dataset (``preprocess:<DatasetXXX_Name>``, not a ledger unit: it
runs under a lock in the dataset's preprocessed folder, :mod:`pdacrad_train.dataset_guard`, before the first
training that needs it). The lists below follow the steps' own order; each step module iterates its own list, so
the plan cannot drift from what runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pdacrad.model.radiomics_spec import ModelInputs
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.ledger import checkpoint_unit
from pdacrad_train.variants import SelectionMode, maps_dataset, stage2_for

#: The experiment's steps, in the order they run.
STEPS: tuple[str, ...] = (
    "prepare", "stage1", "oof", "radiomics", "stage2", "select-checkpoint", "predict", "evaluate",
)  # fmt: skip

#: What a unit does (the cost model prices each kind its own way).
UnitKind = Literal[
    "convert", "splits", "preprocess", "train", "oof", "global-features", "select", "maps",
    "select-checkpoint", "predict", "evaluate",
]  # fmt: skip


@dataclass(frozen=True)
class Unit:
    """One unit of work. ``name``: its ledger name (``preprocess:<dataset>`` for the guarded dataset preparation,
    ``ledger`` False); ``step``: the step of :data:`STEPS` that runs it; ``stage``: the nnU-Net dataset (and
    trainer) it preprocesses, trains, predicts with or (``maps``) builds, where it has one; ``fold`` of a ``maps``
    unit: the selection its dataset is made for (``None``: pooled)."""

    name: str
    step: str
    kind: UnitKind
    variant: str | None = None
    fold: int | None = None
    stage: StageConfig | None = None
    ledger: bool = True


def prepare_units() -> tuple[Unit, ...]:
    """``prepare``: the raw datasets of both stages, then the folds."""
    return Unit("prepare:convert", "prepare", "convert"), Unit("prepare:splits", "prepare", "splits")


def preprocess_unit(stage: StageConfig, step: str) -> Unit:
    """The guarded planning + preprocessing of ``stage``'s dataset (run once, before its first training)."""
    return Unit(f"preprocess:{stage.dataset_folder_name}", step, "preprocess", stage=stage, ledger=False)


def stage1_units(config: TrainConfig, folds: Sequence[int]) -> tuple[Unit, ...]:
    """``stage1``: its dataset's preparation, then one training (+ final validation) per fold."""
    trains = tuple(
        Unit(f"stage1:fold{k}", "stage1", "train", fold=k, stage=config.stage1) for k in folds
    )  # fmt: skip
    return (preprocess_unit(config.stage1, "stage1"), *trains)


def oof_units() -> tuple[Unit, ...]:
    """``oof``: the out-of-fold Stage-1 masks from every fold's final validation."""
    return (Unit("stage1:oof", "oof", "oof"),)


def radiomics_units(config: TrainConfig, mode: SelectionMode, variants: Sequence[str]) -> tuple[Unit, ...]:
    """``radiomics``: global features and selection when a variant uses radiomics, then one map dataset per
    selection when a variant uses maps (pooled: one; per-fold: one per fold of ``config.folds``, whichever
    folds this run trains)."""
    needs = [ModelInputs.of_variant(v) for v in variants]
    if not any(i.maps or i.global_vector for i in needs):
        return ()
    units = [
        Unit("radiomics:global-features", "radiomics", "global-features"),
        Unit("radiomics:select", "radiomics", "select"),
    ]
    if any(i.maps for i in needs):
        for fold in [None] if mode == "pooled" else list(config.folds):
            target = maps_dataset(config, mode, fold)
            name = f"radiomics:maps:{target.dataset_folder_name}"
            units.append(Unit(name, "radiomics", "maps", fold=fold, stage=target))
    return tuple(units)


def stage2_units(
    config: TrainConfig, variants: Sequence[str], folds: Sequence[int], mode: SelectionMode
) -> tuple[Unit, ...]:
    """``stage2``: every variant × fold's training (+ final validation), each dataset's preparation before the
    first training on it."""
    units: list[Unit] = []
    prepared: set[int] = set()
    for variant in variants:
        for k in folds:
            stage = stage2_for(config, variant, k, mode)
            if stage.dataset_id not in prepared:
                prepared.add(stage.dataset_id)
                units.append(preprocess_unit(stage, "stage2"))
            units.append(Unit(f"stage2:{variant}:fold{k}", "stage2", "train", variant, k, stage))
    return tuple(units)


def select_checkpoint_units(
    config: TrainConfig, variants: Sequence[str], folds: Sequence[int], mode: SelectionMode
) -> tuple[Unit, ...]:
    """``select-checkpoint``: every variant × fold's snapshots and final checkpoint scored on its validation."""
    return tuple(
        Unit(f"select-checkpoint:{v}:fold{k}", "select-checkpoint", "select-checkpoint", v, k,
             stage2_for(config, v, k, mode))
        for v in variants
        for k in folds
    )  # fmt: skip


def predict_units(
    config: TrainConfig, variants: Sequence[str], folds: Sequence[int], mode: SelectionMode
) -> tuple[Unit, ...]:
    """``predict``: every variant × fold's CV predictions with ``experiment.checkpoint``."""
    step = checkpoint_unit("predict", config.experiment.checkpoint)
    return tuple(
        Unit(f"{step}:{v}:fold{k}", "predict", "predict", v, k, stage2_for(config, v, k, mode))
        for v in variants
        for k in folds
    )


def planned_checkpoints(config: TrainConfig, steps: Sequence[str]) -> tuple[str, ...]:
    """The tables ``evaluate`` will write when ``steps`` run on an empty work folder: ``experiment.checkpoint``'s,
    and the other checkpoint's when ``select-checkpoint`` runs (it leaves both checkpoints' CV predictions). At run
    time :func:`pdacrad_train.experiment.study_checkpoints` asks the predictions themselves."""
    others = ("final", "picai") if "select-checkpoint" in steps else ()
    return (config.experiment.checkpoint, *(c for c in others if c != config.experiment.checkpoint))


def evaluate_units(checkpoints: Sequence[str]) -> tuple[Unit, ...]:
    """``evaluate``: one ablation table per checkpoint (``evaluate-final``, ``evaluate`` for the PI-CAI one)."""
    return tuple(Unit(checkpoint_unit("evaluate", c), "evaluate", "evaluate") for c in checkpoints)


def experiment_units(
    config: TrainConfig,
    mode: SelectionMode,
    variants: Sequence[str],
    folds: Sequence[int],
    steps: Sequence[str] = STEPS,
) -> tuple[Unit, ...]:
    """Every unit ``run_experiment(config, …, variants, folds, steps)`` runs on an empty work folder, in order
    (``mode``: the radiomics config's feature selection mode)."""
    by_step = {
        "prepare": prepare_units,
        "stage1": lambda: stage1_units(config, folds),
        "oof": oof_units,
        "radiomics": lambda: radiomics_units(config, mode, variants),
        "stage2": lambda: stage2_units(config, variants, folds, mode),
        "select-checkpoint": lambda: select_checkpoint_units(config, variants, folds, mode),
        "predict": lambda: predict_units(config, variants, folds, mode),
        "evaluate": lambda: evaluate_units(planned_checkpoints(config, steps)),
    }
    return tuple(unit for step in STEPS if step in steps for unit in by_step[step]())
