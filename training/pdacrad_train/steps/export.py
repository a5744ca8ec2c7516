"""``export``: trained Stage-1 and Stage-2 model folders → ``resources/`` (SPEC layout) + ``manifest.json``.

Each ``resources/stageN/`` is a minimal nnU-Net v2 trained-model folder: ``dataset.json``, ``plans.json`` and
``fold_<f>/<checkpoint>`` for each exported fold — one fold, or several that nnU-Net's predictor ensembles by
averaging their softmax (``export.folds``). Checkpoints are rewritten without the optimizer and grad-scaler state,
which inference never reads (it halves the file); per-fold JSON files the network or inference needs (e.g. the
fold's feature list) come along, the training-case vectors and debug files do not.

Stage 2 is either the config's ``stage2`` (``export.variant`` unset) or one variant of the experiment
(``export.variant: base|maps|global|both``, its folds' models). ``resources/radiomics.json`` is always written: the
fold folders' own ``radiomics.json`` (the experiment writes it before training: inputs, features, preprocessing),
which must be identical across the exported folds — per-fold feature selection gives each fold its own inputs, so
such folds cannot be one ensemble (export one fold, or select pooled features). Without one, a radiomics model gets
the pooled selection's and a plain model a CT-only spec with the stage's ROI margins.

``resources/calibration.json`` (optional) is the exported variant's likelihood calibration when ``calibrate`` has
fitted one on the CV predictions of the matching checkpoint and its cross-fitted evaluation showed that it helps
(``<work_dir>/calibration[_final]/<variant>/calibration.json``; PI-CAI checkpoint → ``calibration``, final →
``calibration_final``); without one the package is uncalibrated, as before.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pdacrad.errors import InvalidInputError
from pdacrad.model.manifest import (
    CALIBRATION_NAME,
    RADIOMICS_NAME,
    STAGE1_DIRNAME,
    STAGE2_DIRNAME,
    ResourceManifest,
    write_manifest,
)
from pdacrad.model.radiomics_spec import ModelInputs, Preprocessing, RadiomicsSpec
from pdacrad_train.config import StageConfig, StudyCheckpoint, TrainConfig
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

#: Checkpoint entries inference does not read.
_TRAINING_ONLY_KEYS = ("optimizer_state", "grad_scaler_state")
#: The study checkpoint whose CV predictions an exported checkpoint file's calibration was fitted on.
_STUDY_CHECKPOINT: dict[str, StudyCheckpoint] = {
    "checkpoint_best_picai.pth": "picai",
    "checkpoint_final.pth": "final",
}
#: Fold-folder files that stay behind: nnU-Net's debug dump (absolute paths) and the training cases' vectors.
_NOT_EXPORTED = ("debug.json", "global_vectors.json")


def strip_checkpoint(source: Path, target: Path) -> None:
    """Copy an nnU-Net checkpoint without its optimizer / grad-scaler state."""
    import torch

    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    for key in _TRAINING_ONLY_KEYS:
        checkpoint.pop(key, None)
    torch.save(checkpoint, target)


def export_stage(
    stage: StageConfig, ws: Workspace, target: Path, checkpoint: str, folds: Sequence[int | str]
) -> None:
    """Copy one trained-model folder's inference files for ``folds`` into the new folder ``target``."""
    source = ws.model_folder(stage)
    needed = [source / "dataset.json", source / "plans.json"] + [
        source / f"fold_{f}" / checkpoint for f in folds
    ]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise InvalidInputError(
            f"Cannot export {stage.dataset_folder_name}: missing {', '.join(missing)}; train it first "
            f"(checkpoint_best_picai.pth is written by `pdacrad-train select-checkpoint` after training)."
        )
    target.mkdir(parents=True)
    for name in ("dataset.json", "plans.json"):
        shutil.copyfile(source / name, target / name)
    for fold in folds:
        (target / f"fold_{fold}").mkdir()
        strip_checkpoint(source / f"fold_{fold}" / checkpoint, target / f"fold_{fold}" / checkpoint)
        for extra in sorted((source / f"fold_{fold}").glob("*.json")):
            if extra.name not in _NOT_EXPORTED:
                shutil.copyfile(extra, target / f"fold_{fold}" / extra.name)


def stage2_to_export(config: TrainConfig, ws: Workspace) -> tuple[StageConfig, tuple[int | str, ...]]:
    """The Stage-2 model folder and folds that ``export`` takes (see the module docstring)."""
    variant = config.export.variant
    if variant is None:
        return config.stage2, config.export.folds or (config.stage2.fold,)
    from pdacrad_train.radiomics_config import load_radiomics_config
    from pdacrad_train.variants import stage2_for

    mode = load_radiomics_config(config, None).selection.mode
    folds = config.export.folds or config.folds
    stages = {stage2_for(config, variant, k, mode).dataset_folder_name for k in folds}
    if len(stages) > 1:
        raise InvalidInputError(
            f"export: variant {variant!r} with per-fold feature selection has one dataset per fold ({sorted(stages)}); "
            "its folds cannot form one ensemble — set export.folds to one fold, or selection.mode: pooled."
        )
    return stage2_for(config, variant, folds[0], mode), tuple(folds)


