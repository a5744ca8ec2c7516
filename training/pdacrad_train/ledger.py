"""The run ledger of ``pdacrad-train experiment``: which unit of work (step × variant × fold) finished, when, and
how long it took; what each unit cost (CPU, peak memory, disk) in ``<work_dir>/experiment/costs/<unit>.json``
(:mod:`pdacrad_train.unit_costs`, written also when the unit fails).

One small JSON file per finished unit in ``<work_dir>/experiment/ledger/<unit>.json`` — so several machines
sharing the work folder (folds as independent jobs) never write the same file. A unit counts as done only when its
ledger entry exists *and* its outputs are still there (the caller's ``complete`` check), so deleting an output
redoes its unit, and a killed run redoes only the unit it was in (nnU-Net itself resumes a killed training from
``checkpoint_latest.pth``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pdacrad.io.atomic import atomic_write_json
from pdacrad_train.unit_costs import UnitMeter

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class LedgerEntry:
    """One finished unit: its name, wall seconds, and when it finished (UTC, ISO 8601)."""

    unit: str
    seconds: float
    finished: str


class Ledger:
    """The ledger of one work folder (``<work_dir>/experiment/ledger``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, unit: str) -> Path:
        return self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', unit)}.json"

    def entry(self, unit: str) -> LedgerEntry | None:
        """The entry of ``unit``, or ``None`` when it never finished."""
        path = self._path(unit)
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return LedgerEntry(data["unit"], float(data["seconds"]), data["finished"])

    def run(self, unit: str, work: Callable[[], T], complete: Callable[[], bool] = lambda: True) -> T | None:
        """Run ``work`` unless ``unit`` is in the ledger and ``complete()`` holds; record it when it returns.
        Returns what ``work`` returned, or ``None`` when skipped."""
        done = self.entry(unit)
        if done is not None and complete():
            logger.info("%s: done (%.0f s, %s), skipping", unit, done.seconds, done.finished)
            return None
        start = time.perf_counter()
        with UnitMeter(unit, self.folder.parent / "costs"):  # wall, CPU, peak RSS, disk: costs/<unit>.json
            result = work()
        seconds = time.perf_counter() - start
        finished = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        atomic_write_json(
            {"unit": unit, "seconds": round(seconds, 3), "finished": finished}, self._path(unit)
        )
        logger.info("%s: finished in %.1f s", unit, seconds)
        return result

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
