"""The run ledger of ``pdacrad-train experiment``: which unit of work (step × variant × fold) finished, when, how
long it took, and from which inputs; what each unit cost (CPU, peak memory, disk) in
``<work_dir>/experiment/costs/<unit>.json`` (:mod:`pdacrad_train.unit_costs`, written also when the unit fails).

One small JSON file per finished unit in ``<work_dir>/experiment/ledger/<unit>.json`` — so several machines
sharing the work folder (folds as independent jobs) never write the same file. A unit counts as done when its
ledger entry exists, its outputs are still there (the caller's ``complete`` check) and its inputs are those it was
made from. A unit may declare its inputs as named digests (``inputs``, :mod:`pdacrad_train.input_digests`: the
out-of-fold masks, the selection, the scaler, the map dataset, the plans, the checkpoint it predicts with); the
entry records them. When a done unit's recorded digests differ from the current ones, the ledger logs one line per
changed input (``stage2:both:fold1: redo — radiomics.json changed (was sha256 ab12cd34…, now sha256 9f3c0e11…)``),
calls the unit's ``reset`` (a training moves its old fold folder aside, since nnU-Net would otherwise resume from
its ``checkpoint_latest.pth``) and runs it again; an input missing now is not a change. Invalidation downstream follows by itself: each unit digests
what its upstream units wrote, so a retrained Stage-1 fold changes the masks' provenance, which changes the
Stage-2 folds' inputs, whose new checkpoints change the predictions' inputs. A started unit also records its inputs
(``started/<unit>.json``), so that a unit killed and then rerun with other inputs starts afresh instead of
resuming. Entries from before input tracking have no digests: they stay done, the ledger logs once that their
inputs are unknown and records the current ones as their baseline. A killed run redoes only the unit it was in
(nnU-Net itself resumes a killed training from ``checkpoint_latest.pth``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pdacrad.io.atomic import atomic_write_json
from pdacrad_train.input_digests import changed_inputs
from pdacrad_train.unit_costs import UnitMeter

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: Where started units record the inputs they started from, inside the ledger folder.
STARTED = "started"

Inputs = Mapping[str, str]


@dataclass(frozen=True)
class LedgerEntry:
    """One finished unit: its name, wall seconds, when it finished (UTC, ISO 8601), and the digests of its inputs
    (``None``: recorded before input tracking, or a unit that declares none)."""

    unit: str
    seconds: float
    finished: str
    inputs: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry's JSON document (``inputs`` only when known)."""
        data: dict[str, Any] = {
            "unit": self.unit,
            "seconds": round(self.seconds, 3),
            "finished": self.finished,
        }
        return data if self.inputs is None else {**data, "inputs": dict(self.inputs)}


class Ledger:
    """The ledger of one work folder (``<work_dir>/experiment/ledger``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, unit: str, where: str = "") -> Path:
        return self.folder / where / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', unit)}.json"

    def entry(self, unit: str) -> LedgerEntry | None:
        """The entry of ``unit``, or ``None`` when it never finished."""
        path = self._path(unit)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return LedgerEntry(data["unit"], float(data["seconds"]), data["finished"], data.get("inputs"))

    def started_inputs(self, unit: str) -> dict[str, str] | None:
        """The inputs ``unit`` last started from without finishing (``None``: none recorded)."""
        path = self._path(unit, STARTED)
        return dict(json.loads(path.read_text())["inputs"]) if path.is_file() else None

    def run(
        self,
        unit: str,
        work: Callable[[], T],
        complete: Callable[[], bool] = lambda: True,
        *,
        inputs: Callable[[], Inputs] | None = None,
        reset: Callable[[], str | None] | None = None,
    ) -> T | None:
        """Run ``work`` unless ``unit`` is done: in the ledger, ``complete()`` holds, and (when the unit declares
        ``inputs``) the digests it recorded equal the current ones. When they differ, log why, call ``reset``
        (which returns a line saying what it set aside, or ``None``) and run ``work`` afresh. Record the unit,
        with its inputs, when ``work`` returns. Returns what ``work`` returned, or ``None`` when skipped."""
        done = self.entry(unit)
        current = None if inputs is None else dict(inputs())
        changes: list[str] = []
        if current is not None:
            if done is not None and done.inputs is None:
                logger.info(
                    "%s: finished before pdacrad tracked its inputs (%s); kept as done, its current inputs "
                    "recorded as its baseline",
                    unit, done.finished,
                )  # fmt: skip
                done = LedgerEntry(done.unit, done.seconds, done.finished, current)
                atomic_write_json(done.to_dict(), self._path(unit))
            recorded = done.inputs if done is not None else self.started_inputs(unit)
            changes = [] if recorded is None else changed_inputs(recorded, current)
        if done is not None and not changes and complete():
            logger.info("%s: done (%.0f s, %s), skipping", unit, done.seconds, done.finished)
            return None
        if changes:
            self._redo(unit, done is not None, changes, reset)
        if current is not None:
            atomic_write_json({"unit": unit, "inputs": current}, self._path(unit, STARTED))
        start = time.perf_counter()
        with UnitMeter(unit, self.folder.parent / "costs"):  # wall, CPU, peak RSS, disk: costs/<unit>.json
            result = work()
        seconds = time.perf_counter() - start
        finished = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        atomic_write_json(LedgerEntry(unit, seconds, finished, current).to_dict(), self._path(unit))
        self._path(unit, STARTED).unlink(missing_ok=True)
        logger.info("%s: finished in %.1f s", unit, seconds)
        return result

    def _redo(
        self, unit: str, was_done: bool, changes: list[str], reset: Callable[[], str | None] | None
    ) -> None:
        """Log each changed input, forget the old entry (a redo killed half-way must not be reset twice) and
        call ``reset``."""
        what = "redo" if was_done else "restart (its unfinished run had other inputs)"
        for change in changes:
            logger.warning("%s: %s — %s", unit, what, change)
        self._path(unit).unlink(missing_ok=True)
        note = None if reset is None else reset()
        if note:
            logger.warning("%s: %s", unit, note)

    def entries(self) -> list[LedgerEntry]:
        """Every finished unit, in the order they finished."""
        found = [self.entry(json.loads(p.read_text())["unit"]) for p in sorted(self.folder.glob("*.json"))]
        return sorted((e for e in found if e is not None), key=lambda e: e.finished)

    def as_table(self) -> list[dict[str, Any]]:
        """Rows ``unit``, ``seconds``, ``finished`` (for printing and the report)."""
        return [{"unit": e.unit, "seconds": e.seconds, "finished": e.finished} for e in self.entries()]

    def status_lines(self) -> list[str]:
        """One line per finished unit, ``<finished>  <seconds> s  <unit>``: what ``experiment --status`` prints."""
        return [f"{r['finished']}  {r['seconds']:>9.1f} s  {r['unit']}" for r in self.as_table()]


def checkpoint_unit(step: str, checkpoint: str) -> str:
    """The ledger unit of a checkpoint-dependent step: ``step`` for the PI-CAI-selected checkpoints,
    ``step-<checkpoint>`` otherwise (so both sets of predictions and evaluations are tracked apart)."""
    return step if checkpoint == "picai" else f"{step}-{checkpoint}"
