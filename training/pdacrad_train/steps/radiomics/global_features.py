"""``global-features``: segment-level PyRadiomics features of the whole pancreas, one row per training case.

The pancreas is :func:`pdacrad.inference.radiomics_inputs.radiomics_pancreas` (largest component) of each case's
Stage-1 mask — out-of-fold predictions by default, so that a case's features never come from a model that saw it;
see :mod:`pdacrad_train.masks` for the sources (``--masks``, ``<work_dir>/stage1_oof``, the ground truth only with
``--allow-gt-masks``).

Cases run in parallel on a Dask cluster (:mod:`pdacrad_train.parallel`: a ``distributed.LocalCluster`` with one
single-threaded worker process per core by default, or an existing scheduler). Each case is cached as ``<work_dir>/radiomics/global_features/
<case>.json`` stamped with a key of what produced it: the params, the mask source's kind and the sha256 of the
case's mask file, the pancreas rule and the CT file (path, size, mtime). A run skips cases whose stamp matches,
so an interrupted run resumes and new masks or params recompute. A case whose pancreas is empty gets a row of
NaN and a warning. The table ``<work_dir>/radiomics/global_features.csv`` is case × feature (PyRadiomics names).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdacrad.errors import InvalidInputError
from pdacrad.model.radiomics_spec import Preprocessing
from pdacrad_train.cases import training_cases
from pdacrad_train.feature_cache import CaseJob, cache_key, case_job, is_cached
from pdacrad_train.masks import MaskSource, resolve_mask_source
from pdacrad_train.parallel import MapCompute
from pdacrad_train.radiomics_config import RadiomicsConfig, load_params
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def extract_case(
    job: CaseJob,
    params: Mapping[str, Any],
    key: str,
    cache_dir: Path,
    preprocessing: Preprocessing = Preprocessing(),
) -> str:
    """Compute one case on its radiomics pancreas and write its cache JSON atomically (runs on a Dask worker).
    Returns ``"ok"`` or ``"empty"`` (no pancreas: the cache holds no features and the table row is NaN)."""
    import SimpleITK as sitk

    from pdacrad.io.atomic import atomic_write_json
    from pdacrad.radiomics import compute_features
    from pdacrad_train.masks import read_pancreas

    # PyRadiomics warns once per case about settings it ignores (e.g. GLCM SumAverage); keep worker logs quiet.
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    image = sitk.ReadImage(str(job.image))
    mask = read_pancreas(job.mask, job.labels, preprocessing)
    voxels = int(sitk.GetArrayViewFromImage(mask).sum())
    # as inference's compute_global_vector: the pancreas carries the params' label value
    label = int(dict(params.get("setting") or {}).get("label", 1))
    features = compute_features(image, mask * label, params, label=label) if voxels else {}
    record = {
        "case": job.case,
        "key": key,
        "mask": str(job.mask),
        "pancreas_voxels": voxels,
        "empty": not voxels,
    }
    # json cannot hold NaN portably; a feature PyRadiomics returns as NaN is stored as null.
    record["features"] = {k: (v if math.isfinite(v) else None) for k, v in features.items()}
    atomic_write_json(record, cache_dir / f"{job.case}.json")
    return "ok" if voxels else "empty"


def compute_global_features(
    jobs: Sequence[CaseJob],
    params: Mapping[str, Any],
    cache_dir: Path,
    client: Any,
    preprocessing: Preprocessing = Preprocessing(),
) -> dict[str, int]:
    """Extract every job whose cache is missing or stale (:func:`cache_key`), in parallel on ``client``.

    Returns counts ``{"cached", "computed", "empty"}``. A failing case raises after the other cases finish, so
    their caches are kept.
    """
    from distributed import as_completed
    from tqdm import tqdm

    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = {job.case: cache_key(params, job, preprocessing) for job in jobs}
    todo = [job for job in jobs if not is_cached(cache_dir, job.case, keys[job.case])]
    counts = {"cached": len(jobs) - len(todo), "computed": 0, "empty": 0}
    logger.info("global features: %d case(s) cached, %d to compute", counts["cached"], len(todo))
    if not todo:
        return counts
    futures = {
        client.submit(extract_case, job, params, keys[job.case], cache_dir, preprocessing, pure=False): job
        for job in todo
    }
    failures = []
    for future in tqdm(as_completed(futures), total=len(futures), desc="global features", unit="case"):
        job = futures[future]
        if future.status == "error":
            failures.append((job.case, future.exception()))
            continue
        counts["computed"] += 1
        if future.result() == "empty":
            counts["empty"] += 1
            logger.warning("%s: the pancreas of %s is empty; its features are NaN.", job.case, job.mask)
    if failures:
        case, error = failures[0]
        raise RuntimeError(f"global features failed for {len(failures)} case(s), first {case}: {error}")
    return counts


def features_table(cases: Sequence[str], cache_dir: Path) -> pd.DataFrame:
    """Case × feature table (index ``case``) from the cache; empty-mask cases and missing values are NaN."""
    import numpy as np
    import pandas as pd

    rows: dict[str, dict[str, float]] = {}
    for case in cases:
        record = json.loads((cache_dir / f"{case}.json").read_text())
        rows[case] = {k: (np.nan if v is None else v) for k, v in record["features"].items()}
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(list(cases))
    table.index.name = "case"
    return table


def case_jobs(ws: Workspace, cases: Sequence[str], source: MaskSource) -> list[CaseJob]:
    """Jobs for ``cases`` with their masks from ``source`` (see :func:`pdacrad_train.masks.resolve_mask_source`).

    Raises:
        InvalidInputError: a CT of the cohort is missing.
    """
    jobs = [case_job(ws, c, source) for c in cases]
    missing = [job.image for job in jobs if not job.image.is_file()]
    if missing:
        raise InvalidInputError(f"{len(missing)} CT file(s) missing, e.g. {missing[0]}.")
    return jobs


def run_global_features(
    ws: Workspace,
    rcfg: RadiomicsConfig,
    compute: MapCompute,
    masks: Path | None = None,
    allow_gt_masks: bool = False,
    client: Any | None = None,
) -> Path:
    """The ``global-features`` step: cache every training case on ``client`` (else a new cluster of
    ``compute``), then write the features table. Returns its path.

    Raises:
        InvalidInputError: no usable mask source (see :func:`pdacrad_train.masks.resolve_mask_source`).
    """
    from pdacrad.io.atomic import atomic_write

    start = time.perf_counter()
    cases = list(training_cases(ws)["case"])
    source = resolve_mask_source(ws, cases, masks, allow_gt_masks)
    jobs = case_jobs(ws, cases, source)
    params = load_params(rcfg.params_path)
    cache_dir = ws.global_features_cache
    if client is None:
        with compute.client() as own:
            counts = compute_global_features(jobs, params, cache_dir, own)
    else:
        counts = compute_global_features(jobs, params, cache_dir, client)
    table = features_table(cases, cache_dir)
    target = ws.global_features_table
    atomic_write(target, lambda tmp: table.to_csv(tmp))
    logger.info(
        "global features: %d cases × %d features from %s (%d computed, %d cached, %d empty) in %.1f s → %s",
        *table.shape,
        source.describe(),
        counts["computed"],
        counts["cached"],
        counts["empty"],
        time.perf_counter() - start,
        target,
    )
    return target
