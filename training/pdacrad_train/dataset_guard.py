"""Planning + preprocessing of one nnU-Net dataset as one guarded unit, shared by every job on the work folder.

nnU-Net's ``DefaultPreprocessor.run`` begins by deleting its output folder, and planning rewrites the plans file,
so jobs that share ``nnUNet_preprocessed`` (one fold per GPU node: ``experiment --steps stage1 --folds k``) must
never plan or preprocess a dataset at the same time, nor while another job trains on it. Per preprocessed dataset
folder (``<nnUNet_preprocessed>/DatasetXXX_Name/``):

* ``pdacrad.lock`` — a :class:`~pdacrad_train.shared_lock.FolderLock`: the job that takes it plans and
  preprocesses; every other job waits for it, then finds the work done and skips it;
* ``pdacrad_preprocessed.json`` — the done marker: what was preprocessed (dataset id, plans identifier,
  configuration, a digest of the plans entries that preprocessing reads, a digest of the raw case files and
  ``dataset.json``, the number of cases). A job whose inputs match it skips; one whose inputs differ
  re-preprocesses — only when no training of the dataset runs;
* ``pdacrad_jobs/`` — a :class:`~pdacrad_train.shared_lock.JobRegistry` of the trainings that read the dataset:
  a training registers under the lock (so it never starts while a preprocessing runs) and unregisters when it
  ends; a changed input with a registered training is refused with a message, not preprocessed under it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError
from pdacrad.io.atomic import atomic_write_json
from pdacrad_train.shared_lock import FolderLock, JobRegistry, break_lock

logger = logging.getLogger(__name__)

LOCK_NAME = "pdacrad.lock"
JOBS_FOLDER = "pdacrad_jobs"
MARKER_NAME = "pdacrad_preprocessed.json"
#: Entries of nnU-Net 2.8.1's plans that ``DefaultPreprocessor`` reads (the values of the preprocessed arrays
#: depend on these; patch size and network only change blosc2 chunking or nothing).
PLANS_KEYS = ("dataset_name", "transpose_forward", "foreground_intensity_properties_per_channel")
CONFIGURATION_KEYS = (
    "data_identifier",
    "preprocessor_name",
    "spacing",
    "normalization_schemes",
    "use_mask_for_norm",
    "resampling_fn_data",
    "resampling_fn_data_kwargs",
    "resampling_fn_seg",
    "resampling_fn_seg_kwargs",
)


def preprocessing_record(
    dataset_id: int,
    plans_identifier: str,
    configuration: str,
    plans: dict[str, Any],
    raw_digest: str,
    n_cases: int,
) -> dict[str, Any]:
    """The done marker's content: what a preprocessed dataset was made from."""
    conf = plans["configurations"][configuration]
    relevant = {
        "plans": {k: plans.get(k) for k in PLANS_KEYS},
        "configuration": {k: conf.get(k) for k in CONFIGURATION_KEYS},
    }
    digest = hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
    return {
        "dataset_id": dataset_id,
        "plans_identifier": plans_identifier,
        "configuration": configuration,
        "plans_digest": digest,
        "raw_digest": raw_digest,
        "n_cases": n_cases,
    }


class DatasetGuard:
    """The lock, done marker and training registry of one preprocessed dataset ``folder`` (module docstring).
    ``timeout_s`` bounds every wait for the lock (``None``: wait as long as the holder works)."""

    def __init__(self, folder: Path, timeout_s: float | None = None, poll_s: float = 2.0) -> None:
        self.folder = Path(folder)
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.jobs = JobRegistry(self.folder / JOBS_FOLDER)

    @property
    def marker(self) -> Path:
        return self.folder / MARKER_NAME

    def _lock(self, purpose: str) -> FolderLock:
        return FolderLock(self.folder / LOCK_NAME, purpose, self.timeout_s, self.poll_s)

    @contextmanager
    def unit(self, purpose: str) -> Iterator[DatasetGuard]:
        """Hold the dataset's lock for the block (planning and preprocessing run inside one)."""
        with self._lock(purpose):
            yield self

    @contextmanager
    def training(self, purpose: str) -> Iterator[None]:
        """Register a training that reads the dataset for the block. Registered under the lock, so it waits for
        a running preprocessing and a later preprocessing sees it."""
        with ExitStack() as stack:
            with self._lock(f"register {purpose}"):
                stack.enter_context(self.jobs.registered(purpose))
            yield

    def is_current(self, record: dict[str, Any]) -> bool:
        """Whether the done marker records exactly ``record``."""
        if not self.marker.is_file():
            return False
        try:
            return bool(json.loads(self.marker.read_text()) == record)
        except ValueError:
            return False

    def begin_rebuild(self) -> None:
        """Before (re)preprocessing inside :meth:`unit`: refuse when a training reads the dataset, else drop
        the done marker (a killed preprocessing is then redone, never trusted).

        Raises:
            InvalidInputError: a registered training may still run.
        """
        running = self.jobs.running()
        if running:
            had = (
                "its inputs changed since it was preprocessed"
                if self.marker.is_file()
                else "it has no done marker"
            )
            raise InvalidInputError(
                f"{self.folder}: must be preprocessed again ({had}) but {len(running)} training(s) read it: "
                + "; ".join(h.describe() for h in running)
                + ". Rerun when they have finished; if they are dead on another machine, clear their records with "
                "`pdacrad-train experiment --break-lock`."
            )
        if self.marker.is_file():
            logger.warning(
                "%s: plans or raw cases changed since preprocessing; preprocessing again", self.folder
            )
        self.marker.unlink(missing_ok=True)

    def mark_done(self, record: dict[str, Any]) -> None:
        """Write the done marker (atomically) after a complete preprocessing."""
        atomic_write_json(record, self.marker)


def break_dataset_locks(preprocessed_root: Path) -> list[str]:
    """Remove every dataset lock and training record under ``preprocessed_root`` (jobs known to be dead, e.g. on
    another machine); returns one line per removed item for the log."""
    removed = []
    for folder in sorted(p for p in Path(preprocessed_root).glob("*") if p.is_dir()):
        holder = break_lock(folder / LOCK_NAME)
        if holder is not None:
            removed.append(f"{folder.name}: lock of {holder.describe()}")
        for job in JobRegistry(folder / JOBS_FOLDER).clear():
            removed.append(f"{folder.name}: training record {job.describe()}")
    return removed
