"""The Dask cluster of the radiomics steps (global features, maps, and the maps of CV prediction run one task per
case) and :class:`MapCompute`, the settings every step that computes maps or features takes from the config.

:func:`map_compute` is the one place that turns the training config and its radiomics side file into those
settings (the Dask scheduler or local workers, the map device and precision); ``experiment``, the ``maps`` and
``global-features`` commands, ``select-checkpoint`` and ``predict`` all call it, so none falls back to a default
the config did not ask for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdacrad_train.config import TrainConfig
    from pdacrad_train.radiomics_config import RadiomicsConfig


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


@dataclass(frozen=True)
class MapCompute:
    """Where and how the radiomics steps compute maps and features.

    Attributes:
        device: where maps are computed, resolved once: ``cpu`` or ``cuda``.
        dtype: the maps' compute precision (``float64``: :data:`pdacrad.inference.radiomics_inputs.MAP_DTYPE`,
            what inference computes; part of every cached map's key).
        n_workers: worker processes of a local cluster (``None``: one per CPU core).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``); its workers are used instead of a
            local cluster.
        processes: ``False`` runs one in-process worker thread (tests).
    """

    device: str
    dtype: str
    n_workers: int | None = None
    scheduler: str | None = None
    processes: bool = True

    def client(self) -> AbstractContextManager[Any]:
        """A Dask client on this cluster (:func:`dask_client`)."""
        return dask_client(self.scheduler, self.n_workers, self.processes)


def map_compute(
    config: TrainConfig,
    rcfg: RadiomicsConfig,
    scheduler: str | None = None,
    device: str | None = None,
    processes: bool = True,
) -> MapCompute:
    """The settings of every map and feature computation of the training tree: ``scheduler`` and ``device`` (the
    command line's ``--scheduler`` / ``--device``) if given, else the radiomics config's ``scheduler`` and
    ``device`` (``None``: ``run.device``, resolved here: ``auto`` → ``cuda`` when visible); its ``n_workers``
    (on ``cuda`` every worker process shares the GPU with its own CUDA context and ~1 GiB map batches: set
    ``n_workers`` where that is too much). The precision is inference's
    :data:`~pdacrad.inference.radiomics_inputs.MAP_DTYPE`: the models are trained on the maps inference computes.

    Raises:
        InvalidInputError: an unknown device, or ``cuda`` without a visible CUDA device.
    """
    from pdacrad.inference.device import resolve_device
    from pdacrad.inference.radiomics_inputs import MAP_DTYPE

    return MapCompute(
        device=resolve_device(device or rcfg.device or config.run.device).type,
        dtype=MAP_DTYPE,
        n_workers=rcfg.n_workers,
        scheduler=scheduler or rcfg.scheduler,
        processes=processes,
    )
