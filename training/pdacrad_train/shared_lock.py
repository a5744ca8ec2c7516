"""A lock and a job registry on a shared folder, for jobs on several processes and machines (one fold per GPU node
sharing the work folder).

:class:`FolderLock` — an exclusive lock file holding who took it (host, pid, start time, purpose):

* **taken by hard link**: the holder's record is written to a private temporary file, then ``os.link``-ed onto
  the lock's name. ``link`` is atomic and fails when the name exists, on a local disk and on NFS (it is the
  NFS-safe lock of ``procmail``/``liblockfile``), and the lock never exists half-written. When ``link`` reports
  an error we still check the temporary file's link count: on NFS a retransmitted request can succeed while its
  reply says ``EEXIST``.
* **not fcntl/flock**: POSIX locks on NFS depend on the lock daemon (``lockd``/NLM on NFSv3), are silently local
  on some mounts (``nolock``, many container volumes) and vanish with the process without a trace of who held
  them; a lock file works wherever ``link`` does and says who holds it.
* **stale locks, stated honestly**: a lock held by a process of *this* host whose pid no longer runs is stale
  and is broken automatically (renamed aside first, so two waiters cannot both break it and then delete a fresh
  lock). A lock from *another* host cannot be checked from here (its pid means nothing on this machine): it is
  waited for, with the holder logged every few minutes, until it is released or removed by hand —
  ``pdacrad-train experiment --break-lock`` (or deleting the file) when that job is known to be dead. A reused
  pid (the dead holder's pid now running something else) keeps a same-host lock until it is broken by hand.

:class:`JobRegistry` — one small file per running job that uses a shared resource (a training reading a
preprocessed dataset), so that a job about to rebuild the resource can see that others use it. Same-host entries
of dead processes are dropped; entries of other hosts count as running.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: Seconds between two log lines of a job waiting for a lock.
WAIT_LOG_INTERVAL_S = 300.0


class LockTimeoutError(TimeoutError):
    """A lock was not released within the waiting time the caller allowed."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock or runs a registered job: ``host`` name, process id, start time (UTC, ISO 8601), what for,
    and a random token that tells two holders with the same host and pid apart."""

    host: str
    pid: int
    started: str
    purpose: str
    token: str

    @classmethod
    def this_process(cls, purpose: str) -> Holder:
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        return cls(socket.gethostname(), os.getpid(), now, purpose, uuid.uuid4().hex)

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        """The holder recorded in ``path``; ``None`` when the file is gone or unreadable."""
        try:
            data = json.loads(path.read_text())
            return cls(
                str(data["host"]),
                int(data["pid"]),
                str(data["started"]),
                str(data["purpose"]),
                str(data["token"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_dead(self) -> bool:
        """True only when the holder is known to be gone: same host and its pid does not run. Another host's
        holder is never known dead from here."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # runs, as another user
            return False
        return False

    def describe(self) -> str:
        return f"{self.purpose!r} (host {self.host}, pid {self.pid}, since {self.started})"


