"""nnU-Net runs: planning, preprocessing and training of one stage, each fold through nnU-Net's own entry (the
``fit`` command, and the experiment's ``stage1`` and ``stage2`` steps).

1. fingerprint + plan with nnU-Net's ``ExperimentPlanner`` (``target_spacing_zyx`` → its
   ``overwrite_target_spacing`` for 3d_fullres), redone when the raw dataset's channel count is no longer the
   plans' (a map dataset of a selection with another number of map features);
2. plans overrides from the config (patch size, stages, features, batch size), the topology recomputed with
   nnU-Net's own ``get_pool_and_conv_props`` so strides and kernels stay consistent; only 3d_fullres is kept;
3. nnU-Net preprocessing of 3d_fullres, redone when the raw dataset changed (its files' names, sizes and
   modification times, and dataset.json: new map channels or new masks recompute) or the plans entries it reads;
   1–3 are one guarded unit per dataset (:func:`prepare_stage`, :mod:`pdacrad_train.dataset_guard`): jobs sharing
   the work folder wait for the one that plans and preprocesses, then skip; a changed input is refused while a
   training of the dataset runs;
4. training of each fold with ``nnunetv2.run.run_training.run_training`` — the function behind ``nnUNetv2_train`` —
   with our trainer variants found through ``nnUNet_extTrainer``: nnU-Net's continue (``--c``), validation-only
   (``--val``), DDP (``run.num_gpus``) and its final validation, which writes ``fold_<k>/validation/<case>.nii.gz``
   in the raw images' geometry (the out-of-fold Stage-1 masks come from there).

The same training can be run by hand, e.g. on a GPU node::

    export nnUNet_extTrainer=$(python -c "import pdacrad.nnunet_ext as n; print(n.TRAINER_DIR)")
    nnUNetv2_train 903 3d_fullres 2 -tr nnUNetTrainerRadiomics [--c] [--val] [-num_gpus 2]

Each part is skipped when its output exists. Everything runs in this process, except nnU-Net's preprocessing and
validation-export pools of ``run.num_processes`` workers; data augmentation runs in ``run.augmentation_workers``
workers (0 = in-process, which survives a small ``/dev/shm``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError
from pdacrad.io.atomic import atomic_write_json
from pdacrad_train.config import RunConfig, StageConfig, ddp_batch_problem
from pdacrad_train.dataset_guard import MARKER_NAME, DatasetGuard, preprocessing_record
from pdacrad_train.input_digests import MISSING, file_digest, json_digest
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

CONFIGURATION = "3d_fullres"
#: nnU-Net's minimum edge length of the coarsest feature map (ExperimentPlanner.UNet_featuremap_min_edge_length).
MIN_FEATURE_MAP_EDGE = 4


def apply_plans_overrides(plans: dict[str, Any], stage: StageConfig) -> dict[str, Any]:
    """A copy of nnU-Net ``plans`` with only 3d_fullres, overridden by ``stage``'s patch size, number of
    stages, features and batch size (``None`` keeps nnU-Net's value).

    The pooling strides and conv kernels are recomputed for the (possibly new) patch size and the plan's
    spacing with nnU-Net's ``get_pool_and_conv_props``, then cut to ``max_stages`` (dropping the deepest
    poolings); the patch size is the one nnU-Net returns (a multiple of the total stride per axis).
    """
    from nnunetv2.experiment_planning.experiment_planners.network_topology import get_pool_and_conv_props

    plans = copy.deepcopy(plans)
    plans["configurations"] = {CONFIGURATION: plans["configurations"][CONFIGURATION]}
    conf = plans["configurations"][CONFIGURATION]
    arch = conf["architecture"]["arch_kwargs"]
    if stage.patch_size_zyx is not None or stage.max_stages is not None:
        patch = list(stage.patch_size_zyx or conf["patch_size"])
        _, strides, kernels, patch, _ = get_pool_and_conv_props(
            conf["spacing"], patch, MIN_FEATURE_MAP_EDGE, 999999
        )
        if stage.max_stages is not None:
            strides, kernels = strides[: stage.max_stages], kernels[: stage.max_stages]
        n_stages = len(strides)
        conf["patch_size"] = [int(p) for p in patch]
        arch["n_stages"] = n_stages
        arch["strides"] = [[int(s) for s in st] for st in strides]
        arch["kernel_sizes"] = [[int(k) for k in ks] for ks in kernels]
        arch["n_conv_per_stage"] = [arch["n_conv_per_stage"][0]] * n_stages
        arch["n_conv_per_stage_decoder"] = [arch["n_conv_per_stage_decoder"][0]] * (n_stages - 1)
    if stage.base_features is not None or stage.max_features is not None:
        old = arch["features_per_stage"]
        base = stage.base_features or old[0]
        top = stage.max_features or max(old)
        arch["features_per_stage"] = [min(top, base * 2**i) for i in range(arch["n_stages"])]
    elif len(arch["features_per_stage"]) != arch["n_stages"]:
        old = arch["features_per_stage"]
        arch["features_per_stage"] = [min(max(old), old[0] * 2**i) for i in range(arch["n_stages"])]
    if stage.batch_size is not None:
        conf["batch_size"] = stage.batch_size
    return plans


def prepare_stage(
    stage: StageConfig,
    run: RunConfig,
    ws: Workspace,
    setup: Callable[[], None] | None = None,
    after_planning: Callable[[], None] | None = None,
) -> Path:
    """Plan and preprocess ``stage``'s dataset as one guarded unit (:mod:`pdacrad_train.dataset_guard`):
    ``setup`` (e.g. copying the splits into a map dataset), planning, ``after_planning`` (e.g. a plans edit the
    preprocessing must see) and preprocessing run under the dataset's lock, so concurrent jobs wait for the first
    and then skip what it did. Returns the preprocessed folder.

    Raises:
        InvalidInputError: the dataset must be preprocessed again while a training of it runs.
    """
    guard = DatasetGuard(ws.preprocessed_dataset(stage))
    with guard.unit(f"plan+preprocess {stage.dataset_folder_name}"):
        if setup is not None:
            setup()
        _plan_stage(stage, run, ws)
        if after_planning is not None:
            after_planning()
        return _preprocess_stage(stage, run, ws, guard)


def _plan_stage(stage: StageConfig, run: RunConfig, ws: Workspace) -> Path:
    """Fingerprint and plan ``stage``'s raw dataset (skipped when our overridden plans exist); returns the plans
    file in nnUNet_preprocessed. Only under the dataset's lock (:func:`prepare_stage`)."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )

    ws.export_environment()
    folder = ws.preprocessed_dataset(stage)
    plans_file, raw_json = folder / f"{stage.plans_name}.json", ws.raw_dataset(stage) / "dataset.json"
    plans = json.loads(plans_file.read_text()) if plans_file.is_file() else None
    planned = None if plans is None else plans_channels(plans)
    channels = len(json.loads(raw_json.read_text())["channel_names"]) if raw_json.is_file() else None
    # e.g. a map dataset whose selection now has another number of map features
    stale_channels = None not in (planned, channels) and planned != channels
    # our overrides keep only 3d_fullres: nnU-Net's plans with other configurations are a planning killed
    # between nnU-Net's write and ours, which is redone rather than trusted
    if plans is not None and not stale_channels and list(plans["configurations"]) == [CONFIGURATION]:
        logger.info("Plans exist, skipping planning: %s", plans_file)
        return plans_file
    if channels is None:
        raise InvalidInputError(
            f"{ws.raw_dataset(stage)}: no dataset.json; run `pdacrad-train convert` first."
        )
    if stale_channels:
        logger.warning(
            "%s: the plans and fingerprint are for %d input channel(s), the raw dataset has %d: planning again "
            "(its folds' trainings then redo: the plans are one of their inputs)",
            folder, planned, channels,
        )  # fmt: skip
        (folder / "dataset_fingerprint.json").unlink(missing_ok=True)
    if not (folder / "dataset_fingerprint.json").is_file():
        extract_fingerprint_dataset(
            stage.dataset_id, num_processes=run.num_processes, clean=True, verbose=False
        )
    spacing = list(stage.target_spacing_zyx) if stage.target_spacing_zyx is not None else None
    plan_experiment_dataset(
        stage.dataset_id, overwrite_target_spacing=spacing, overwrite_plans_name=stage.plans_name
    )
    plans = apply_plans_overrides(json.loads(plans_file.read_text()), stage)
    atomic_write_json(plans, plans_file)
    conf = plans["configurations"][CONFIGURATION]
    logger.info(
        "%s plans: spacing %s mm, patch %s, features %s, batch %d",
        stage.dataset_folder_name,
        conf["spacing"],
        conf["patch_size"],
        conf["architecture"]["arch_kwargs"]["features_per_stage"],
        conf["batch_size"],
    )
    return plans_file


