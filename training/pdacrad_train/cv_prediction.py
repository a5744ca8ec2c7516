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
read; otherwise it is computed with the params pruned to the fold's selected features. Either way the values are
those :func:`pdacrad.inference.radiomics_inputs.compute_global_features` gives.

What is computed — those global features, and the maps of a map variant — is computed before the loop, one task
per case on the Dask cluster of the radiomics steps (:func:`precomputed_inputs`; :class:`MapCompute`: the config's
workers / scheduler / device): the features by the pipeline's own function, the maps into
``<work_dir>/radiomics/prediction_map_cache`` (:mod:`pdacrad_train.map_cache`, on the ROI the pipeline cuts around
the out-of-fold pancreas), then handed to the pipeline. The ``maps`` and ``both`` variants of a fold and every
checkpoint share the cached maps (same features and settings, same key), and a rerun computes none. The values
are those the pipeline computes itself (the same functions on the same ROI; tested).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
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
from pdacrad_train.map_cache import MapCaseJob, ensure_maps, map_features, map_path
from pdacrad_train.masks import MaskSource
from pdacrad_train.parallel import MapCompute
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


def prediction_maps(
    ws: Workspace,
    spec: RadiomicsSpec,
    margins_mm: tuple[float, float, float],
    cases: Sequence[str],
    compute: MapCompute,
    client: Any | None = None,
) -> dict[str, list[Path]]:
    """The raw maps of ``spec.map_features`` that the prediction pipeline would compute for each of ``cases``
    (its CT, its out-of-fold mask, the ROI cut with ``margins_mm`` (x, y, z) around that mask's pancreas), made
    where missing or stale in ``ws.prediction_map_cache`` on ``client`` (else a new cluster of ``compute``), with
    ``compute``'s device and precision. Returns case → its map files, in ``spec.map_features`` order."""
    if client is None:
        with compute.client() as own:
            return prediction_maps(ws, spec, margins_mm, cases, compute, own)
    _check_masks(ws, cases)
    masks = MaskSource("stage1_oof", ws.stage1_oof)
    jobs = [
        MapCaseJob(c, ws.cohort_image(c), masks.path(c), None, masks.digest(c), margins_mm) for c in cases
    ]
    features = map_features(spec, compute.dtype)
    cache = ws.prediction_map_cache
    ensure_maps(jobs, features, spec.preprocessing, cache, client, compute)
    return {c: [map_path(cache, f, c) for f in features] for c in cases}


def case_global_features(ct_path: Path, mask_path: Path, spec: RadiomicsSpec) -> dict[str, float] | None:
    """``spec.global_features`` of one case as :meth:`~pdacrad.inference.Stage2Pipeline.prepare` computes them
    (runs on a Dask worker): the CT read as inference reads it, the radiomics pancreas of the out-of-fold mask,
    :func:`~pdacrad.inference.radiomics_inputs.compute_global_features` (params pruned to the features).
    ``None`` for an empty pancreas or one PyRadiomics refuses: the pipeline then decides as it always does."""
    from pdacrad.inference.radiomics_inputs import compute_global_features, radiomics_pancreas

    pancreas = radiomics_pancreas(sitk.ReadImage(str(mask_path)), spec.preprocessing)
    if not sitk.GetArrayViewFromImage(pancreas).any():
        return None
    try:
        return compute_global_features(load_ct(ct_path), pancreas, spec)
    except InvalidInputError:
        return None


def computed_global_features(
    ws: Workspace, spec: RadiomicsSpec, cases: Sequence[str], client: Any
) -> dict[str, dict[str, float]]:
    """:func:`case_global_features` of ``cases``, one task per case on ``client``; the cases it computes none
    for are left out."""
    futures = {
        case: client.submit(case_global_features, ws.cohort_image(case), ws.oof_mask(case), spec, pure=False)
        for case in cases
    }
    results = dict(zip(futures, client.gather(list(futures.values())), strict=True))
    return {case: features for case, features in results.items() if features is not None}


def _check_masks(ws: Workspace, cases: Sequence[str]) -> None:
    """Raises InvalidInputError naming the first of ``cases`` without an out-of-fold mask."""
    missing = [ws.oof_mask(c) for c in cases if not ws.oof_mask(c).is_file()]
    if missing:
        raise InvalidInputError(f"{missing[0]} missing: run `pdacrad-train experiment --steps oof` first.")


def precomputed_inputs(
    ws: Workspace,
    spec: RadiomicsSpec,
    margins_mm: tuple[float, float, float],
    cases: Sequence[str],
    compute: MapCompute,
) -> tuple[dict[str, list[Path]], dict[str, dict[str, Any]], int]:
    """What the pipeline would compute for ``cases`` beyond the CT, made first on one cluster of ``compute``
    (opened only when something is computed): the map files of a map variant (:func:`prediction_maps`) and the
    global features of a global variant — from the ``global-features`` cache where its key matches
    (:func:`cached_global_features`), else :func:`computed_global_features`. Returns (case → map files, case →
    global features, how many came from the cache)."""
    masks = MaskSource("stage1_oof", ws.stage1_oof)
    cached = (
        {c: cached_global_features(ws, spec, c, masks) for c in cases} if spec.inputs.global_vector else {}
    )
    features = {case: f for case, f in cached.items() if f is not None}
    missing = [case for case, f in cached.items() if f is None]
    maps: dict[str, list[Path]] = {}
    if spec.inputs.maps or missing:
        with compute.client() as client:
            if spec.inputs.maps:
                maps = prediction_maps(ws, spec, margins_mm, cases, compute, client)
            features.update(computed_global_features(ws, spec, missing, client))
    return maps, features, len(cached) - len(missing)


def predict_validation_cases(
    config: TrainConfig,
    ws: Workspace,
    variant: str,
    fold: int,
    mode: SelectionMode,
    targets: Mapping[str, Path],
    compute: MapCompute,
) -> int:
    """Predict fold ``fold``'s validation cases with the fold's ``variant`` model loaded from each checkpoint file
    ``fold_<k>/<name>`` of ``targets`` (name → output folder; exactly that file, no fallback), each case's inputs
    (ROI, radiomics maps and vector) made once and run through every checkpoint that has not predicted it yet;
    the maps on ``compute``'s cluster first (:func:`prediction_maps`). Returns the case predictions written (0,
    and nothing loaded, when every case is already there). Every checkpoint's model is held at once (~125 MB of
    weights each for nnU-Net's default 3d_fullres U-Net).

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
            map_device=compute.device,
        )
        for name in needed
    }
    first = pipelines[needed[0]]  # every pipeline has the fold's radiomics.json: the same inputs
    _check_masks(ws, list(todo))
    maps, vectors, reused = precomputed_inputs(ws, first.spec, first.margins_mm, list(todo), compute)
    written = 0
    for case, names in tqdm(todo.items(), desc=f"predict {variant} fold {fold}", unit="case"):
        ct = load_ct(ws.cohort_image(case))  # as process.py reads its input
        arrays = (
            [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in maps[case]] if case in maps else None
        )
        prepared = first.prepare(ct, sitk.ReadImage(str(ws.oof_mask(case))), vectors.get(case), arrays)
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