def _link_exclusive(content: str, path: Path) -> bool:
    """Create ``path`` holding ``content`` unless it exists; True when this call created it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(content)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # NFS: the link may exist although the reply was an error
        return tmp.stat().st_nlink == 2
    finally:
        tmp.unlink(missing_ok=True)


class FolderLock:
    """An exclusive lock file at ``path`` (see the module docstring). Use as a context manager: ``with
    FolderLock(p, "preprocess Dataset901"):``; waits up to ``timeout_s`` (``None``: forever), polling every
    ``poll_s`` seconds.

    Raises:
        LockTimeoutError: the lock was still held after ``timeout_s``.
    """

    def __init__(self, path: Path, purpose: str, timeout_s: float | None = None, poll_s: float = 2.0) -> None:
        self.path = Path(path)
        self.purpose = purpose
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._mine: Holder | None = None

    def acquire(self) -> None:
        """Wait for the lock and take it; a stale lock of this host is broken (logged as a warning)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = last_log = time.monotonic()
        waited = False
        while True:
            holder = Holder.this_process(self.purpose)
            if _link_exclusive(json.dumps(asdict(holder)), self.path):
                self._mine = holder
                if waited:
                    logger.info("%s: lock taken after %.0f s", self.path, time.monotonic() - start)
                return
            other = Holder.read(self.path)
            if other is not None and other.is_dead():
                logger.warning(
                    "%s: breaking the stale lock of %s (that process no longer runs)",
                    self.path,
                    other.describe(),
                )
                _break_if_still(self.path, other)
                continue
            now = time.monotonic()
            if self.timeout_s is not None and now - start >= self.timeout_s:
                raise LockTimeoutError(
                    f"{self.path} is still held by {other.describe() if other else 'an unreadable record'} after "
                    f"{self.timeout_s:.0f} s. If that job is dead (another machine's job cannot be checked from "
                    "here), remove the lock: `pdacrad-train experiment --break-lock` or delete the file."
                )
            if not waited or now - last_log >= WAIT_LOG_INTERVAL_S:
                logger.info("%s: waiting for %s", self.path, other.describe() if other else "the lock")
                waited, last_log = True, now
            time.sleep(self.poll_s)

    def release(self) -> None:
        """Remove the lock if it is still this holder's (a lock broken by hand meanwhile is left alone)."""
        mine, self._mine = self._mine, None
        if mine is None:
            return
        current = Holder.read(self.path)
        if current is not None and current.token == mine.token:
            self.path.unlink(missing_ok=True)
        else:
            logger.warning("%s: the lock was broken while this job held it (%s)", self.path, mine.describe())

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _break_if_still(path: Path, stale: Holder) -> None:
    """Remove the lock at ``path`` if it still holds ``stale``: renamed aside first, so that of two processes
    breaking the same stale lock only one succeeds and a fresh lock taken in between is put back."""
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another waiter broke it first
        return
    moved = Holder.read(aside)
    # a fresh lock taken in between: put it back where it was
    fresh = moved is not None and moved.token != stale.token
    if fresh and moved is not None and not _link_exclusive(aside.read_text(), path):
        logger.error(
            "%s: could not restore a lock taken while breaking a stale one (%s)", path, moved.describe()
        )
    aside.unlink(missing_ok=True)


def break_lock(path: Path) -> Holder | None:
    """Remove the lock at ``path`` whoever holds it (for a job known to be dead on another machine); returns the
    holder it recorded, or ``None`` when there was no lock."""
    holder = Holder.read(path)
    if path.exists():
        path.unlink(missing_ok=True)
        logger.warning(
            "%s: lock of %s broken by hand", path, holder.describe() if holder else "an unknown job"
        )
    return holder


class JobRegistry:
    """The running jobs that use one shared resource: one ``<host>_<pid>_<token>.json`` per job in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @contextmanager
    def registered(self, purpose: str) -> Iterator[Holder]:
        """Register this process's job for the duration of the block."""
        holder = Holder.this_process(purpose)
        path = self.folder / f"{holder.host}_{holder.pid}_{holder.token}.json"
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")  # readers never see half a record (no *.json name yet)
        tmp.write_text(json.dumps(asdict(holder)))
        os.replace(tmp, path)
        try:
            yield holder
        finally:
            path.unlink(missing_ok=True)

    def running(self) -> list[Holder]:
        """The registered jobs that may still run; same-host entries of dead processes are removed."""
        alive = []
        for path in sorted(self.folder.glob("*.json")):
            holder = Holder.read(path)
            if holder is None:
                continue
            if holder.is_dead():
                logger.info(
                    "%s: dropping the record of a job that no longer runs, %s", self.folder, holder.describe()
                )
                path.unlink(missing_ok=True)
            else:
                alive.append(holder)
        return alive

    def clear(self) -> list[Holder]:
        """Remove every record (jobs known to be dead on other machines); returns what they recorded."""
        gone = [h for p in sorted(self.folder.glob("*.json")) if (h := Holder.read(p)) is not None]
        for path in self.folder.glob("*.json"):
            path.unlink(missing_ok=True)
        return gone
