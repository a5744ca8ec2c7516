"""Per-unit costs: the peak memory, CPU time and disk bytes of a block — its children's included — and the
ledger's record of every unit's costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from pdacrad_train.ledger import Ledger
from pdacrad_train.unit_costs import UnitMeter, read_costs

MiB = 2**20


def _on_tmpfs(path: Path) -> bool:
    """Whether ``path`` lies on a tmpfs (no write-back, so no ``write_bytes`` to count)."""
    best = max(
        (p for p in psutil.disk_partitions(all=True) if str(path.resolve()).startswith(p.mountpoint)),
        key=lambda p: len(p.mountpoint),
    )
    return best.fstype == "tmpfs"


def test_the_peak_of_a_unit_that_allocates_200_mib_is_at_least_that(tmp_path: Path) -> None:
    before = psutil.Process().memory_info().rss
    with UnitMeter("alloc", tmp_path) as meter:
        block = np.ones(200 * MiB // 8)  # written, so resident
        assert block.sum() > 0
        del block
    assert meter.costs is not None
    assert meter.costs.peak_rss_bytes >= before + 190 * MiB
    # the peak is the unit's, not the process's lifetime one: a second, small unit stays below it
    with UnitMeter("small") as small:
        np.ones(MiB // 8).sum()
    assert small.costs is not None and small.costs.peak_rss_bytes < meter.costs.peak_rss_bytes - 150 * MiB


def test_a_child_process_cpu_time_and_memory_are_counted(tmp_path: Path) -> None:
    child = (
        "import time, numpy as np\n"
        "a = np.ones(150 * 2**20 // 8)\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.6: a[:1000] += 1\n"
        "time.sleep(0.5)\n"
    )
    with UnitMeter("child", tmp_path) as meter:
        subprocess.run([sys.executable, "-c", child], check=True)
    assert meter.costs is not None
    assert meter.costs.cpu_s >= 0.6
    assert meter.costs.peak_rss_bytes >= 150 * MiB + psutil.Process().memory_info().rss


def test_a_child_still_running_at_the_end_is_counted(tmp_path: Path) -> None:
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\ntime.sleep(30)\n"
    proc = subprocess.Popen([sys.executable, "-c", busy])
    try:
        with UnitMeter("live", tmp_path) as meter:
            deadline = time.monotonic() + 20
            while sum(psutil.Process(proc.pid).cpu_times()[:2]) < 0.5 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert meter.costs is not None and meter.costs.cpu_s >= 0.4
    finally:
        proc.kill()
        proc.wait()


def test_bytes_written_by_the_unit_and_its_children_are_counted(tmp_path: Path) -> None:
    if _on_tmpfs(tmp_path) or not Path("/proc/self/io").is_file():
        pytest.skip("no write-back accounting here (tmpfs or no /proc/self/io)")
    payload = os.urandom(8 * MiB)
    child = f"open({str(tmp_path / 'b.bin')!r}, 'wb').write(bytes({12 * MiB}))"
    with UnitMeter("write", tmp_path) as meter:
        (tmp_path / "a.bin").write_bytes(payload)
        subprocess.run([sys.executable, "-c", child], check=True)
    assert meter.costs is not None and meter.costs.disk_source == "proc_io"
    assert meter.costs.disk_written_bytes >= 20 * MiB


def test_the_ledger_records_every_units_costs_also_when_it_fails(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "experiment" / "ledger")
    ledger.run("stage1:fold0", lambda: np.ones(50 * MiB // 8).sum())

    def boom() -> None:
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        ledger.run("stage2:both:fold0", boom)
    rows = read_costs(tmp_path / "experiment" / "costs")
    assert [(r["unit"], r["ok"]) for r in rows] == [("stage1:fold0", True), ("stage2:both:fold0", False)]
    first = json.loads((tmp_path / "experiment" / "costs" / "stage1_fold0.json").read_text())
    assert first["peak_rss_bytes"] >= 50 * MiB and first["wall_s"] >= 0 and first["cpu_s"] >= 0
