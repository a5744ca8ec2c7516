"""The radiomics steps' local Dask cluster never restarts a worker for missed heartbeats: PyRadiomics holds the GIL
for minutes on a full-size case (the rehearsal saw `Worker failed to heartbeat for 325s; attempting restart`)."""

from __future__ import annotations

import dask
from pdacrad_train.parallel import dask_client


def test_the_local_cluster_has_no_worker_heartbeat_deadline() -> None:
    with dask.config.set({"distributed.scheduler.worker-ttl": "1s"}), dask_client(n_workers=1) as client:
        ttl = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.worker_ttl)
        assert client.submit(sum, [1, 2]).result() == 3
    assert ttl is None
