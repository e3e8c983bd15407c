"""`bitmixer train --nproc N`: start N copies of the same command as the ranks of one data-parallel run, with
torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT on a free local port).
When one rank fails the others are stopped, since they would otherwise wait for it in a collective."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

GRACE_S = 10.0   # how long a stopped rank gets to exit on SIGTERM before SIGKILL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv: list[str], nproc: int) -> int:
    """Run `python -m bitmixer.cli ARGV` as ranks 0..nproc-1; the first non-zero exit status, else 0."""
    port = str(free_port())
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc),
                   LOCAL_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        procs.append(subprocess.Popen([sys.executable, "-m", "bitmixer.cli", *argv], env=env))
    try:
        return _wait(procs)
    except KeyboardInterrupt:   # the ranks got the same Ctrl-C; let them finish their own way
        _stop(procs)
        raise


def _wait(procs: list[subprocess.Popen]) -> int:
    while True:
        codes = [p.poll() for p in procs]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            _stop(procs)
            return failed[0]
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.05)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
