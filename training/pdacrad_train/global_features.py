"""``global-features``: segment-level PyRadiomics features of the whole pancreas, one row per training case.

The mask is the **Stage-1 predicted** pancreas, as at inference (for training cases: out-of-fold predictions, so
that a case's features never come from a model that saw it). Where the masks come from, first match wins:

1. ``--masks DIR`` — ``DIR/<case>.nii.gz``, any non-zero voxel is pancreas;
2. ``<work_dir>/stage1_oof/<case>.nii.gz`` — the out-of-fold Stage-1 predictions, once a step writes them;
3. the ground truth ``labelsTr/<case>.nii.gz`` with labels 1, 4, 5 (tumour, parenchyma, duct) — logged as a
   warning: fine for the synthetic demo, optimistic for a real cohort.

Cases run in parallel on a Dask cluster (a ``distributed.LocalCluster`` with one single-threaded worker process
per core by default, or an existing scheduler). Each case is cached as ``<work_dir>/radiomics/global_features/
<case>.json`` stamped with a hash of the params and the mask source; a run skips cases whose cache matches, so
an interrupted run resumes and a changed params file recomputes. A case whose mask is empty gets a row of NaN
and a warning. The table ``<work_dir>/radiomics/global_features.csv`` is case × feature (PyRadiomics names).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

from pdacrad.errors import InvalidInputError
from pdacrad.labels import PANCREAS_LABELS
from pdacrad_train.options import CONFIG as _CONFIG
from pdacrad_train.options import WORK_DIR as _WORK_DIR
from pdacrad_train.radiomics_config import RadiomicsConfig, load_radiomics_config
from pdacrad_train.step import step
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseJob:
    """One case to extract: CT path, mask path, and which mask labels are pancreas (``None``: any non-zero)."""

    case: str
    image: Path
    mask: Path
    labels: tuple[int, ...] | None = None


def feature_folder(ws: Workspace) -> Path:
    """``<work_dir>/radiomics``: the per-case cache, the features table, and the ``select`` outputs."""
    return ws.root / "radiomics"


def features_table_path(ws: Workspace) -> Path:
    """The case × feature table written by ``global-features`` and read by ``select``."""
    return feature_folder(ws) / "global_features.csv"


def load_params(path: str | Path) -> dict[str, Any]:
    """A PyRadiomics params YAML as a dict (pdacrad's optional ``pdacrad:`` section kept)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"radiomics params file not found: {path}.")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise InvalidInputError(f"radiomics params file {path} must hold a mapping of PyRadiomics sections.")
    from pdacrad.radiomics.settings import settings_from_dict

    settings_from_dict(data, where=str(path))  # PyRadiomics' own schema: fail here, not on every worker
    return data


def cache_key(params: Mapping[str, Any], mask_source: str) -> str:
    """sha256 of the params and the mask source: a cached case is reused only when both are unchanged."""
    text = json.dumps({"params": params, "mask_source": mask_source}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def extract_case(job: CaseJob, params: Mapping[str, Any], key: str, cache_dir: Path) -> str:
    """Compute one case and write its cache JSON atomically (runs on a Dask worker). Returns ``"ok"`` or
    ``"empty"`` (empty mask: the cache holds no features and the table row is NaN)."""
    import numpy as np
    import SimpleITK as sitk

    from pdacrad.io.atomic import atomic_write_json
    from pdacrad.radiomics import compute_features

    # PyRadiomics warns once per case about settings it ignores (e.g. GLCM SumAverage); keep worker logs quiet.
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    image = sitk.ReadImage(str(job.image))
    labels = sitk.ReadImage(str(job.mask))
    array = sitk.GetArrayFromImage(labels)
    binary = np.isin(array, job.labels) if job.labels is not None else array != 0
    mask = sitk.GetImageFromArray(binary.astype(np.uint8))
    mask.CopyInformation(labels)
    empty = not binary.any()
    features = {} if empty else compute_features(image, mask, params)
    record = {"case": job.case, "key": key, "mask": str(job.mask), "empty": empty, "features": features}
    # json cannot hold NaN portably; a feature PyRadiomics returns as NaN is stored as null.
    record["features"] = {k: (v if math.isfinite(v) else None) for k, v in features.items()}
    atomic_write_json(record, cache_dir / f"{job.case}.json")
    return "empty" if empty else "ok"


def is_cached(cache_dir: Path, case: str, key: str) -> bool:
    """Whether ``case`` has a cache file computed with ``key``."""
    path = cache_dir / f"{case}.json"
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("key") == key
    except json.JSONDecodeError:
        return False


@contextmanager
def dask_client(
    scheduler: str | None = None, n_workers: int | None = None, processes: bool = True
) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` (an address such as ``tcp://host:8786``) if given, else on a
    new ``LocalCluster`` with ``n_workers`` single-threaded worker processes (default: one per CPU core), or
    with ``processes=False`` one in-process worker thread."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # One single-threaded worker *process* per core: PyRadiomics' params validation (pykwalify) is not
    # thread-safe, and its C extensions hold the GIL. In-process (``processes=False``, for tests) means one thread.
    workers = (n_workers or os.cpu_count() or 1) if processes else 1
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def compute_global_features(
    jobs: Sequence[CaseJob], params: Mapping[str, Any], mask_source: str, cache_dir: Path, client: Any
) -> dict[str, int]:
    """Extract every job not already cached with the same params and mask source, in parallel on ``client``.

    Returns counts ``{"cached", "computed", "empty"}``. A failing case raises after the other cases finish, so
    their caches are kept.
    """
    from distributed import as_completed
    from tqdm import tqdm

    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(params, mask_source)
    todo = [job for job in jobs if not is_cached(cache_dir, job.case, key)]
    counts = {"cached": len(jobs) - len(todo), "computed": 0, "empty": 0}
    logger.info("global features: %d case(s) cached, %d to compute", counts["cached"], len(todo))
    if not todo:
        return counts
    futures = {client.submit(extract_case, job, params, key, cache_dir, pure=False): job for job in todo}
    failures = []
    for future in tqdm(as_completed(futures), total=len(futures), desc="global features", unit="case"):
        job = futures[future]
        if future.status == "error":
            failures.append((job.case, future.exception()))
            continue
        counts["computed"] += 1
        if future.result() == "empty":
            counts["empty"] += 1
            logger.warning("%s: the pancreas mask %s is empty; its features are NaN.", job.case, job.mask)
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


def case_jobs(ws: Workspace, cases: Sequence[str], masks: Path | None) -> tuple[list[CaseJob], str]:
    """Jobs for ``cases`` and a description of the mask source (see the module docstring for the order)."""
    images = ws.cohort / "imagesTr"
    oof = ws.stage1_oof
    if masks is None and oof.is_dir():
        masks = oof
    if masks is not None:
        jobs = [CaseJob(c, images / f"{c}_0000.nii.gz", masks / f"{c}.nii.gz") for c in cases]
        source = f"stage-1 masks in {masks}"
    else:
        logger.warning(
            "No Stage-1 out-of-fold masks (%s) and no --masks: using the GROUND-TRUTH pancreas (labels 1, 4, 5). "
            "Fine for the synthetic demo; on real data the features would be optimistic.",
            oof,
        )
        labels = ws.cohort / "labelsTr"
        jobs = [
            CaseJob(c, images / f"{c}_0000.nii.gz", labels / f"{c}.nii.gz", PANCREAS_LABELS) for c in cases
        ]
        source = "ground truth labels 1, 4, 5"
    missing = [p for job in jobs for p in (job.image, job.mask) if not p.is_file()]
    if missing:
        raise InvalidInputError(f"{len(missing)} input file(s) missing, e.g. {missing[0]}.")
    return jobs, source


def training_cases(ws: Workspace) -> pd.DataFrame:
    """``case`` and ``label`` (0/1 PDAC) of every training case: ``convert``'s cases.csv, else the cohort's."""
    import pandas as pd

    for table in (ws.cases_table, ws.cohort / "cases.csv"):
        if table.is_file():
            frame = pd.read_csv(table, dtype={"case": str})
            return frame[["case", "label"]]
    raise InvalidInputError(f"{ws.cases_table} not found: run `pdacrad-train convert` first.")


def run_global_features(
    ws: Workspace,
    rcfg: RadiomicsConfig,
    masks: Path | None = None,
    scheduler: str | None = None,
    processes: bool = True,
) -> Path:
    """The ``global-features`` step: cache every training case, then write the features table. Returns its path."""
    cases = list(training_cases(ws)["case"])
    jobs, source = case_jobs(ws, cases, masks)
    from pdacrad.io.atomic import atomic_write

    params = load_params(rcfg.params_path)
    cache_dir = feature_folder(ws) / "global_features"
    with dask_client(scheduler, rcfg.n_workers, processes) as client:
        counts = compute_global_features(jobs, params, source, cache_dir, client)
    table = features_table(cases, cache_dir)
    target = features_table_path(ws)
    atomic_write(target, lambda tmp: table.to_csv(tmp))
    logger.info(
        "global features: %d cases × %d features (%s; %d computed, %d cached, %d empty) → %s",
        *table.shape,
        source,
        counts["computed"],
        counts["cached"],
        counts["empty"],
        target,
    )
    return target


_RADIOMICS = typer.Option(
    None,
    "--radiomics-config",
    help="Radiomics settings YAML (default: <config stem>.radiomics.yaml beside --config, else the paper's).",
)
_MASKS = typer.Option(
    None,
    "--masks",
    help="Folder of Stage-1 pancreas masks <case>.nii.gz (non-zero = pancreas); default <work_dir>/stage1_oof, "
    "else the ground-truth pancreas with a warning.",
)
_SCHEDULER = typer.Option(
    None,
    "--scheduler",
    help="Address of a running Dask scheduler (default: a LocalCluster, one worker per core).",
)


def command(
    config: Path = _CONFIG,
    work_dir: Path | None = _WORK_DIR,
    radiomics_config: Path | None = _RADIOMICS,
    masks: Path | None = _MASKS,
    scheduler: str | None = _SCHEDULER,
) -> None:
    """Segment-level PyRadiomics features of the whole pancreas of every training case → features table.

    Masks: Stage-1 out-of-fold predictions (--masks, or <work_dir>/stage1_oof), else the ground-truth pancreas
    (labels 1, 4, 5) with a warning. Parallel over cases with Dask; each case cached as
    <work_dir>/radiomics/global_features/<case>.json, so a rerun computes only what is missing or stale.
    Writes <work_dir>/radiomics/global_features.csv (case × feature; an empty mask gives a row of NaN).
    """
    with step(config, work_dir) as (cfg, ws):
        table = run_global_features(ws, load_radiomics_config(cfg, radiomics_config), masks, scheduler)
        typer.echo(f"→ {table}")
