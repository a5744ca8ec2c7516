"""``maps``: parametric radiomics maps of every Stage-2 training case, as extra input channels of the Stage-2
nnU-Net raw dataset.

For each case of ``cases.csv``: the maps of ``radiomics.json``'s ``map_features`` with its ``map_params``, computed
by :func:`pdacrad.inference.radiomics_inputs.compute_map_channels` — the function inference uses — on the case's
Stage-2 ROI crop (``imagesTr/<case>_0000.nii.gz``, written by ``convert``), inside the pancreas mask of
:func:`pdacrad.inference.radiomics_inputs.map_mask` (largest component, dilated by
:data:`~pdacrad.inference.radiomics_inputs.MAP_MASK_DILATION_MM` mm so that the tumour rim is covered);
``initValue`` outside. The pancreas comes from, first match wins:

1. ``--masks DIR`` — ``DIR/<case>.nii.gz`` on the full CT grid, any non-zero voxel is pancreas;
2. ``<work_dir>/stage1_oof/<case>.nii.gz`` — the out-of-fold Stage-1 predictions, once a step writes them;
3. the ground truth of the Stage-2 dataset (``labelsTr/<case>.nii.gz``, labels 1, 4, 5) — logged as a warning:
   fine for the synthetic demo, optimistic for a real cohort.

Outputs: ``imagesTr/<case>_0001.nii.gz``, ``_0002``, … (float32, the ROI's geometry) in the order of
``map_features``, and ``dataset.json`` ``channel_names`` = ``{"0": "CT", "1": <map feature 1>, …}`` (nnU-Net
normalises a channel named after a feature with its per-case z-score; see :mod:`pdacrad.inference.radiomics_inputs`).
Cases run in parallel on Dask (a LocalCluster by default, ``--scheduler`` for an existing one). Each case is
stamped in ``<work_dir>/radiomics/maps/<case>.json`` with a hash of the map features, map params, mask source and
dilation once its channels are written; a rerun skips stamped cases, so an interrupted run resumes and changed
settings recompute. Channels beyond the current feature count (from an earlier, longer list) are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from pdacrad.errors import InvalidInputError
from pdacrad.labels import PANCREAS_LABELS
from pdacrad_train.config import TrainConfig
from pdacrad_train.global_features import (
    dask_client,
    feature_folder,
    training_cases,
)
from pdacrad_train.options import CONFIG as _CONFIG
from pdacrad_train.options import WORK_DIR as _WORK_DIR
from pdacrad_train.radiomics_config import load_radiomics_config
from pdacrad_train.step import step
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapJob:
    """One case: its Stage-2 ROI CT, the pancreas source (``labels``: which values are pancreas; ``None``: any
    non-zero), and the raw ``imagesTr`` folder its channels go to."""

    case: str
    image: Path
    mask: Path
    labels: tuple[int, ...] | None
    images_dir: Path


def channel_path(images_dir: Path, case: str, channel: int) -> Path:
    """nnU-Net's file of one input channel: ``<images_dir>/<case>_<channel:04d>.nii.gz``."""
    return images_dir / f"{case}_{channel:04d}.nii.gz"


