"""Cohort inference (``pdacrad predict-cohort``): many CTs in one run on Dask, the two models loaded once per
worker, resumable, one summary row per case.

Input: a folder of CT images, one case per file (any of :data:`pdacrad.io.gc.IMAGE_SUFFIXES`); the case id is
the file name without its suffix and without nnU-Net's channel suffix ``_0000`` (``imagesTr/<case>_0000.nii.gz``
→ ``<case>``, so outputs line up with ``labelsTr/<case>.nii.gz``).

Output (the layout of :mod:`pdacrad.io.predictions`, so a cohort folder is directly evaluable)::

    <out>/<case>/detection_map.mha   float32, the input's geometry (written atomically, first)
    <out>/<case>/case.json           runtime, seconds per step, input path, pancreas found, raw likelihood (before
                                     calibration.json; null when uncalibrated)
    <out>/<case>/likelihood.json     bare float (written atomically, last: it marks the case finished)
    <out>/summary.csv                case, likelihood, runtime_s, status (ok | skipped | failed), message
    <report>/<case>.png, .json       with ``--report`` (:mod:`pdacrad.inference.report`)

A case whose ``detection_map.mha`` and ``likelihood.json`` both exist is skipped (``skipped``: outputs of an
earlier run); failed cases are retried on the next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import WorkerPlugin

from pdacrad.errors import InvalidInputError
from pdacrad.io.gc import IMAGE_SUFFIXES, case_id_of, is_image_file
from pdacrad.io.predictions import DETECTION_MAP_NAME, LIKELIHOOD_NAME, is_finished_case, read_likelihood

if TYPE_CHECKING:
    from distributed import Client

    from pdacrad.inference import InferenceConfig, Pipeline

logger = logging.getLogger(__name__)

CASE_JSON = "case.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_COLUMNS = ("case", "likelihood", "runtime_s", "status", "message")
PLUGIN_NAME = "pdacrad-pipeline"


@dataclass(frozen=True)
class CohortRunConfig:
    """One ``predict-cohort`` run.

    Attributes:
        input_dir: folder of CT images, one case per file.
        output_dir: one sub-folder per case, and ``summary.csv``.
        resources_dir: packaged model folder.
        device: ``auto``, ``cpu`` or ``cuda`` (each worker resolves it).
        scheduler: address of an existing Dask scheduler; ``None`` starts a LocalCluster.
        workers: LocalCluster worker processes (each loads both models once).
        report_dir: where per-case PNG/JSON reports go; ``None`` for none.
        processes: LocalCluster workers as processes (``False``: threads of this process, e.g. for tests).
        allow_non_ct: score inputs whose values are not HU at all (otherwise such a case fails, the others go on).
    """

    input_dir: Path
    output_dir: Path
    resources_dir: Path
    device: str = "auto"
    scheduler: str | None = None
    workers: int = 1
    report_dir: Path | None = None
    processes: bool = True
    allow_non_ct: bool = False


@dataclass(frozen=True)
class CaseOutcome:
    """One row of ``summary.csv``; ``likelihood`` and ``runtime_s`` are NaN for a failed case."""

    case: str
    likelihood: float
    runtime_s: float
    status: str
    message: str = ""


def list_cases(input_dir: Path) -> dict[str, Path]:
    """Case id → image path for every image file in ``input_dir`` (not recursive), sorted by case id.

    Raises:
        InvalidInputError: the folder is missing, has no image, or two files map to the same case id.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise InvalidInputError(f"input folder not found: {input_dir}.")
    cases: dict[str, Path] = {}
    for path in sorted(p for p in input_dir.iterdir() if is_image_file(p)):
        case = case_id_of(path)
        if case in cases:
            raise InvalidInputError(
                f"{path.name} and {cases[case].name} in {input_dir} are both case {case}."
            )
        cases[case] = path
    if not cases:
        raise InvalidInputError(
            f"no image in {input_dir} (expected files ending {', '.join(IMAGE_SUFFIXES)})."
        )
    return dict(sorted(cases.items()))


class PipelinePlugin(WorkerPlugin):
    """Dask worker plugin: builds one :class:`~pdacrad.inference.Pipeline` per worker at start-up, so every task
    on that worker reuses the loaded models."""

    name = PLUGIN_NAME

    def __init__(self, config: InferenceConfig, torch_threads: int | None = None) -> None:
        self.config = config
        self.torch_threads = torch_threads
        self.pipeline: Pipeline | None = None

    def setup(self, worker: Any) -> None:
        import torch

        from pdacrad.inference import Pipeline

        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        self.pipeline = Pipeline(self.config)
        logger.info("worker %s: models loaded", getattr(worker, "address", "?"))

    def teardown(self, worker: Any) -> None:
        self.pipeline = None


def _worker_pipeline() -> Pipeline:
    from distributed import get_worker

    plugin = get_worker().plugins[PLUGIN_NAME]
    assert isinstance(plugin, PipelinePlugin)
    if plugin.pipeline is None:  # setup failed on this worker; the task says so instead of hanging
        raise RuntimeError("this Dask worker has no loaded pipeline (see the worker's log)")
    return plugin.pipeline


