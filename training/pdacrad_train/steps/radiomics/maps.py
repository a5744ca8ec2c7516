"""``maps``: nnU-Net raw datasets of the map variants — the Stage-2 CT crops and labels plus normalised
parametric-map channels of one feature selection.

:func:`materialise_map_dataset` builds one dataset for one ``radiomics.json`` (``spec``): ``imagesTr/<case>_0000``
and ``labelsTr/<case>`` are hard links to (copies, where links fail) the files of ``config.stage2``'s raw dataset
written by ``convert``; ``imagesTr/<case>_0001``, ``_0002``, … are the maps of ``spec.map_features`` in that
order, from the per-feature cache (:mod:`pdacrad_train.map_cache`; missing maps computed there in parallel on
Dask, by the functions inference uses, on the case's ROI crop inside the dilated radiomics pancreas of its Stage-1
mask), normalised with the selection's fixed per-feature statistics: a
:class:`~pdacrad.model.map_scaler.MapScaler` fitted on the selection's training cases (``fit_cases``: fold k's
training cases for a per-fold selection, every case for the pooled one) inside their map masks, applied by the
function inference applies (:mod:`pdacrad_train.map_scaling`). ``dataset.json`` is Stage 2's with
``channel_names`` = ``{"0": "CT", "1": <map feature 1>, …}``; the ``stage2`` step sets the plans' normalisation of
the map channels to ``NoNormalization``, so nnU-Net does not scale them again.
``pdacrad_maps.json`` in the dataset records the mask source, the features, the ``radiomics.json`` (with its
``map_scaler``) the channels were made for — the one the dataset's fold models ship — and a digest of every
channel's cache stamp and the scaler: preprocessing can key on it, and a changed digest warns when a stale
preprocessed dataset exists.

The ``maps`` step does this for the selections of the configured mode, with dataset ids from
:func:`pdacrad_train.variants.maps_dataset`: pooled → one dataset; per-fold → one per fold of ``config.folds``
(each fold's own maps and scaler; folds that chose the same features share the cached maps). Masks:
:mod:`pdacrad_train.masks`. Everything is resumable: cached maps are reused, links and channels already in place
for the same maps and scaler are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad_train.cases import training_cases
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.files import place
from pdacrad_train.map_cache import MapCaseJob, MapFeature, ensure_maps, map_features
from pdacrad_train.map_scaling import MAPS_MANIFEST, fit_scaler, write_case_channels
from pdacrad_train.masks import MaskSource, resolve_mask_source
from pdacrad_train.parallel import MapCompute
from pdacrad_train.variants import selection_training_cases
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

__all__ = ["MAPS_MANIFEST", "channel_path", "materialise_map_dataset", "place", "run_maps"]


def channel_path(images_dir: Path, case: str, channel: int) -> Path:
    """nnU-Net's file of one input channel: ``<images_dir>/<case>_<channel:04d>.nii.gz``."""
    return images_dir / f"{case}_{channel:04d}.nii.gz"


def case_jobs(config: TrainConfig, ws: Workspace, cases: list[str], source: MaskSource) -> list[MapCaseJob]:
    """One job per case: its Stage-2 ROI CT (``config.stage2``'s raw ``imagesTr``) and mask.

    Raises:
        InvalidInputError: a ROI CT is missing (run ``convert``).
    """
    images = ws.raw_dataset(config.stage2) / "imagesTr"
    jobs = [
        MapCaseJob(c, channel_path(images, c, 0), source.path(c), source.labels, source.digest(c))
        for c in cases
    ]
    missing = [job.ct_roi for job in jobs if not job.ct_roi.is_file()]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} Stage-2 ROI CT(s) missing, e.g. {missing[0]}; run `convert` first."
        )
    return jobs