def maps_cache_key(spec: dict[str, Any], mask_source: str, dilation_mm: float, dtype: str) -> str:
    """sha256 of what decides a case's maps: map features, map params, mask source, mask dilation, precision."""
    text = json.dumps(
        {
            "map_features": spec["map_features"],
            "map_params": spec["map_params"],
            "mask_source": mask_source,
            "dilation_mm": dilation_mm,
            "dtype": dtype,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def is_done(stamp_dir: Path, job: MapJob, key: str, n_maps: int) -> bool:
    """Whether ``job`` has a stamp with ``key`` and all ``n_maps`` channel files."""
    stamp = stamp_dir / f"{job.case}.json"
    try:
        if json.loads(stamp.read_text()).get("key") != key:
            return False
    except (OSError, json.JSONDecodeError):
        return False
    return all(channel_path(job.images_dir, job.case, c).is_file() for c in range(1, n_maps + 1))


def compute_case(
    job: MapJob, spec_dict: dict[str, Any], key: str, stamp_dir: Path, device: str
) -> dict[str, Any]:
    """Compute one case's maps, write its channels atomically, then its stamp (runs on a Dask worker). Returns
    the stamp: ``case``, ``key``, ``mask_voxels`` (map-mask voxels), ``seconds``."""
    import numpy as np
    import SimpleITK as sitk

    from pdacrad.inference.radiomics_inputs import compute_map_channels, map_mask, on_grid
    from pdacrad.io.atomic import atomic_write_json
    from pdacrad.radiomics_spec import RadiomicsSpec

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    start = time.perf_counter()
    spec = RadiomicsSpec.from_dict(spec_dict)
    ct = sitk.ReadImage(str(job.image))
    source = sitk.ReadImage(str(job.mask))
    array = sitk.GetArrayFromImage(source)
    pancreas = sitk.GetImageFromArray(
        (np.isin(array, job.labels) if job.labels else array != 0).astype(np.uint8)
    )
    pancreas.CopyInformation(source)
    mask = map_mask(on_grid(pancreas, ct))
    maps = compute_map_channels(ct, mask, spec, device)
    for channel, array_zyx in enumerate(maps, start=1):
        image = sitk.GetImageFromArray(array_zyx.astype(np.float32, copy=False))
        image.CopyInformation(ct)
        target = channel_path(job.images_dir, job.case, channel)
        # beside imagesTr, not in it (nnU-Net lists every *.nii.gz there), on the same file system (atomic rename)
        part = job.images_dir.parent / ".maps_tmp" / target.name
        part.parent.mkdir(exist_ok=True)
        sitk.WriteImage(image, str(part), useCompression=True)
        os.replace(part, target)
    stale = len(maps) + 1
    while channel_path(job.images_dir, job.case, stale).is_file():
        channel_path(job.images_dir, job.case, stale).unlink()
        stale += 1
    record = {
        "case": job.case,
        "key": key,
        "mask": str(job.mask),
        "mask_voxels": int(sitk.GetArrayViewFromImage(mask).sum()),
        "seconds": time.perf_counter() - start,
    }
    atomic_write_json(record, stamp_dir / f"{job.case}.json")
    return record


def map_jobs(
    ws: Workspace, config: TrainConfig, cases: Sequence[str], masks: Path | None
) -> tuple[list[MapJob], str]:
    """Jobs for ``cases`` and a description of the mask source (see the module docstring for the order)."""
    raw = ws.raw_dataset(config.stage2)
    images = raw / "imagesTr"
    oof = ws.stage1_oof
    if masks is None and oof.is_dir():
        masks = oof
    if masks is not None:
        jobs = [MapJob(c, channel_path(images, c, 0), masks / f"{c}.nii.gz", None, images) for c in cases]
        source = f"stage-1 masks in {masks}"
    else:
        logger.warning(
            "No Stage-1 out-of-fold masks (%s) and no --masks: maps inside the GROUND-TRUTH pancreas (labels 1, 4, "
            "5). Fine for the synthetic demo; on real data train with Stage-1 masks, as inference uses.",
            oof,
        )
        labels = raw / "labelsTr"
        jobs = [
            MapJob(c, channel_path(images, c, 0), labels / f"{c}.nii.gz", PANCREAS_LABELS, images)
            for c in cases
        ]
        source = "ground truth labels 1, 4, 5"
    missing = [p for job in jobs for p in (job.image, job.mask) if not p.is_file()]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} input file(s) missing, e.g. {missing[0]}; run `convert` first."
        )
    return jobs, source


def update_dataset_json(raw: Path, map_features: Sequence[str], ws: Workspace, config: TrainConfig) -> Path:
    """Set ``channel_names`` of the Stage-2 raw ``dataset.json`` to CT + the map features (written atomically);
    warn when an existing preprocessed dataset was made with other channels (it must be preprocessed again)."""
    from pdacrad.io.atomic import atomic_write_json

    path = raw / "dataset.json"
    dataset = json.loads(path.read_text())
    channels = {"0": "CT", **{str(i): name for i, name in enumerate(map_features, start=1)}}
    dataset["channel_names"] = channels
    atomic_write_json(dataset, path)
    preprocessed = ws.preprocessed_dataset(config.stage2) / "dataset.json"
    if preprocessed.is_file() and json.loads(preprocessed.read_text()).get("channel_names") != channels:
        logger.warning(
            "%s was preprocessed with other input channels: delete %s and run `fit` again.",
            preprocessed,
            preprocessed.parent,
        )
    return path


