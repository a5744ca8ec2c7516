"""The training configuration: one YAML file in ``training/configs/`` parsed into frozen dataclasses.

Unknown keys, missing keys and wrong types are :class:`pdacrad.errors.InvalidInputError` with the key's dotted
path, so that a typo in a config fails at load time rather than an hour into training. Spatial tuples are in
nnU-Net's (z, y, x) order unless the key ends in ``_xyz``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pdacrad.errors import InvalidInputError


@dataclass(frozen=True)
class CohortSource:
    """Where the PANORAMA-layout training data comes from.

    ``source: synth`` generates ``n`` phantoms with :func:`pdacrad.synth.generate_cohort` into
    ``<work_dir>/cohort``; ``source: folder`` reads an existing ``imagesTr``/``labelsTr`` folder at ``path``.
    The synth keys are those of ``pdacrad synth``: ``lesion_mix`` and ``confounders`` in its text form
    (``texture=0.4,hypo=0.3,both=0.3``; ``dilated_duct=0.2,high_noise=0.2``), ``texture_fraction`` the older
    two-kind form (0.5 when neither is given), ``lesion_diameter_mm`` the (min, max) nominal diameter.
    """

    source: Literal["synth", "folder"]
    path: str | None = None
    n: int = 32
    seed: int = 0
    positive_fraction: float = 0.5
    texture_fraction: float | None = None
    lesion_mix: str | None = None
    confounders: str = ""
    lesion_diameter_mm: tuple[float, float] = (5.0, 35.0)
    balanced_sizes: bool = False
    size_xyz: tuple[int, int, int] = (160, 160, 48)


@dataclass(frozen=True)
class HoldoutConfig:
    """Held-aside synthetic test cases (a different seed; never trained on), used to evaluate demo weights."""

    n: int = 12
    seed: int = 1000


@dataclass(frozen=True)
class SplitsConfig:
    """Cross-validation folds: stratified by lesion-size bins of ``bin_size_voxels`` (bin 0 = negatives), or
    the PANORAMA baseline's own fold files (``source: baseline``, which split some patients across folds).

    ``group_by`` (stratified folds only): ``patient`` keeps every study of a patient in one fold (PANORAMA ids
    ``<patient>_<study>``; :func:`pdacrad_train.splits.patient_id`), ``case`` deals cases alone (the folds
    before patients were grouped, reproduced exactly)."""

    source: Literal["stratified", "baseline"] = "stratified"
    group_by: Literal["patient", "case"] = "patient"
    n_folds: int = 5
    bin_size_voxels: int = 500
    seed: int = 12345
    baseline_stage1: str | None = None
    baseline_stage2: str | None = None


@dataclass(frozen=True)
class StageConfig:
    """One nnU-Net stage: its raw dataset, plans overrides and trainer.

    ``None`` for a plans override keeps nnU-Net's own planned value. ``target_spacing_zyx`` is in mm;
    ``patch_size_zyx`` in voxels (nnU-Net may round it to a multiple of the pooling factors). ``loss``: nnU-Net's
    Dice + CE (``dice_ce``, the paper's) or cross-entropy alone (``ce``, the PANORAMA baseline's detector loss),
    recorded per fold in ``pdacrad_training.json`` (:mod:`pdacrad.nnunet_ext.training_options`).
    """

    dataset_id: int
    dataset_name: str
    trainer: str = "nnUNetTrainer"
    fold: int | Literal["all"] = 0
    plans_name: str = "nnUNetPlans"
    target_spacing_zyx: tuple[float, float, float] | None = None
    patch_size_zyx: tuple[int, int, int] | None = None
    base_features: int | None = None
    max_features: int | None = None
    max_stages: int | None = None
    batch_size: int | None = None
    margins_mm_xyz: tuple[float, float, float] = (100.0, 50.0, 15.0)
    loss: Literal["dice_ce", "ce"] = "dice_ce"

    @property
    def dataset_folder_name(self) -> str:
        """nnU-Net's folder name ``DatasetXXX_Name``."""
        return f"Dataset{self.dataset_id:03d}_{self.dataset_name}"