def _link_dataset(
    config: TrainConfig,
    ws: Workspace,
    target: StageConfig,
    jobs: list[MapCaseJob],
    features: list[MapFeature],
    spec: RadiomicsSpec,
    previous: dict[str, Any],
    client: Any,
) -> tuple[int, dict[str, list[str]]]:
    """CT and labels of every case linked into ``target``'s raw dataset, its map channels normalised by ``spec``
    written there on ``client``, one task per case (kept where ``previous``, the dataset's last record, says they
    were made from the same cached maps and scaler); stale extra channels removed. Returns (files placed, case →
    the cache stamp keys of its channels)."""
    from tqdm import tqdm

    source, raw = ws.raw_dataset(config.stage2), ws.raw_dataset(target)
    cache, tmp = ws.map_cache, raw / ".pdacrad_tmp"
    in_place = source.resolve() == raw.resolve()
    same_scaler = previous.get("radiomics", {}).get("map_scaler") == _plain_scaler(spec)
    placed, stamps, todo = 0, {}, []
    images = raw / "imagesTr"
    for job in tqdm(jobs, desc=f"link {target.dataset_folder_name}", unit="case"):
        if not in_place:
            placed += place(job.ct_roi, channel_path(images, job.case, 0), tmp)
            label = source / "labelsTr" / f"{job.case}.nii.gz"
            placed += place(label, raw / "labelsTr" / label.name, tmp)
        stamps[job.case] = [
            json.loads((cache / f.key / f"{job.case}.json").read_text())["key"] for f in features
        ]
        targets = [channel_path(images, job.case, k) for k in range(1, len(features) + 1)]
        fresh = same_scaler and previous.get("cases", {}).get(job.case) == stamps[job.case]
        if not (fresh and all(t.is_file() for t in targets)):
            todo.append((job, targets))
        stale = len(features) + 1
        while channel_path(images, job.case, stale).is_file():
            channel_path(images, job.case, stale).unlink()
            stale += 1
    if todo:
        futures = [
            client.submit(write_case_channels, job, features, spec, cache, targets, pure=False)
            for job, targets in todo
        ]
        client.gather(futures)
        placed += sum(len(targets) for _, targets in todo)
    shutil.rmtree(tmp, ignore_errors=True)
    return placed, stamps


def _plain_scaler(spec: RadiomicsSpec) -> Any:
    """``spec``'s map scaler as its JSON record (``None`` without one)."""
    return spec.to_dict().get("map_scaler")


def _write_dataset_json(
    config: TrainConfig, ws: Workspace, target: StageConfig, spec: RadiomicsSpec, n: int
) -> None:
    """Stage 2's ``dataset.json`` with CT + map channel names (and the case count) into ``target``'s raw dataset."""
    from pdacrad.io.atomic import atomic_write_json

    dataset = json.loads((ws.raw_dataset(config.stage2) / "dataset.json").read_text())
    dataset["channel_names"] = {
        "0": "CT",
        **{str(i): name for i, name in enumerate(spec.map_features, start=1)},
    }
    dataset["numTraining"] = n
    base = str(dataset.get("description", "")).split(" + parametric maps ")[0]  # in place: not twice
    dataset["description"] = f"{base} + parametric maps {', '.join(spec.map_features)}"
    atomic_write_json(dataset, ws.raw_dataset(target) / "dataset.json")


