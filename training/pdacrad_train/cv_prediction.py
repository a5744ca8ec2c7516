"""One Stage-2 fold model predicting the cases it was validated on, through the code the container runs — shared by
the ``predict`` step (CV predictions of the study's checkpoint) and the ``select-checkpoint`` step (every snapshot,
each case's inputs made once for all of them: the maps of a case cost the same whatever the checkpoint).

For variant ``v``, fold ``k`` and checkpoint files of the fold: the fold's model folder
(:func:`pdacrad_train.variants.stage2_for`) restricted to ``fold_k``, the fold's ``radiomics.json`` (written into
``fold_k/`` before training: which inputs, which features, which preprocessing), and for each case its CT and its
**out-of-fold Stage-1 mask** go through :class:`pdacrad.inference.Stage2Pipeline` — ROI, pancreas restriction,
radiomics inputs, Stage 2 with the configured mirroring, post-processing, paste-back — exactly as ``process.py``
after its Stage 1. Outputs in :mod:`pdacrad.io.predictions`'s layout (``<out>/<case>/detection_map.mha``,
``likelihood.json``), each case written atomically (likelihood last); a finished case is skipped, so a killed run
resumes. ``<out>/../.pdacrad_inputs/<out name>.json`` records the digests of what the folder was predicted from
(:func:`prediction_inputs`: checkpoint, ``radiomics.json``, plans, out-of-fold masks, cases); a folder whose
inputs changed (a retrained fold, a new Stage-1 mask) is predicted again from scratch.

The global vector of a case reuses the ``global-features`` step's cache (:func:`cached_global_features`) when
that cache was computed from the same inputs — the fold's ``radiomics.json`` params, the same out-of-fold mask
file (sha256), the same CT file and pancreas rule — which is the usual case, since ``select`` writes the params it
read; otherwise it is computed, with the params pruned to the fold's selected features. Either way the values are
those :func:`pdacrad.inference.radiomics_inputs.compute_global_features` gives.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import SimpleITK as sitk
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.io import load_ct
from pdacrad.io.atomic import atomic_write_image, atomic_write_json
from pdacrad.io.predictions import DETECTION_MAP_NAME, LIKELIHOOD_NAME, is_finished_case
from pdacrad.model.manifest import RADIOMICS_NAME
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.nnunet_ext.checkpoint_selection import BEST_PICAI_CHECKPOINT, FINAL_CHECKPOINT
from pdacrad_train.config import StudyCheckpoint, TrainConfig
from pdacrad_train.feature_cache import cache_key, case_job, read_cached
from pdacrad_train.input_digests import MISSING, changed_inputs, file_digest, json_digest, oof_masks_digest
from pdacrad_train.masks import MaskSource
from pdacrad_train.splits import read_splits
from pdacrad_train.variants import SelectionMode, stage2_for
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

#: The checkpoint file of each fold model behind each table's predictions (``experiment.checkpoint``).
CHECKPOINT_FILES: dict[StudyCheckpoint, str] = {"picai": BEST_PICAI_CHECKPOINT, "final": FINAL_CHECKPOINT}
#: Where the records of what prediction folders were predicted from live (:func:`prediction_record`): a hidden
#: folder beside them, so that a prediction folder holds its case folders and nothing else.
PREDICTION_INPUTS = ".pdacrad_inputs"


def validation_cases(config: TrainConfig, ws: Workspace, fold: int) -> list[str]:
    """Fold ``fold``'s validation cases (Stage 2's splits, which equal Stage 1's)."""
    return list(read_splits(ws, config.stage2)[fold]["val"])


def is_complete(config: TrainConfig, ws: Workspace, fold: int, out: Path) -> bool:
    """Whether every validation case of ``fold`` has both outputs in ``out``."""
    return all(is_finished_case(out / case) for case in validation_cases(config, ws, fold))


def prediction_inputs(
    config: TrainConfig,
    ws: Workspace,
    variant: str,
    fold: int,
    mode: SelectionMode,
    checkpoint: str,
    checkpoint_sha256: str | None = None,
) -> dict[str, str]:
    """The digests of what the fold's predictions with the checkpoint file ``checkpoint`` are made from
    (:mod:`pdacrad_train.input_digests`): the checkpoint's bytes (a copy, e.g. ``checkpoint_best_picai.pth``,
    digests as its original; ``checkpoint_sha256``: its sha256 hex when the caller has it), the fold's
    ``radiomics.json``, the model folder's plans and ``dataset.json``, the out-of-fold masks of the fold's
    validation cases, and those cases."""
    stage = stage2_for(config, variant, fold, mode)
    folder, model = ws.fold_folder(stage, fold), ws.model_folder(stage)
    # without splits yet, the unit's own work says what is missing
    cases = validation_cases(config, ws, fold) if ws.splits_file(config.stage2).is_file() else None
    return {
        "checkpoint": f"sha256:{checkpoint_sha256}"
        if checkpoint_sha256
        else file_digest(folder / checkpoint),
        RADIOMICS_NAME: file_digest(folder / RADIOMICS_NAME),
        "plans": file_digest(model / "plans.json"),
        "dataset.json": file_digest(model / "dataset.json"),
        "oof_masks": MISSING if cases is None else oof_masks_digest(ws.stage1_oof, cases),
        "cases": MISSING if cases is None else json_digest(sorted(cases)),
    }


def prediction_record(out: Path) -> Path:
    """The record of what the prediction folder ``out`` was predicted from:
    ``<out's parent>/.pdacrad_inputs/<out's name>.json`` (e.g. ``cv_predictions_final/both/.pdacrad_inputs/
    fold_1.json``)."""
    return out.parent / PREDICTION_INPUTS / f"{out.name}.json"