@dataclass(frozen=True)
class RunConfig:
    """How to run nnU-Net here: device, worker processes for planning/preprocessing/validation export and for
    augmentation (0 = in the main process, which survives a small ``/dev/shm``), torch threads, and GPUs per
    training (``num_gpus`` > 1: nnU-Net's DDP, as ``nnUNetv2_train -num_gpus``; one fold per GPU instead: run
    ``pdacrad-train experiment --folds k`` once per GPU with ``CUDA_VISIBLE_DEVICES=k``)."""

    device: Literal["cpu", "cuda", "auto"] = "cpu"
    num_processes: int = 1
    augmentation_workers: int = 0
    torch_threads: int | None = None
    num_gpus: int = 1


StudyCheckpoint = Literal["picai", "final"]
"""The checkpoint of each Stage-2 fold model that makes the CV predictions (:class:`ExperimentConfig`)."""
#: Every :data:`StudyCheckpoint` (folder names: ``picai`` unsuffixed, ``final`` with ``_final``).
CHECKPOINTS: tuple[StudyCheckpoint, ...] = ("picai", "final")


@dataclass(frozen=True)
class ExperimentConfig:
    """The cross-validated ablation study run by ``pdacrad-train experiment``.

    ``variants`` of Stage 2 (``base`` CT, ``maps`` + map channels, ``global`` + global vector, ``both``), trained
    on ``folds`` (``None``: every fold of ``splits``) with ``plain_trainer`` (base, maps) and ``radiomics_trainer``
    (global, both); Stage 1 on the same folds with ``stage1.trainer``. The map variants' nnU-Net datasets get ids
    from ``maps_dataset_id``: that id itself for pooled feature selection, ``maps_dataset_id + 1 + k`` for fold k
    under per-fold selection (each fold its own map channels). ``allow_gt_masks``: let the radiomics steps fall back
    to the ground-truth pancreas when out-of-fold Stage-1 masks are missing (never silently). ``n_bootstrap``:
    replicates of the evaluation's CIs and paired tests. ``checkpoint``: which checkpoint of each fold model makes
    the study's table: ``final`` (the default: the end of the fixed schedule, ``checkpoint_final.pth``; nothing
    selected on the scored cases) or ``picai`` (the paper's protocol: ``checkpoint_best_picai.pth``, chosen by the
    ``select-checkpoint`` step on the same validation fold that is then scored, so optimistic and, on small folds,
    noisy). Each has its own predictions and evaluation folders (``cv_predictions_final``/``evaluation_final``,
    ``cv_predictions``/``evaluation``); ``experiment`` writes the other table beside it when its predictions are
    complete (``select-checkpoint`` leaves both).
    """

    variants: tuple[str, ...] = ("base", "maps", "global", "both")
    folds: tuple[int, ...] | None = None
    plain_trainer: str = "nnUNetTrainerPicai"
    radiomics_trainer: str = "nnUNetTrainerRadiomics"
    maps_dataset_id: int = 910
    allow_gt_masks: bool = False
    n_bootstrap: int = 1000
    checkpoint: StudyCheckpoint = "final"


@dataclass(frozen=True)
class ExportConfig:
    """What ``export`` writes: ``dir`` (the SPEC ``resources/`` folder), which checkpoint of each stage, the
    Stage-2 ``variant`` of the experiment and its ``folds`` (``None``: the stage config's ``fold``; a list:
    those folds' models as an nnU-Net ensemble, which averages their softmax), and the manifest's provenance."""

    dir: str = "resources"
    checkpoint: Literal["checkpoint_final.pth", "checkpoint_best.pth", "checkpoint_best_picai.pth"] = (
        "checkpoint_final.pth"
    )
    variant: str | None = None
    folds: tuple[int, ...] | None = None
    demo: bool = True
    trained_on: str = ""