def predict_case(case: str, image_path: Path, output_dir: Path, report_dir: Path | None) -> CaseOutcome:
    """Dask task: run the worker's pipeline on one CT and write its outputs (map, case.json, likelihood last).

    Any error becomes a ``failed`` outcome with its message, so one bad case never stops the cohort.
    """
    from pdacrad.io import atomic_write_image, atomic_write_json, load_ct

    t0 = time.perf_counter()
    try:
        pipeline = _worker_pipeline()
        ct = load_ct(image_path)
        result = pipeline.predict(ct, source=str(image_path))
        case_dir = Path(output_dir) / case
        atomic_write_image(result.detection_map, case_dir / DETECTION_MAP_NAME)
        if report_dir is not None:
            from pdacrad.inference.report import write_case_report

            write_case_report(result, ct, Path(report_dir), case)
        runtime = time.perf_counter() - t0
        info = {
            "case": case,
            "input": str(image_path),
            "runtime_s": runtime,
            "pancreas_found": result.pancreas_found,
            "raw_likelihood": result.raw_likelihood,
            "seconds": dict(result.seconds),
        }
        atomic_write_json(info, case_dir / CASE_JSON)
        atomic_write_json(float(result.likelihood), case_dir / LIKELIHOOD_NAME)
        return CaseOutcome(case, float(result.likelihood), runtime, "ok")
    except Exception as error:  # recorded per case by design
        logger.warning("case %s failed: %s: %s", case, type(error).__name__, error)
        return CaseOutcome(
            case, float("nan"), time.perf_counter() - t0, "failed", f"{type(error).__name__}: {error}"
        )


def _skipped_outcome(case: str, case_dir: Path) -> CaseOutcome:
    import json

    runtime = float("nan")
    # the runtime is informative only; a finished case without a readable case.json is still finished
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        runtime = float(json.loads((case_dir / CASE_JSON).read_text())["runtime_s"])
    return CaseOutcome(
        case, read_likelihood(case_dir / LIKELIHOOD_NAME), runtime, "skipped", "outputs of an earlier run"
    )


@contextmanager
def _client(config: CohortRunConfig, cores_per_worker: int) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    if config.scheduler:
        with Client(config.scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=config.workers,
            threads_per_worker=1,  # one case at a time per worker: torch uses the worker's cores
            processes=config.processes,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        logger.info(
            "Dask LocalCluster: %d worker(s), %d torch thread(s) each", config.workers, cores_per_worker
        )
        yield client


def write_summary(outcomes: list[CaseOutcome], path: Path) -> Path:
    """``summary.csv`` (:data:`SUMMARY_COLUMNS`), sorted by case, written atomically."""
    import pandas as pd

    from pdacrad.io import atomic_write

    table = pd.DataFrame(
        [asdict(o) for o in sorted(outcomes, key=lambda o: o.case)], columns=list(SUMMARY_COLUMNS)
    )
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return path


def run_cohort(config: CohortRunConfig) -> list[CaseOutcome]:
    """Predict every case of ``config.input_dir`` not finished yet, on Dask; write ``summary.csv``.

    Raises:
        InvalidInputError: unusable input folder or device.
        ResourceError: ``resources_dir`` missing or corrupt (checked here before any worker starts).
    """
    from distributed import as_completed
    from tqdm import tqdm

    from pdacrad.inference import InferenceConfig
    from pdacrad.inference.device import resolve_device
    from pdacrad.model.manifest import verify_resources

    cases = list_cases(config.input_dir)
    verify_resources(config.resources_dir)  # fail fast and clearly, not once per worker
    resolve_device(config.device)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    outcomes = [_skipped_outcome(c, output_dir / c) for c in cases if is_finished_case(output_dir / c)]
    todo = {c: p for c, p in cases.items() if not is_finished_case(output_dir / c)}
    logger.info("%d case(s): %d finished earlier, %d to predict", len(cases), len(outcomes), len(todo))
    if todo:
        threads = max(1, (os.cpu_count() or 1) // max(1, config.workers))
        inference = InferenceConfig(
            resources_dir=Path(config.resources_dir).resolve(),
            device=config.device,
            show_progress=False,
            allow_non_ct=config.allow_non_ct,
        )
        report_dir = Path(config.report_dir).resolve() if config.report_dir is not None else None
        with _client(config, threads) as client:
            client.register_plugin(PipelinePlugin(inference, threads), name=PLUGIN_NAME)
            futures = [
                client.submit(
                    predict_case, c, p.resolve(), output_dir.resolve(), report_dir, key=f"pdacrad-{c}"
                )
                for c, p in todo.items()
            ]
            for future in tqdm(as_completed(futures), total=len(futures), desc="cases", unit="case"):
                outcomes.append(_outcome_of(future))
    write_summary(outcomes, output_dir / SUMMARY_CSV)
    return sorted(outcomes, key=lambda o: o.case)


def _outcome_of(future: Any) -> CaseOutcome:
    """The task's outcome, or a ``failed`` row when the task itself died (e.g. its worker was killed)."""
    try:
        return future.result()
    except Exception as error:
        case = str(future.key).removeprefix("pdacrad-")
        logger.warning("case %s: task failed: %s: %s", case, type(error).__name__, error)
        return CaseOutcome(case, float("nan"), float("nan"), "failed", f"{type(error).__name__}: {error}")
