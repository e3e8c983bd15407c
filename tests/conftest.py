import os
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs one worker per core) this runs in each worker before numba or torch
# is imported; PYTEST_XDIST_WORKER names the worker (gw0, gw1, ...).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")

# Keep torch from oversubscribing the 2 CI cores: two threads for a serial run, one per worker under xdist.
# numba's prange kernels keep a thread per core, so that they are still tested on more than one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1" if _WORKER else "2")

if _WORKER:
    # numba's cache=True is not safe for two processes saving different signatures of one function at once:
    # both take the same free data-file number, and the index can end up naming the other's machine code.
    # Each worker (and the CLI processes it starts) keeps its own cache, by default in the checkout, where
    # .ci/run's clean-up finds it.
    _base = os.environ.get("NUMBA_CACHE_DIR") or Path(__file__).resolve().parents[1] / ".numba_cache"
    os.environ["NUMBA_CACHE_DIR"] = str(Path(_base) / _WORKER)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker per core this process may run on (psutil, which xdist would ask, counts the host's
    physical cores whatever the affinity), at most 4, as each worker compiles its own numba kernels."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None   # xdist's own hook honours it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(4, cores)