def materialise_map_dataset(
    config: TrainConfig,
    ws: Workspace,
    spec: RadiomicsSpec,
    target: StageConfig,
    compute: MapCompute,
    masks: Path | None = None,
    allow_gt_masks: bool = False,
    client: Any | None = None,
    fit_cases: Sequence[str] | None = None,
) -> Path:
    """Build ``ws.raw_dataset(target)`` = Stage 2's CT crops and labels + the maps of ``spec.map_features``,
    normalised by a scaler fitted on ``fit_cases`` (``None``: every case) — see the module docstring. Maps missing
    from the cache are computed with ``compute``'s device and precision on ``client`` (else on a new cluster of
    ``compute``). ``allow_gt_masks`` or ``config.experiment.allow_gt_masks`` permits the ground-truth fallback.
    Returns the raw dataset folder.

    Raises:
        InvalidInputError: ``spec`` has no map features, masks or ROI CTs are missing, or a case of
            ``fit_cases`` is not a training case.
    """
    from pdacrad.io.atomic import atomic_write_json

    start = time.perf_counter()
    if not spec.map_features:
        raise InvalidInputError(
            f"the selection for {target.dataset_folder_name} lists no map_features: no maps."
        )
    if client is None:
        with compute.client() as own:
            return materialise_map_dataset(
                config, ws, spec, target, compute, masks, allow_gt_masks, client=own, fit_cases=fit_cases
            )
    cases = list(training_cases(ws)["case"])
    source = resolve_mask_source(ws, cases, masks, allow_gt_masks or config.experiment.allow_gt_masks)
    jobs = case_jobs(config, ws, cases, source)
    features = map_features(spec, compute.dtype)
    cache = ws.map_cache
    counts = ensure_maps(jobs, features, spec.preprocessing, cache, client, compute)
    fit = list(cases) if fit_cases is None else list(fit_cases)
    unknown = sorted(set(fit) - set(cases))
    if unknown:
        raise InvalidInputError(
            f"map scaler: {len(unknown)} fit case(s) not among the training cases, e.g. {unknown[0]}."
        )
    by_case = {job.case: job for job in jobs}
    scaler = fit_scaler([by_case[c] for c in fit], features, spec, cache, client)
    spec = dataclasses.replace(spec, map_scaler=scaler)
    raw = ws.raw_dataset(target)
    manifest = raw / MAPS_MANIFEST
    previous = json.loads(manifest.read_text()) if manifest.is_file() else {}
    placed, stamps = _link_dataset(config, ws, target, jobs, features, spec, previous, client)
    _write_dataset_json(config, ws, target, spec, len(jobs))
    digest = hashlib.sha256(
        json.dumps({"cases": stamps, "map_scaler": _plain_scaler(spec)}, sort_keys=True).encode()
    ).hexdigest()
    preprocessed = ws.preprocessed_dataset(target)
    if previous.get("digest") not in (None, digest) and preprocessed.is_dir():
        logger.warning(
            "%s: the map channels changed; %s is stale — delete it and preprocess again.", raw, preprocessed
        )
    record = {
        "digest": digest,
        "map_features": list(spec.map_features),
        "feature_keys": [f.key for f in features],
        "mask_source": source.describe(),
        "preprocessing": spec.preprocessing.to_dict(),
        "map_scaler_fitted_on": len(fit),
        "radiomics": spec.to_dict(),
        "cases": stamps,
    }
    atomic_write_json(record, manifest)
    logger.info(
        "maps → %s: %d feature(s), %d case(s); %d map(s) computed (%.1f s per case), %d cached, %d file(s) "
        "placed; scaler fitted on %d case(s); masks: %s; %.1f s",
        raw,
        len(features),
        len(jobs),
        counts["computed"],
        counts["seconds_per_case"],
        counts["cached"],
        placed,
        len(fit),
        source.describe(),
        time.perf_counter() - start,
    )
    return raw


def run_maps(
    config: TrainConfig,
    ws: Workspace,
    compute: MapCompute,
    mode: str = "per-fold",
    masks: Path | None = None,
    allow_gt_masks: bool = False,
    client: Any | None = None,
) -> dict[int | None, Path]:
    """The ``maps`` step: the map dataset of every selection of ``mode`` (pooled: one; per-fold: one per fold
    of ``config.folds``, its scaler fitted on the fold's training cases), maps of all of them computed in one
    parallel pass first, on ``client`` (else a new cluster of ``compute``). Returns fold → dataset."""
    from pdacrad_train.variants import load_selection, maps_dataset

    if mode not in ("per-fold", "pooled"):
        raise InvalidInputError(f"selection mode {mode!r}: use per-fold or pooled.")
    if client is None:
        with compute.client() as own:
            return run_maps(config, ws, compute, mode, masks, allow_gt_masks, own)
    folds: list[int | None] = [None] if mode == "pooled" else list(config.folds)
    specs = {fold: load_selection(ws, fold) for fold in folds}
    empty = [fold for fold, spec in specs.items() if not spec.map_features]
    if empty:
        logger.warning("selection(s) %s chose shape features only: no map dataset for them", empty)
    specs = {fold: spec for fold, spec in specs.items() if spec.map_features}
    allow = allow_gt_masks or config.experiment.allow_gt_masks
    by_preprocessing: dict[str, list[RadiomicsSpec]] = {}
    for spec in specs.values():
        by_preprocessing.setdefault(json.dumps(spec.preprocessing.to_dict()), []).append(spec)
    cases = list(training_cases(ws)["case"])
    if specs:
        jobs = case_jobs(config, ws, cases, resolve_mask_source(ws, cases, masks, allow))
        for group in by_preprocessing.values():  # one pass over every fold's features: full parallelism
            union = [f for spec in group for f in map_features(spec, compute.dtype)]
            ensure_maps(jobs, union, group[0].preprocessing, ws.map_cache, client, compute)
    out: dict[int | None, Path] = {}
    for fold, spec in specs.items():
        target = maps_dataset(config, "pooled" if fold is None else "per-fold", fold)
        out[fold] = materialise_map_dataset(
            config,
            ws,
            spec,
            target,
            compute,
            masks,
            allow,
            client=client,
            fit_cases=selection_training_cases(config, ws, fold),
        )
    return out