def export_radiomics(
    config: TrainConfig, ws: Workspace, stage: StageConfig, folds: Sequence[int | str], out: Path
) -> RadiomicsSpec:
    """Write ``out/radiomics.json`` for the exported Stage 2 and check it against the exported model."""
    import json

    from pdacrad.model.checks import is_radiomics_model

    source = ws.model_folder(stage)
    specs = [RadiomicsSpec.load(p) for f in folds if (p := source / f"fold_{f}" / RADIOMICS_NAME).is_file()]
    if specs and len(specs) != len(folds):
        raise InvalidInputError(
            f"export: only some of folds {list(folds)} of {source} have a {RADIOMICS_NAME}."
        )
    if any(s != specs[0] for s in specs[1:]):
        raise InvalidInputError(
            f"export: folds {list(folds)} of {source} were trained with different {RADIOMICS_NAME} (per-fold feature "
            "selection): export one fold (export.folds: [k]) or select pooled features."
        )
    configuration = json.loads((out / STAGE2_DIRNAME / "plans.json").read_text())["configurations"][
        "3d_fullres"
    ]
    if specs:
        spec = specs[0]
    elif is_radiomics_model(configuration):
        from pdacrad_train.variants import load_selection

        spec = load_selection(ws, None)
    else:
        spec = RadiomicsSpec(
            params={},
            global_features=(),
            mean=(),
            std=(),
            inputs=ModelInputs(maps=False, global_vector=False),
            preprocessing=Preprocessing(roi_margins_mm_xyz=config.stage2.margins_mm_xyz),
        )
    spec.save(out / RADIOMICS_NAME)
    return spec


def export(config: TrainConfig, ws: Workspace, out_dir: Path | None = None) -> ResourceManifest:
    """Run the ``export`` step; returns the written manifest.

    The package is built in a hidden sibling folder and checked by loading it as inference does (model inputs
    against radiomics.json); only then does it replace ``out`` (a rename), so a failed export — a missing
    checkpoint, an inconsistent model — leaves the package that was there as it was.
    """
    out = Path(out_dir or config.export.dir).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        manifest = _build_package(config, ws, staging)
        _replace_folder(out, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _build_package(config: TrainConfig, ws: Workspace, out: Path) -> ResourceManifest:
    """Write the whole package into the empty folder ``out`` and load it as inference does."""
    from pdacrad.inference import InferenceConfig, Pipeline

    stage1_folds = (
        (config.stage1.fold,)
        if config.export.variant is None or config.export.folds is None
        else config.export.folds
    )
    export_stage(
        config.stage1,
        ws,
        out / STAGE1_DIRNAME,
        _checkpoint(config, config.stage1, ws, stage1_folds),
        stage1_folds,
    )
    stage2, folds = stage2_to_export(config, ws)
    export_stage(stage2, ws, out / STAGE2_DIRNAME, config.export.checkpoint, folds)
    spec = export_radiomics(config, ws, stage2, folds, out)
    calibration = calibration_to_export(config, ws)
    if calibration is not None:
        shutil.copyfile(calibration, out / CALIBRATION_NAME)
    trained_on = config.export.trained_on or (
        f"synthetic phantoms from `pdacrad synth` (seed {config.cohort.seed}, n {config.cohort.n})"
        if config.cohort.source == "synth"
        else f"cases of {config.cohort.path}"
    )
    manifest = write_manifest(
        out, demo=config.export.demo, trained_on=trained_on, training_config=_relative_config(config.source)
    )
    Pipeline(InferenceConfig(resources_dir=out, device="cpu", show_progress=False))  # raises if inconsistent
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    logger.info(
        "Exported Stage 2 %s (variant %s, folds %s) and Stage 1 folds %s: %d files, %.2f MB",
        stage2.dataset_folder_name, spec.variant, list(folds), list(stage1_folds), len(manifest.files) + 1,
        size / 1e6,
    )  # fmt: skip
    return manifest


def calibration_to_export(config: TrainConfig, ws: Workspace) -> Path | None:
    """The ``calibrate`` output of the exported variant and checkpoint, if one was fitted (see the module
    docstring); ``None`` (logged) otherwise."""
    variant, checkpoint = config.export.variant, _STUDY_CHECKPOINT.get(config.export.checkpoint)
    path = (
        ws.calibration_dir(checkpoint) / variant / CALIBRATION_NAME
        if variant is not None and checkpoint is not None
        else None
    )
    if path is None or not path.is_file():
        logger.info(
            "export: no likelihood calibration for this package (%s): its likelihood stays uncalibrated",
            f"run `pdacrad-train calibrate` to fit {path}"
            if path is not None
            else "only an experiment variant's PI-CAI or final checkpoint has CV predictions to fit one on",
        )
        return None
    logger.info("export: likelihood calibration %s", path)
    return path


def _replace_folder(target: Path, finished: Path) -> None:
    """Put the folder ``finished`` at ``target`` by renames on one file system; what was at ``target`` goes."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        target.rename(old / target.name)
    finished.rename(target)
    if old is not None:
        shutil.rmtree(old)
    logger.info("export: package written to %s", target)


def _checkpoint(config: TrainConfig, stage: StageConfig, ws: Workspace, folds: Sequence[int | str]) -> str:
    """The configured checkpoint, except that Stage 1 (no PI-CAI selection: it has no lesions to score) falls back
    to ``checkpoint_final.pth`` where the PI-CAI checkpoint is asked for."""
    wanted = config.export.checkpoint
    if wanted == "checkpoint_best_picai.pth" and not all(
        (ws.model_folder(stage) / f"fold_{f}" / wanted).is_file() for f in folds
    ):
        return "checkpoint_final.pth"
    return wanted


def _relative_config(source: str) -> str:
    """The config path as written in the manifest: relative to the current folder when inside it."""
    path = Path(source).resolve()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()
