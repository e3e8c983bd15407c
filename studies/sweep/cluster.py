"""Where a sweep runs: this process (serial), a LocalCluster of worker processes sized to the machine,
or an existing Dask cluster at a scheduler address (its workers need this package importable)."""
from __future__ import annotations

import contextlib
import logging
import os

from hwsim.errors import UserError

QUIET_MONITORS = {"distributed.worker.memory.monitor-interval": "1s",
                  "distributed.admin.system-monitor.interval": "2s", "distributed.admin.tick.interval": "200ms"}


def machine_workers() -> int:
    """One worker process per CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                     # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def dask_client(serial: bool = False, workers: int | None = None, scheduler: str | None = None):
    """Yields a distributed.Client, or None for a serial run; closes what it started."""
    if serial:
        yield None
        return
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise UserError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({e})") from None
        with client:
            yield client
        return
    # one single-threaded process per worker: the cost model is numpy on small arrays, held by the GIL.
    # Slower monitors than Dask's defaults (100 ms, 500 ms, 20 ms): an idle 2-worker cluster then costs
    # 1.4-1.6 CPU s per 20 s instead of 2.3 (measured), CPU the chunks can use
    with dask.config.set(QUIET_MONITORS), \
            LocalCluster(n_workers=workers or machine_workers(), threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=logging.ERROR,
                         env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        yield client