def plans_channels(plans: dict[str, Any]) -> int | None:
    """The number of input channels nnU-Net ``plans`` were made for (their per-channel intensity properties;
    ``None`` when they do not say)."""
    properties = plans.get("foreground_intensity_properties_per_channel")
    return None if properties is None else len(properties)


def raw_dataset_digest(raw: Path) -> str:
    """sha256 over the raw dataset's ``dataset.json`` and the name, size and modification time of every file in
    ``imagesTr``/``labelsTr``: what nnU-Net's preprocessed arrays are made from. Cheap (no file contents read);
    a rewritten map channel or mask changes its size or time."""
    digest = hashlib.sha256((raw / "dataset.json").read_bytes())
    for folder in ("imagesTr", "labelsTr"):
        for path in sorted((raw / folder).glob("*")):
            stat = path.stat()
            digest.update(f"{folder}/{path.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _preprocess_stage(stage: StageConfig, run: RunConfig, ws: Workspace, guard: DatasetGuard) -> Path:
    """nnU-Net preprocessing of 3d_fullres, skipped when the done marker records the same inputs (raw files,
    the plans entries preprocessing reads). Only under the dataset's lock (:func:`prepare_stage`)."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset

    ws.export_environment()
    folder = ws.preprocessed_dataset(stage)
    plans = json.loads((folder / f"{stage.plans_name}.json").read_text())
    raw = ws.raw_dataset(stage)
    n_cases = len(list((raw / "labelsTr").glob("*")))
    record = preprocessing_record(
        stage.dataset_id, stage.plans_name, CONFIGURATION, plans, raw_dataset_digest(raw), n_cases
    )
    if guard.is_current(record):
        logger.info("Preprocessed data exist, skipping: %s", folder)
        return folder
    guard.begin_rebuild()
    preprocess_dataset(
        stage.dataset_id, stage.plans_name, [CONFIGURATION], [run.num_processes], show_progress_bar=True
    )
    guard.mark_done(record)
    return folder


def _device(run: RunConfig) -> Any:
    import torch

    if run.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if run.device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("run.device is 'cuda' but no CUDA device is available; use 'cpu' or 'auto'.")
    return torch.device(run.device)


def is_validated(folder: Path) -> bool:
    """Whether a fold folder holds a final checkpoint and nnU-Net's final validation (``validation/summary.json``)."""
    return (folder / "checkpoint_final.pth").is_file() and (folder / "validation" / "summary.json").is_file()


def training_inputs(stage: StageConfig, ws: Workspace, fold: int) -> dict[str, str]:
    """The digests of what a fold's training reads from nnU-Net's preprocessed folder
    (:mod:`pdacrad_train.input_digests`): the plans (network, patch, batch, channels), the preprocessing done
    marker (the plans entries preprocessing read and the raw files it read, :mod:`pdacrad_train.dataset_guard`)
    and the fold's training and validation cases."""
    folder = ws.preprocessed_dataset(stage)
    splits = ws.splits_file(stage)
    fold_cases = json.loads(splits.read_text())[fold] if splits.is_file() else None
    return {
        "plans": file_digest(folder / f"{stage.plans_name}.json"),
        "preprocessed data": file_digest(folder / MARKER_NAME),
        "splits": json_digest(fold_cases) if fold_cases is not None else MISSING,
    }


def set_aside_fold(ws: Workspace, stage: StageConfig, fold: int) -> str | None:
    """Move a fold folder out of nnU-Net's way before it is trained afresh (nnU-Net would resume from its
    ``checkpoint_latest.pth``, or skip a finished fold): to ``<model folder>/stale/fold_<k>-<UTC time>``, which
    nnU-Net's fold discovery (``fold_*``) does not see. Returns the log line saying where, or ``None`` when
    there was no folder."""
    import datetime as dt

    folder = ws.fold_folder(stage, fold)
    if not folder.is_dir():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    target = ws.model_folder(stage) / "stale" / f"{folder.name}-{stamp}"
    for n in range(1, 1000):  # two set asides within one second
        if not target.exists():
            break
        target = target.with_name(f"{folder.name}-{stamp}-{n}")
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    return (
        f"moved the old {folder} to {target} so that the fold trains from scratch (nnU-Net would resume from its "
        "checkpoint_latest.pth); delete it once it is no longer needed"
    )


def train_fold(stage: StageConfig, run: RunConfig, ws: Workspace, fold: int | str | None = None) -> Path:
    """Train one fold of ``stage`` (default ``stage.fold``) with nnU-Net's ``run_training`` and its final
    validation; returns the fold folder.

    Resumes as nnU-Net's ``--c`` from ``checkpoint_latest.pth``; a finished fold (final checkpoint + validation)
    is skipped unless the trainer's ``EPOCHS`` grew since (then it trains on from its final state); a trained fold
    without validation only validates (``--val``).
    """
    import torch
    from nnunetv2.run.run_training import run_training

    from pdacrad.nnunet_ext import find_trainer, register_trainers

    fold = stage.fold if fold is None else fold
    if run.num_gpus > 1:  # nnU-Net's own plan may hold the batch size the config leaves open
        plans = json.loads((ws.preprocessed_dataset(stage) / f"{stage.plans_name}.json").read_text())
        batch = int(plans["configurations"][CONFIGURATION]["batch_size"])
        where = f"{stage.dataset_folder_name} (nnU-Net's plan)"
        if problem := ddp_batch_problem(batch, run.num_gpus, where, "batch_size of stage1 / stage2"):
            raise InvalidInputError(problem)
    ws.export_environment()
    register_trainers()
    if run.torch_threads is not None:
        torch.set_num_threads(run.torch_threads)
    folder = ws.fold_folder(stage, fold)
    record_training_options(folder, stage)
    final = folder / "checkpoint_final.pth"
    planned = getattr(find_trainer(stage.trainer), "EPOCHS", None)
    grown = final.is_file() and planned is not None and _trained_epochs(final) < planned
    if is_validated(folder) and not grown:
        logger.info(
            "%s fold %s: trained and validated, skipping (%s)", stage.dataset_folder_name, fold, folder
        )
        return folder
    only_validation = final.is_file() and not grown
    resume = grown or (folder / "checkpoint_latest.pth").is_file()
    logger.info(
        "%s fold %s with %s on %s%s",
        stage.dataset_folder_name,
        fold,
        stage.trainer,
        run.device,
        " (validation only)" if only_validation else " (continuing)" if resume else "",
    )
    # Scoped: nnU-Net's planner calls torch.set_num_threads(nnUNet_n_proc_DA), which rejects 0. (nnU-Net reads
    # nnUNet_def_n_proc only at import: set_process_environment.)
    guard = DatasetGuard(ws.preprocessed_dataset(stage))
    purpose = f"train {stage.trainer} fold {fold} of {stage.dataset_folder_name}"
    with _environment(nnUNet_n_proc_DA=run.augmentation_workers), guard.training(purpose):
        run_training(
            str(stage.dataset_id),
            CONFIGURATION,
            fold,
            trainer_class_name=stage.trainer,
            plans_identifier=stage.plans_name,
            num_gpus=run.num_gpus,
            continue_training=resume and not only_validation,
            only_run_validation=only_validation,
            device=_device(run),
        )
    return folder


def record_training_options(folder: Path, stage: StageConfig) -> None:
    """Write ``stage``'s trainer options (the loss) into the fold folder, where the trainer reads them.

    Raises:
        InvalidInputError: the fold already has a checkpoint trained with other options (a fold without the
            file was trained with the defaults): resuming would mix two losses in one training.
    """
    from pdacrad.nnunet_ext.training_options import (
        TrainingOptions,
        read_training_options,
        write_training_options,
    )

    wanted = TrainingOptions(loss=stage.loss)
    recorded = read_training_options(folder)
    trained = any(folder.glob("checkpoint_*.pth"))
    if trained and (recorded or TrainingOptions()) != wanted:
        raise InvalidInputError(
            f"{folder} was trained with loss {(recorded or TrainingOptions()).loss!r} but the config says "
            f"{stage.loss!r}: delete the fold folder to train it afresh, or set the loss it was trained with."
        )
    if recorded != wanted:
        write_training_options(folder, wanted)


def set_process_environment(run: RunConfig) -> None:
    """Give nnU-Net ``run.num_processes`` as ``nnUNet_def_n_proc`` (its worker processes for planning,
    preprocessing and validation export) unless the user exported one.

    nnU-Net reads that variable once, when ``nnunetv2.configuration`` is first imported, and binds it into
    default arguments, so it must be set before any nnU-Net import: the ``pdacrad-train`` commands call this
    right after loading the config. Called later, it warns that the value cannot take effect.
    """
    name = "nnUNet_def_n_proc"  # nnU-Net's spelling
    if name in os.environ:
        return
    os.environ[name] = str(run.num_processes)
    loaded = sys.modules.get("nnunetv2.configuration")
    if loaded is not None and loaded.default_num_processes != run.num_processes:
        logger.warning(
            "run.num_processes %d cannot reach nnU-Net in this process (it was imported earlier with %d worker "
            "processes); export nnUNet_def_n_proc=%d before starting Python",
            run.num_processes, loaded.default_num_processes, run.num_processes,
        )  # fmt: skip


def _trained_epochs(checkpoint: Path) -> int:
    """Number of epochs an nnU-Net checkpoint has completed."""
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["current_epoch"])


@contextmanager
def _environment(**values: int) -> Iterator[None]:
    """Set each variable to its value for the duration, unless the user set it; then restore."""
    ours = {k: str(v) for k, v in values.items() if k not in os.environ}
    os.environ.update(ours)
    try:
        yield
    finally:
        for key in ours:
            os.environ.pop(key, None)


def fit_stage(stage: StageConfig, run: RunConfig, ws: Workspace, fold: int | str | None = None) -> Path:
    """Plan and preprocess (one guarded unit), then train one fold of one stage (each part resumable); returns
    the fold folder."""
    prepare_stage(stage, run, ws)
    return train_fold(stage, run, ws, fold)
