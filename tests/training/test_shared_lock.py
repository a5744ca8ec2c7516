"""The shared-folder lock and job registry, across real processes: one holder at a time, stale locks of dead
local processes broken, other hosts' locks waited for (never guessed dead), a broken lock never deleted by its
former holder."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pdacrad_train.shared_lock import FolderLock, Holder, JobRegistry, LockTimeoutError, break_lock

#: Processes started with "spawn": a forked child of a test process that loaded torch can deadlock.
SPAWN = mp.get_context("spawn")


def hold_and_log(lock: str, log: str, seconds: float) -> None:
    """Child process: take the lock, write 'start'/'end' lines around a pause."""
    with FolderLock(Path(lock), "test", poll_s=0.05):
        with open(log, "a") as f:
            f.write("start\n")
        time.sleep(seconds)
        with open(log, "a") as f:
            f.write("end\n")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _write_holder(path: Path, host: str, pid: int) -> None:
    path.write_text(
        json.dumps(
            {"host": host, "pid": pid, "started": "2026-01-01T00:00:00+00:00", "purpose": "p", "token": "t"}
        )
    )


def test_processes_hold_the_lock_one_at_a_time(tmp_path: Path) -> None:
    lock, log = tmp_path / "shared" / "x.lock", tmp_path / "log.txt"
    workers = [SPAWN.Process(target=hold_and_log, args=(str(lock), str(log), 0.4)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert log.read_text().split() == ["start", "end"] * 3  # never two inside at once
    assert not lock.exists() and not list(lock.parent.glob(".*tmp"))


def test_a_dead_local_holder_is_broken_with_a_warning(tmp_path: Path, caplog) -> None:
    lock = tmp_path / "x.lock"
    _write_holder(lock, socket.gethostname(), _dead_pid())
    with caplog.at_level(logging.WARNING), FolderLock(lock, "mine", timeout_s=5, poll_s=0.05):
        assert Holder.read(lock).purpose == "mine"  # type: ignore[union-attr]
    assert "stale lock" in caplog.text and not lock.exists()


def test_another_hosts_lock_is_waited_for_then_broken_by_hand(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    _write_holder(lock, "gpu-node-7", _dead_pid())  # its pid means nothing here: never assumed dead
    with pytest.raises(LockTimeoutError, match=r"gpu-node-7.*--break-lock"):
        FolderLock(lock, "mine", timeout_s=0.3, poll_s=0.05).acquire()
    assert break_lock(lock).host == "gpu-node-7"  # type: ignore[union-attr]
    with FolderLock(lock, "mine", timeout_s=1, poll_s=0.05):
        assert lock.exists()


def test_a_lock_broken_meanwhile_is_not_deleted_by_its_former_holder(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    first = FolderLock(lock, "first", timeout_s=1)
    first.acquire()
    break_lock(lock)
    with FolderLock(lock, "second", timeout_s=1):
        first.release()
        assert Holder.read(lock).purpose == "second"  # type: ignore[union-attr]


def test_the_registry_lists_running_jobs_and_drops_dead_local_ones(tmp_path: Path) -> None:
    registry = JobRegistry(tmp_path / "jobs")
    registry.folder.mkdir()
    _write_holder(registry.folder / "dead.json", socket.gethostname(), _dead_pid())
    _write_holder(registry.folder / "remote.json", "gpu-node-7", 1)
    with registry.registered("train fold 0") as me:
        assert {h.purpose for h in registry.running()} == {"train fold 0", "p"}
        assert me in registry.running()
    assert [h.host for h in registry.running()] == ["gpu-node-7"]
    assert not (registry.folder / "dead.json").exists()
    assert [h.host for h in registry.clear()] == ["gpu-node-7"] and registry.running() == []
