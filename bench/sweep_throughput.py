"""Throughput of `bitmixer sweep`'s chunk engine: points/s of the Dask path (a LocalCluster of worker
processes) against the single-process vectorised path, on the same space of ResNet-18 designs.

    .venv/bin/python bench/sweep_throughput.py [--workers 2] [--configs 4000] [--rounds 3]

The space: the TPU-like config with rows, cols, PE kind and dataflow swept (300 hardware points) x random
per-layer bit configs of the zoo's ResNet-18 (hwsim.zoo, ImageNet shapes). Both paths run the same chunks through
studies.sweep.engine.run_chunks and write the same Parquet files (into a fresh directory each round);
rounds are interleaved, alternating which path goes first. One thread per process everywhere (set before
numpy loads); the cluster's start-up is timed apart from its rounds.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from hwsim import zoo  # noqa: E402
from hwsim.bits import random_configs  # noqa: E402
from studies.sweep.chunks import cost_chunk, plan_chunks  # noqa: E402
from studies.sweep.cluster import dask_client  # noqa: E402
from studies.sweep.engine import run_chunks  # noqa: E402
from studies.sweep.points import NetworkData  # noqa: E402
from studies.sweep.space import hw_points  # noqa: E402
from studies.hw import hw_config_paths  # noqa: E402
from hwsim.typed_yaml import read_yaml  # noqa: E402

BASE = "tpu_int8"        # a systolic array, whose dataflow can be swept
PARAMS = {"array.rows": [8, 16, 32, 64, 128], "array.cols": [8, 16, 32, 64, 128],
          "pe.kind": ["fused_bricks", "bit_serial_act", "bit_serial_both", "bit_parallel"],
          "array.dataflow": ["ws", "os", "is"]}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def resnet18(n_configs: int) -> NetworkData:
    """The zoo's ResNet-18 (ImageNet shapes, batch 1) with n random per-layer configs of widths 2, 4, 8."""
    net = zoo.get("resnet18")
    names = [s.name for s in net.shapes]
    cfgs = random_configs(net.table, n_configs, seed=0)
    w = np.array([[c.bits[n][0] for n in names] for c in cfgs], np.int64)
    a = np.array([[c.bits[n][1] for n in names] for c in cfgs], np.int64)
    avg = np.array([c.avg_bits(net.table) for c in cfgs])
    return NetworkData("resnet18", net.graph, ("random",) * n_configs, tuple(c.name for c in cfgs), w, a,
                       avg[:, 0], avg[:, 1], np.full(n_configs, np.nan), "")


def cpu_seconds(client) -> float:
    """CPU seconds used so far by this process and, with a client, by every worker process."""
    own = time.process_time()
    return own if client is None else own + sum(client.run(time.process_time).values())


def timed(chunks, net, points, client) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every process involved) of one run of all chunks."""
    d = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    try:
        nets = net if client is None else client.scatter(net, broadcast=True, hash=False)
        c0, t0 = cpu_seconds(client), time.perf_counter()
        run_chunks(chunks, d, lambda c: (nets, points[c.hw[0]:c.hw[1]], c), cost_chunk, client, progress=False,
                   workers_write=client is not None)
        return time.perf_counter() - t0, cpu_seconds(client) - c0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--configs", type=int, default=4000, help="random bit configs (x 300 hardware points)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chunk-points", type=int, default=50_000)
    args = p.parse_args()
    base = hw_config_paths([BASE])[0]
    points = hw_points(PARAMS, read_yaml(base), base, "bench")
    net = resnet18(args.configs)
    chunks = plan_chunks(len(points), [net.n_configs], args.chunk_points)
    n = sum(c.points for c in chunks)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; one thread per process")
    print(f"space: {len(points)} hardware points x {net.n_configs} bit configs = {n} points "
          f"(ResNet-18, {len(net.shapes)} layers), {len(chunks)} chunks of <= {args.chunk_points}")
    t0 = time.perf_counter()
    with dask_client(workers=args.workers) as client:
        print(f"LocalCluster of {args.workers} worker processes up in {time.perf_counter() - t0:.1f} s")
        timed(chunks[:args.workers], net, points, client)          # warm-up: workers import and unpickle
        rates = {"serial": [], "dask": []}
        cpu = {"serial": [], "dask": []}
        for r in range(args.rounds):
            order = ["serial", "dask"] if r % 2 == 0 else ["dask", "serial"]
            for path in order:
                wall, used = timed(chunks, net, points, None if path == "serial" else client)
                rates[path].append(n / wall)
                cpu[path].append(used)
                print(f"round {r}: {path:6s} {wall:7.2f} s  {n / wall:10.0f} points/s  ({used:6.1f} CPU s)", flush=True)
        load = os.getloadavg()[0]
    ratios = [d / s for s, d in zip(rates["serial"], rates["dask"])]
    med = statistics.median
    print(f"median points/s: single process {med(rates['serial']):.0f}, Dask ({args.workers} workers) "
          f"{med(rates['dask']):.0f}; Dask / single per round: "
          f"{', '.join(f'{x:.2f}' for x in ratios)} (median {med(ratios):.2f}x); load average at the end {load:.1f}")
    # what the machine's other jobs cannot distort: the CPU time each path spends per point
    overhead = med(cpu["dask"]) / med(cpu["serial"])
    print(f"CPU seconds per run: single {med(cpu['serial']):.1f}, Dask {med(cpu['dask']):.1f} (all processes: "
          f"{overhead:.2f}x the single process's); on {args.workers} otherwise idle cores that bounds the Dask "
          f"path at {args.workers / overhead:.2f}x the single-process rate")

if __name__ == "__main__":
    main()
