"""``fit``: nnU-Net planning, preprocessing and training of one stage through nnU-Net's Python API.

1. fingerprint + plan with nnU-Net's ``ExperimentPlanner`` (``target_spacing_zyx`` → its
   ``overwrite_target_spacing`` for 3d_fullres);
2. plans overrides from the config (patch size, stages, features, batch size), the topology recomputed with
   nnU-Net's own ``get_pool_and_conv_props`` so strides and kernels stay consistent; only 3d_fullres is kept;
3. nnU-Net preprocessing of 3d_fullres;
4. training with the configured trainer class (nnU-Net's loop, our variant from :mod:`pdacrad.nnunet_ext`),
   resumed from ``checkpoint_latest.pth`` when present. nnU-Net's final validation pass (a spawn pool that
   re-predicts every validation case) is not run here; ``evaluate`` does the evaluation that matters.

Each part is skipped when its output exists. Everything runs in this process, except nnU-Net's preprocessing
pool of ``run.num_processes`` workers; data augmentation runs in ``run.augmentation_workers`` workers
(0 = in-process, which survives a small ``/dev/shm``).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError
from pdacrad_train.config import RunConfig, StageConfig
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

CONFIGURATION = "3d_fullres"
#: nnU-Net's minimum edge length of the coarsest feature map (ExperimentPlanner.UNet_featuremap_min_edge_length).
MIN_FEATURE_MAP_EDGE = 4
#: nnU-Net's environment variable for the number of data-augmentation worker processes.
_AUGMENTATION_ENV = "nnUNet_n_proc_DA"
_PREPROCESSED_MARKER = "pdacrad_preprocessed.json"


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


def plan_stage(stage: StageConfig, run: RunConfig, ws: Workspace) -> Path:
    """Fingerprint and plan ``stage``'s raw dataset (skipped when the plans file exists); returns the plans
    file in nnUNet_preprocessed."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
    )

    ws.export_environment()
    folder = ws.preprocessed_dataset(stage)
    plans_file = folder / f"{stage.plans_name}.json"
    if plans_file.is_file():
        logger.info("Plans exist, skipping planning: %s", plans_file)
        return plans_file
    if not (ws.raw_dataset(stage) / "dataset.json").is_file():
        raise InvalidInputError(
            f"{ws.raw_dataset(stage)}: no dataset.json; run `pdacrad-train convert` first."
        )
    if not (folder / "dataset_fingerprint.json").is_file():
        extract_fingerprint_dataset(
            stage.dataset_id, num_processes=run.num_processes, clean=True, verbose=False
        )
    spacing = list(stage.target_spacing_zyx) if stage.target_spacing_zyx is not None else None
    plan_experiment_dataset(
        stage.dataset_id, overwrite_target_spacing=spacing, overwrite_plans_name=stage.plans_name
    )
    plans = apply_plans_overrides(json.loads(plans_file.read_text()), stage)
    plans_file.write_text(json.dumps(plans, indent=2))
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


def preprocess_stage(stage: StageConfig, run: RunConfig, ws: Workspace) -> Path:
    """nnU-Net preprocessing of 3d_fullres (skipped when a previous run completed it for the same cases and
    target spacing)."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset

    ws.export_environment()
    folder = ws.preprocessed_dataset(stage)
    cases = sorted(p.name[: -len(".nii.gz")] for p in (ws.raw_dataset(stage) / "labelsTr").glob("*.nii.gz"))
    plans = json.loads((folder / f"{stage.plans_name}.json").read_text())
    # What the preprocessed arrays depend on: the cases and the target spacing (not patch or network).
    record = {"cases": cases, "spacing": plans["configurations"][CONFIGURATION]["spacing"]}
    marker = folder / _PREPROCESSED_MARKER
    if marker.is_file() and json.loads(marker.read_text()) == record:
        logger.info("Preprocessed data exist, skipping: %s", folder)
        return folder
    preprocess_dataset(
        stage.dataset_id, stage.plans_name, [CONFIGURATION], [run.num_processes], show_progress_bar=True
    )
    marker.write_text(json.dumps(record, indent=1))
    return folder


def _device(run: RunConfig) -> Any:
    import torch

    if run.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if run.device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("run.device is 'cuda' but no CUDA device is available; use 'cpu' or 'auto'.")
    return torch.device(run.device)


def train_stage(stage: StageConfig, run: RunConfig, ws: Workspace, trainer_class: type | None = None) -> Path:
    """Train ``stage`` with nnU-Net's loop; returns ``checkpoint_final.pth`` (skipped when it exists).

    ``trainer_class`` defaults to the class named ``stage.trainer`` (see :func:`pdacrad.nnunet_ext.find_trainer`).
    """
    import torch

    from pdacrad.nnunet_ext import find_trainer, register_trainers

    ws.export_environment()
    register_trainers()
    if run.torch_threads is not None:
        torch.set_num_threads(run.torch_threads)
    cls = trainer_class or find_trainer(stage.trainer)
    folder = ws.model_folder(stage).with_name(f"{cls.__name__}__{stage.plans_name}__{CONFIGURATION}")
    fold_folder = folder / f"fold_{stage.fold}"
    final = fold_folder / "checkpoint_final.pth"
    latest = fold_folder / "checkpoint_latest.pth"
    resume_from = latest if latest.is_file() else None
    if final.is_file():
        done, planned = _trained_epochs(final), getattr(cls, "EPOCHS", None)
        if planned is None or done >= planned:
            logger.info("Final checkpoint exists (%d epochs), skipping training: %s", done, final)
            return final
        # The schedule grew since that run (e.g. a longer demo schedule): train on from its final state.
        logger.info("Extending %s from %d to %d epochs", final, done, planned)
        resume_from = final
    preprocessed = ws.preprocessed_dataset(stage)
    plans = json.loads((preprocessed / f"{stage.plans_name}.json").read_text())
    plans["continue_training"] = resume_from is not None
    dataset_json = json.loads((preprocessed / "dataset.json").read_text())
    trainer = cls(
        plans=plans,
        configuration=CONFIGURATION,
        fold=stage.fold,
        dataset_json=dataset_json,
        device=_device(run),
    )
    if resume_from is not None:
        logger.info("Resuming from %s", resume_from)
        trainer.load_checkpoint(str(resume_from))
    logger.info(
        "Training %s fold %s with %s on %s",
        stage.dataset_folder_name,
        stage.fold,
        cls.__name__,
        trainer.device,
    )
    # Scoped: nnU-Net's planner calls torch.set_num_threads(nnUNet_n_proc_DA), which rejects 0.
    with _augmentation_workers(run.augmentation_workers):
        trainer.run_training()
    return final


def _trained_epochs(checkpoint: Path) -> int:
    """Number of epochs an nnU-Net checkpoint has completed."""
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["current_epoch"])


@contextmanager
def _augmentation_workers(n: int) -> Iterator[None]:
    """Set ``nnUNet_n_proc_DA`` to ``n`` for the duration (unless the user set it), then restore it."""
    if _AUGMENTATION_ENV in os.environ:
        yield
        return
    os.environ[_AUGMENTATION_ENV] = str(n)
    try:
        yield
    finally:
        os.environ.pop(_AUGMENTATION_ENV, None)


def fit_stage(stage: StageConfig, run: RunConfig, ws: Workspace, trainer_class: type | None = None) -> Path:
    """Plan, preprocess and train one stage (each part resumable); returns its final checkpoint."""
    plan_stage(stage, run, ws)
    preprocess_stage(stage, run, ws)
    return train_stage(stage, run, ws, trainer_class)