def run_maps(
    config: TrainConfig,
    ws: Workspace,
    radiomics_json: Path | None = None,
    masks: Path | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    device: str = "cpu",
    processes: bool = True,
) -> dict[str, Any]:
    """The ``maps`` step. Returns ``{"computed", "cached", "seconds_per_case", "map_features"}``."""
    from distributed import as_completed
    from tqdm import tqdm

    from pdacrad.inference.radiomics_inputs import MAP_DTYPE, MAP_MASK_DILATION_MM
    from pdacrad.radiomics_spec import RadiomicsSpec

    path = radiomics_json or feature_folder(ws) / "radiomics.json"
    if not path.is_file():
        raise InvalidInputError(
            f"{path} not found: run `pdacrad-train select` first (or pass --radiomics-json)."
        )
    spec = RadiomicsSpec.load(path)
    if not spec.map_features:
        raise InvalidInputError(f"{path} lists no map_features: nothing to compute.")
    spec_dict = spec.to_dict()
    cases = list(training_cases(ws)["case"])
    jobs, source = map_jobs(ws, config, cases, masks)
    key = maps_cache_key(spec_dict, source, MAP_MASK_DILATION_MM, MAP_DTYPE)
    stamp_dir = feature_folder(ws) / "maps"
    stamp_dir.mkdir(parents=True, exist_ok=True)
    todo = [job for job in jobs if not is_done(stamp_dir, job, key, len(spec.map_features))]
    logger.info(
        "maps: %d feature(s) %s; %d case(s) done, %d to compute",
        len(spec.map_features),
        list(spec.map_features),
        len(jobs) - len(todo),
        len(todo),
    )
    seconds: list[float] = []
    if todo:
        failures = []
        with dask_client(scheduler, n_workers, processes) as client:
            futures = {
                client.submit(compute_case, j, spec_dict, key, stamp_dir, device, pure=False): j for j in todo
            }
            for future in tqdm(as_completed(futures), total=len(futures), desc="maps", unit="case"):
                if future.status == "error":
                    failures.append((futures[future].case, future.exception()))
                else:
                    seconds.append(float(future.result()["seconds"]))
        if failures:
            case, error = failures[0]
            raise RuntimeError(f"maps failed for {len(failures)} case(s), first {case}: {error}")
    update_dataset_json(ws.raw_dataset(config.stage2), spec.map_features, ws, config)
    per_case = sum(seconds) / len(seconds) if seconds else 0.0
    logger.info(
        "maps: %d computed (%.1f s per case on one worker), %d cached → %s",
        len(seconds),
        per_case,
        len(jobs) - len(todo),
        ws.raw_dataset(config.stage2) / "imagesTr",
    )
    return {
        "computed": len(seconds),
        "cached": len(jobs) - len(todo),
        "seconds_per_case": per_case,
        "map_features": list(spec.map_features),
    }


_RADIOMICS = typer.Option(
    None,
    "--radiomics-config",
    help="Radiomics settings YAML, for n_workers (default: <config stem>.radiomics.yaml beside --config).",
)
_RADIOMICS_JSON = typer.Option(
    None,
    "--radiomics-json",
    help="radiomics.json to use (default: <work_dir>/radiomics/radiomics.json from select).",
)
_MASKS = typer.Option(
    None,
    "--masks",
    help="Folder of Stage-1 pancreas masks <case>.nii.gz on the full CT grid (non-zero = pancreas); default "
    "<work_dir>/stage1_oof, else the ground-truth pancreas with a warning.",
)
_SCHEDULER = typer.Option(
    None,
    "--scheduler",
    help="Address of a running Dask scheduler (default: a LocalCluster, one worker per core).",
)
_DEVICE = typer.Option("cpu", "--device", help="Where maps are computed: auto, cpu or cuda.")


def command(
    config: Path = _CONFIG,
    work_dir: Path | None = _WORK_DIR,
    radiomics_config: Path | None = _RADIOMICS,
    radiomics_json: Path | None = _RADIOMICS_JSON,
    masks: Path | None = _MASKS,
    scheduler: str | None = _SCHEDULER,
    device: str = _DEVICE,
) -> None:
    """Parametric maps of radiomics.json's map_features → extra input channels of the Stage-2 raw dataset.

    Per case, on its Stage-2 ROI crop, inside the pancreas (Stage-1 out-of-fold masks: --masks or
    <work_dir>/stage1_oof; else the ground truth, with a warning) dilated by 5 mm; initValue outside. Writes
    imagesTr/<case>_0001.nii.gz, _0002, ... in radiomics.json order and dataset.json channel_names. Parallel over
    cases with Dask; each case stamped in <work_dir>/radiomics/maps/, so a rerun computes only what is missing or
    stale. Needs `convert` and `select` first.
    """
    with step(config, work_dir) as (cfg, ws):
        rcfg = load_radiomics_config(cfg, radiomics_config)
        result = run_maps(cfg, ws, radiomics_json, masks, scheduler, rcfg.n_workers, device)
        typer.echo(
            f"maps {', '.join(result['map_features'])}: {result['computed']} computed "
            f"({result['seconds_per_case']:.1f} s per case), {result['cached']} cached"
        )