@dataclass(frozen=True)
class TrainConfig:
    """The whole training recipe, as read from one YAML file (``source`` is that file)."""

    name: str
    work_dir: str
    cohort: CohortSource
    stage1: StageConfig
    stage2: StageConfig
    holdout: HoldoutConfig = HoldoutConfig()
    splits: SplitsConfig = SplitsConfig()
    run: RunConfig = RunConfig()
    experiment: ExperimentConfig = ExperimentConfig()
    export: ExportConfig = ExportConfig()
    source: str = ""

    @property
    def folds(self) -> tuple[int, ...]:
        """The cross-validation folds the experiment runs (``experiment.folds`` or all of ``splits``)."""
        return (
            self.experiment.folds if self.experiment.folds is not None else tuple(range(self.splits.n_folds))
        )


def stage_of(config: TrainConfig, stage: str) -> StageConfig:
    """``config.stage1`` or ``config.stage2`` by name ("1"/"2"/"stage1"/"stage2").

    Raises:
        InvalidInputError: another name.
    """
    key = stage.removeprefix("stage")
    if key not in ("1", "2"):
        raise InvalidInputError(f"Unknown stage {stage!r}: use 1 or 2.")
    return config.stage1 if key == "1" else config.stage2


def with_checkpoint(config: TrainConfig, checkpoint: str | None) -> TrainConfig:
    """``config`` with ``experiment.checkpoint`` replaced by ``checkpoint`` (a ``--checkpoint`` option; ``None``
    keeps the config's).

    Raises:
        InvalidInputError: ``checkpoint`` is not one of ``picai``, ``final``.
    """
    if checkpoint is None:
        return config
    value = _convert(checkpoint, StudyCheckpoint, "--checkpoint")
    return dataclasses.replace(config, experiment=dataclasses.replace(config.experiment, checkpoint=value))


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """``value`` checked against (and converted to) ``annotation``; raises InvalidInputError naming ``where``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, option, where)
            except InvalidInputError as error:
                errors.append(str(error))
        raise InvalidInputError(
            errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {annotation}."
        )
    if origin is Literal:
        if value not in args:
            raise InvalidInputError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}.")
        return value
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            raise InvalidInputError(f"{where}: expected a list, got {value!r}.")
        return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise InvalidInputError(f"{where}: expected a list of {len(args)} numbers, got {value!r}.")
        return tuple(
            _convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool) and type(value) is annotation:
        return value
    raise InvalidInputError(
        f"{where}: expected {getattr(annotation, '__name__', annotation)}, got {value!r}."
    )


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where or 'config'}: expected a mapping of keys, got {data!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InvalidInputError(
            f"{where or 'config'}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}."
        )
    values = {}
    for name, field in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            values[name] = _convert(data[name], hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise InvalidInputError(f"{key}: missing required key.")
    return cls(**values)


def _validate(config: TrainConfig) -> None:
    if config.cohort.source == "folder" and not config.cohort.path:
        raise InvalidInputError("cohort.path: required when cohort.source is 'folder'.")
    if config.cohort.source == "synth":
        from pdacrad.synth import ConfounderRates, LesionMix

        for key, parse in (("lesion_mix", LesionMix.parse), ("confounders", ConfounderRates.parse)):
            text = getattr(config.cohort, key)
            try:
                parse(text) if text is not None else None
            except InvalidInputError as error:
                raise InvalidInputError(f"cohort.{key}: {error}") from None
        if config.cohort.lesion_mix is not None and config.cohort.texture_fraction is not None:
            raise InvalidInputError("cohort: give lesion_mix or texture_fraction, not both.")
    if config.stage1.dataset_id == config.stage2.dataset_id:
        raise InvalidInputError("stage1.dataset_id and stage2.dataset_id must differ.")
    if config.splits.n_folds < 2:
        raise InvalidInputError(f"splits.n_folds: need at least 2 folds, got {config.splits.n_folds}.")
    if config.splits.source == "baseline" and not (
        config.splits.baseline_stage1 and config.splits.baseline_stage2
    ):
        raise InvalidInputError(
            "splits: source 'baseline' needs baseline_stage1 and baseline_stage2 fold files."
        )
    from pdacrad.model.radiomics_spec import VARIANTS

    unknown = [v for v in config.experiment.variants if v not in VARIANTS]
    if unknown or not config.experiment.variants:
        raise InvalidInputError(
            f"experiment.variants: {unknown or 'empty'}; choose from {', '.join(VARIANTS)}."
        )
    bad_folds = [f for f in config.experiment.folds or () if not 0 <= f < config.splits.n_folds]
    if bad_folds:
        raise InvalidInputError(f"experiment.folds: {bad_folds} outside 0..{config.splits.n_folds - 1}.")
    maps_ids = range(
        config.experiment.maps_dataset_id, config.experiment.maps_dataset_id + config.splits.n_folds + 1
    )
    if not (maps_ids[0] >= 1 and maps_ids[-1] <= 999) or {
        config.stage1.dataset_id,
        config.stage2.dataset_id,
    } & set(maps_ids):
        raise InvalidInputError(
            f"experiment.maps_dataset_id: ids {maps_ids[0]}..{maps_ids[-1]} (pooled + one per fold) must lie in "
            "1..999 and differ from stage1/stage2 dataset_id."
        )
    for key, stage in (("stage1", config.stage1), ("stage2", config.stage2)):
        if stage.batch_size is not None and (
            problem := ddp_batch_problem(stage.batch_size, config.run.num_gpus, key, f"{key}.batch_size")
        ):
            raise InvalidInputError(problem)
        if not 1 <= stage.dataset_id <= 999:
            raise InvalidInputError(f"{key}.dataset_id: must be 1..999, got {stage.dataset_id}.")
        if isinstance(stage.fold, int) and not 0 <= stage.fold < config.splits.n_folds:
            raise InvalidInputError(
                f"{key}.fold: must be 'all' or 0..{config.splits.n_folds - 1}, got {stage.fold}."
            )


def ddp_batch_problem(batch_size: int, num_gpus: int, where: str, setting: str) -> str | None:
    """Why nnU-Net's DDP would refuse a batch of ``batch_size`` on ``num_gpus`` GPUs (it splits every batch
    across the GPUs and asserts at least one case each), with the fix; ``None`` when it would not. ``where`` names
    the batch's source in the message, ``setting`` the config key that changes it."""
    if num_gpus <= 1 or batch_size >= num_gpus:
        return None
    return (
        f"{where}: batch size {batch_size} < run.num_gpus {num_gpus}; nnU-Net's DDP needs at least one case per GPU "
        f"in every batch. Set {setting}: {num_gpus} or more (a multiple of {num_gpus}), or train one fold per GPU "
        "instead (run.num_gpus: 1 and `pdacrad-train experiment --folds k` with CUDA_VISIBLE_DEVICES=k)."
    )


def load_config(path: str | Path, work_dir: str | Path | None = None) -> TrainConfig:
    """Read and validate a training config YAML; ``work_dir`` (e.g. from ``--work-dir``) replaces its
    ``work_dir``.

    Raises:
        InvalidInputError: the file is missing, not YAML, or has unknown/missing/mistyped keys.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"Config file not found: {path}.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise InvalidInputError(f"{path}: not valid YAML ({error}).") from error
    if isinstance(data, dict) and "source" in data:
        raise InvalidInputError(f"{path}: 'source' is reserved (it records the config file's path).")
    try:
        config: TrainConfig = _build(TrainConfig, data, "")
    except InvalidInputError as error:
        raise InvalidInputError(f"{path}: {error}") from None
    config = dataclasses.replace(config, source=str(path))
    if work_dir is not None:
        config = dataclasses.replace(config, work_dir=str(work_dir))
    _validate(config)
    return config
