"""The Dask cluster of the radiomics steps (global features and maps run one task per case)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def dask_client(
    scheduler: str | None = None, n_workers: int | None = None, processes: bool = True
) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` (an address such as ``tcp://host:8786``) if given, else on a
    new ``LocalCluster`` with ``n_workers`` single-threaded worker processes (default: one per CPU core), or
    with ``processes=False`` one in-process worker thread."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # One single-threaded worker *process* per core: PyRadiomics' params validation (pykwalify) is not
    # thread-safe, and its C extensions hold the GIL. In-process (``processes=False``, for tests) means one thread.
    workers = (n_workers or os.cpu_count() or 1) if processes else 1
    # No heartbeat deadline: a worker in PyRadiomics' C code holds the GIL and cannot send heartbeats, and
    # distributed restarts a worker silent for `worker-ttl` (5 min) and recomputes its tasks — at real size (the
    # full-size rehearsal: a large mask, a loaded node) one case can take longer, so it would restart forever.
    with (
        dask.config.set({"distributed.scheduler.worker-ttl": None}),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