def discard_stale_predictions(out: Path, inputs: Mapping[str, str]) -> None:
    """Make ``out`` a prediction folder of ``inputs``: its record (:func:`prediction_record`) written, its cases
    deleted first when the record names other inputs (one log line per changed input). A folder from before the
    record existed keeps its cases (inputs unknown; logged) and takes ``inputs`` as its record."""
    record = prediction_record(out)
    if record.is_file():
        changes = changed_inputs(json.loads(record.read_text()), inputs)
        if not changes:
            return
        for change in changes:
            logger.warning("%s: predicting again — %s", out, change)
        shutil.rmtree(out, ignore_errors=True)
    elif out.is_dir() and any(out.iterdir()):
        logger.info("%s: predicted before pdacrad recorded the inputs of predictions; kept", out)
    atomic_write_json(dict(inputs), record)


def cached_global_features(
    ws: Workspace, spec: RadiomicsSpec, case: str, masks: MaskSource | None = None
) -> dict[str, Any] | None:
    """The ``global-features`` cache of ``case`` (``{name: value or None}``, ``None`` = non-finite) when it was
    computed from what :func:`predict_validation_cases` feeds the pipeline — ``spec.params``, the case's
    out-of-fold mask (``masks``: the ``stage1_oof`` source, whose digests it memoises), its CT in ``imagesTr`` and
    ``spec.preprocessing``'s pancreas rule — i.e. when its :func:`~pdacrad_train.feature_cache.cache_key`
    matches; ``None`` otherwise (no cache, other params or masks, an empty pancreas)."""
    masks = masks or MaskSource("stage1_oof", ws.stage1_oof)
    if not (ws.cohort_image(case).is_file() and masks.path(case).is_file()):
        return None
    key = cache_key(spec.params, case_job(ws, case, masks), spec.preprocessing)
    record = read_cached(ws.global_features_cache, case, key)
    return None if record is None or record.get("empty") else dict(record["features"])


def predict_validation_cases(
    config: TrainConfig,
    ws: Workspace,
    variant: str,
    fold: int,
    mode: SelectionMode,
    targets: Mapping[str, Path],
) -> int:
    """Predict fold ``fold``'s validation cases with the fold's ``variant`` model loaded from each checkpoint file
    ``fold_<k>/<name>`` of ``targets`` (name → output folder; exactly that file, no fallback), each case's inputs
    (ROI, radiomics maps and vector) made once and run through every checkpoint that has not predicted it yet.
    Returns the case predictions written (0, and nothing loaded, when every case is already there). Every
    checkpoint's model is held at once (~125 MB of weights each for nnU-Net's default 3d_fullres U-Net).

    Raises:
        InvalidInputError: the fold's ``radiomics.json``, a checkpoint or an out-of-fold mask is missing.
    """
    import torch

    from pdacrad.inference import InferenceConfig, Stage2Pipeline
    from pdacrad.inference.device import resolve_device

    for name, out in targets.items():
        discard_stale_predictions(out, prediction_inputs(config, ws, variant, fold, mode, name))
    todo = {c: [name for name, out in targets.items() if not is_finished_case(out / c)] for c in
            validation_cases(config, ws, fold)}  # fmt: skip
    todo = {case: names for case, names in todo.items() if names}
    if not todo:
        return 0
    stage = stage2_for(config, variant, fold, mode)
    model, folder = ws.model_folder(stage), ws.fold_folder(stage, fold)
    needed = sorted({name for names in todo.values() for name in names}, key=list(targets).index)
    for name, fix in ((RADIOMICS_NAME, "train Stage 2 first (`--steps stage2`)"), *((n, "") for n in needed)):
        if not (folder / name).is_file():
            raise InvalidInputError(
                f"{folder / name} missing: "
                + (
                    fix
                    or "train Stage 2 (`--steps stage2`) and select a checkpoint (`--steps select-checkpoint`)."
                )
            )
    if config.run.torch_threads is not None:
        torch.set_num_threads(config.run.torch_threads)
    device = resolve_device(config.run.device)
    base = InferenceConfig(resources_dir=model, device=config.run.device, show_progress=False)
    pipelines = {
        name: Stage2Pipeline.load(
            model,
            folder / RADIOMICS_NAME,
            dataclasses.replace(base, checkpoint_names=(name,), prefer_picai_checkpoint=False),
            device,
            folds=(f"fold_{fold}",),
        )
        for name in needed
    }
    first = pipelines[needed[0]]  # every pipeline has the fold's radiomics.json: the same inputs
    masks, reused, written = MaskSource("stage1_oof", ws.stage1_oof), 0, 0
    for case, names in tqdm(todo.items(), desc=f"predict {variant} fold {fold}", unit="case"):
        mask_path = ws.oof_mask(case)
        if not mask_path.is_file():
            raise InvalidInputError(f"{mask_path} missing: run `pdacrad-train experiment --steps oof` first.")
        ct = load_ct(ws.cohort_image(case))  # as process.py reads its input
        features = None
        if first.spec.inputs.global_vector:
            features = cached_global_features(ws, first.spec, case, masks)
            reused += features is not None
        prepared = first.prepare(ct, sitk.ReadImage(str(mask_path)), features)
        for name in names:
            result = pipelines[name].predict_prepared(ct, prepared)
            atomic_write_image(result.detection_map, targets[name] / case / DETECTION_MAP_NAME)
            atomic_write_json(float(result.likelihood), targets[name] / case / LIKELIHOOD_NAME)
            written += 1
    logger.info(
        "%s fold %d: %d case(s) × %s (%d global vector(s) from the global-features cache)",
        variant, fold, len(todo), ", ".join(needed), reused,
    )  # fmt: skip
    return written
