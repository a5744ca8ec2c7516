"""What one unit of work cost: wall seconds, CPU seconds, peak resident memory and bytes written to disk.

:class:`UnitMeter` wraps a unit (``with UnitMeter("stage1:fold0", folder): ...``) and, when the block ends, writes
``<folder>/<unit>.json`` (the fields of :class:`UnitCosts`); :func:`read_costs` reads a folder of them back as
rows. The run ledger (:mod:`pdacrad_train.ledger`) wraps every unit of ``pdacrad-train experiment`` this way, into
``<work_dir>/experiment/costs/``, which is what ``benchmarks/rehearsal.py`` tabulates and what a cost plan is
fitted to.

How each number is taken (Linux; each says where it is not available):

``wall_s``            ``time.perf_counter`` around the block.
``cpu_s``             user + system seconds of this process (all threads) and of its children over the block:
                      ``os.times`` — which holds children once they are reaped (waited for), grandchildren included
                      when their parent waited for them — plus the CPU time of children still alive at the end
                      (nnU-Net's persistent augmentation workers), minus what those had used at the start.
``peak_rss_bytes``    the largest sum of resident set sizes of this process and all its descendants, sampled every
                      ``interval_s`` by a thread (psutil); and at least this process's own peak over the block,
                      which Linux tracks exactly once reset through ``/proc/self/clear_refs`` (``VmHWM``). A child
                      that lives shorter than one interval can be missed: the sampled sum is a lower bound.
                      ``getrusage``'s ``ru_maxrss`` is not used: it is the peak over the process's whole lifetime.
                      Meters nested in one process share that reset: the outer one then keeps its sampled peak
                      and its own peak only since the inner one began.
``disk_written_bytes``  ``write_bytes`` of ``/proc/self/io`` over the block — bytes this process and its reaped
                      children caused to be written to storage (the kernel adds a child's I/O counters to its
                      parent's when it is reaped) — plus those of descendants still alive at the end. Files written
                      and deleted before write-back count only partly (``cancelled_write_bytes`` is subtracted),
                      tmpfs not at all. ``disk_source`` says ``proc_io``, or ``unavailable`` (then 0).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from pdacrad.io.atomic import atomic_write_json

logger = logging.getLogger(__name__)

_PROC_IO = Path("/proc/self/io")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class UnitCosts:
    """The costs of one unit (see the module docstring for how each is measured). ``ok``: the block returned
    (False: it raised, and the costs are those up to the error)."""

    unit: str
    ok: bool
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    disk_written_bytes: int
    disk_source: str
    started: str
    finished: str


def unit_file_name(unit: str) -> str:
    """The file name of ``unit``'s record: the unit with anything but ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', unit)}.json"


class UnitMeter:
    """A context manager that measures the block it wraps and writes ``<folder>/<unit>.json`` when it ends
    (``folder`` None: measure only; the result is :attr:`costs` either way). ``interval_s``: how often the
    memory sampler looks at the process tree."""

    def __init__(self, unit: str, folder: Path | None = None, interval_s: float = 0.2) -> None:
        self.unit = unit
        self.folder = None if folder is None else Path(folder)
        self.interval_s = interval_s
        self.costs: UnitCosts | None = None
        self._stop = threading.Event()
        self._peak = 0
        self._seen: dict[int, psutil.Process] = {}

    def __enter__(self) -> UnitMeter:
        self._me = psutil.Process()
        self._started = _now()
        self._own_peak_reset = _reset_own_peak()
        self._io0 = _write_bytes(_PROC_IO)
        self._children0 = {c.pid: _child_counters(c) for c in self._descendants()}
        self._times0 = os.times()
        self._t0 = time.perf_counter()
        self._sampler = threading.Thread(target=self._sample_loop, name=f"costs:{self.unit}", daemon=True)
        self._sampler.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        wall = time.perf_counter() - self._t0
        times1 = os.times()
        self._stop.set()
        self._sampler.join()
        self._sample()
        live_cpu, live_io = 0.0, 0
        for child in self._descendants():
            cpu, io = _child_counters(child)
            cpu0, io0 = self._children0.get(child.pid, (0.0, 0))
            live_cpu += max(cpu - cpu0, 0.0)
            live_io += max(io - io0, 0)
        cpu = sum(times1[:4]) - sum(self._times0[:4]) + live_cpu
        io1 = _write_bytes(_PROC_IO)
        own_peak = _own_peak() if self._own_peak_reset else 0
        self.costs = UnitCosts(
            unit=self.unit,
            ok=kind is None,
            wall_s=round(wall, 3),
            cpu_s=round(cpu, 3),
            peak_rss_bytes=max(self._peak, own_peak),
            disk_written_bytes=0 if self._io0 is None or io1 is None else io1 - self._io0 + live_io,
            disk_source="unavailable" if self._io0 is None else "proc_io",
            started=self._started,
            finished=_now(),
        )
        if self.folder is not None:
            atomic_write_json(asdict(self.costs), self.folder / unit_file_name(self.unit))
        logger.info(
            "%s: %.1f s wall, %.1f CPU-s, peak RSS %.2f GiB, %.2f GiB written",
            self.unit, wall, cpu, self.costs.peak_rss_bytes / 2**30, self.costs.disk_written_bytes / 2**30,
        )  # fmt: skip

    def _descendants(self) -> list[psutil.Process]:
        try:
            return list(self._me.children(recursive=True))
        except psutil.Error:
            return []

    def _sample(self) -> None:
        total = 0
        for proc in (self._me, *self._descendants()):
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # ended between listing and reading
                continue
        self._peak = max(self._peak, total)

    def _sample_loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)


def read_costs(folder: Path) -> list[dict[str, Any]]:
    """Every unit record in ``folder`` (the :class:`UnitCosts` fields), in the order the units started."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
    return sorted(rows, key=lambda r: r["started"])


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _write_bytes(path: Path) -> int | None:
    """``write_bytes − cancelled_write_bytes`` of a ``/proc/<pid>/io`` file, or None where it cannot be read."""
    try:
        fields = dict(line.split(": ") for line in path.read_text().splitlines())
    except (OSError, ValueError):
        return None
    return int(fields["write_bytes"]) - int(fields.get("cancelled_write_bytes", 0))


def _child_counters(child: psutil.Process) -> tuple[float, int]:
    """CPU seconds (user + system, its own threads) and disk bytes written so far by a live child (0 for what
    cannot be read: it ended, or another user's)."""
    try:
        times = child.cpu_times()
        cpu = float(times.user + times.system)
    except psutil.Error:
        return 0.0, 0
    return cpu, _write_bytes(Path(f"/proc/{child.pid}/io")) or 0


def _reset_own_peak() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; False where Linux does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _own_peak() -> int:
    """This process's peak RSS in bytes since the last reset (``VmHWM`` of ``/proc/self/status``)."""
    for line in _STATUS.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
