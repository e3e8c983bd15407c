"""`run_sweep`: resolve a design space, check it whole, cost every point in chunks (here or on Dask),
then merge the chunks into points.parquet and points.csv and write the page (index.html).

The output directory holds resolved_space.yaml (what ran, compared on --resume), chunks/ (one Parquet
file per finished chunk), accuracy.json (measured accuracies, reused on --resume), the merged tables,
the figures and index.html.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from ..output import StudyOutput
from ..schema import to_plain
from .chunks import Chunk, cost_chunk, plan_chunks
from .cluster import dask_client
from .engine import EngineReport, chunk_path, run_chunks
from .networks import load_network, measure_accuracy
from .points import HwPoint, NetworkData
from .report import best_designs, fronts
from .space import SpaceError, base_config, count_hw_points, hw_points, load_space, parameter_values

RESOLVED = "resolved_space.yaml"
ACCURACY = "accuracy.json"


@dataclass(frozen=True)
class SweepOptions:
    serial: bool = False
    workers: int | None = None          # LocalCluster worker processes (default: the machine's CPUs)
    scheduler: str | None = None        # an existing cluster instead
    resume: bool = False
    max_points: int = 10_000_000
    chunk_points: int = 50_000
    max_area_mm2: float | None = None
    max_latency_ms: float | None = None
    progress: bool = True


@dataclass
class ResolvedSweep:
    source: str
    points: list[HwPoint]
    networks: list[NetworkData]
    meta: list[tuple]                    # per network: (meta-network or None, its checked configs)
    plain: dict                          # the resolved space as written to RESOLVED

    @property
    def n_points(self) -> int:
        return len(self.points) * sum(n.n_configs for n in self.networks)


def resolve(space_path: str | Path, max_points: int) -> ResolvedSweep:
    """Everything checked before any costing: see studies/sweep/space.py."""
    source = str(space_path)
    space = load_space(space_path)
    base_path, base_data = base_config(space, source)
    values = parameter_values(space, base_data, source, base_path)
    n_hw = count_hw_points(values)
    if n_hw > max_points:
        raise SpaceError(f"{source}: hardware.parameters make {n_hw} hardware points, more than --max-points "
                         f"{max_points}")
    loaded = [load_network(e, space.bits, f"{source}: networks[{i}]") for i, e in enumerate(space.networks)]
    networks = [d for d, _ in loaded]
    names = [n.name for n in networks]
    if len(set(names)) < len(names):
        raise SpaceError(f"{source}: networks: two networks are named {sorted(n for n in names if names.count(n) > 1)[0]!r}; "
                         f"give each a `name:`")
    total = n_hw * sum(n.n_configs for n in networks)
    if total > max_points:
        raise SpaceError(f"{source}: the space has {total} points ({n_hw} hardware points x "
                         f"{' + '.join(str(n.n_configs) for n in networks)} bit configs), more than --max-points "
                         f"{max_points}")
    points = hw_points(values, base_data, base_path, source)
    for p in points:
        for n in networks:
            _check_widths(p, n, source)
    plain = {"space": source, "base": str(base_path), "parameters": values, "bits": list(space.bits),
             "networks": [{**to_plain(e), "configs": n.n_configs} for e, n in zip(space.networks, networks)],
             "hardware_points": n_hw, "points": total}
    return ResolvedSweep(source, points, networks, [m for _, m in loaded], plain)


def _check_widths(p: HwPoint, n: NetworkData, source: str) -> None:
    pe = p.hw.pe
    for which, arr, hi in (("w_bits", n.w_bits, pe.w_bits_max), ("a_bits", n.a_bits, pe.a_bits_max)):
        bad = np.flatnonzero(arr.max(axis=1) > hi)
        if len(bad):
            raise SpaceError(f"{source}: hardware point {p.index} ({p.describe()}): PE kind {pe.kind!r} takes "
                             f"{which} <= {hi}, but bit config {n.bits_name[bad[0]]!r} of network {n.name!r} uses "
                             f"{int(arr[bad[0]].max())}")


def _prepare_out(out_dir: Path, plain: dict, resume: bool) -> None:
    """A fresh directory, or on --resume one whose resolved space is this one."""
    old = out_dir / RESOLVED
    if old.is_file():
        if not resume:
            raise SpaceError(f"{out_dir} holds an earlier sweep ({RESOLVED}); pass --resume to finish it, or "
                             f"give another --out")
        if yaml.safe_load(old.read_text()) != json.loads(json.dumps(plain)):
            raise SpaceError(f"--resume: {old} records a different space than {plain['space']}; give another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    old.write_text(yaml.safe_dump(plain, sort_keys=False))


def _accuracies(r: ResolvedSweep, out_dir: Path, progress: bool) -> None:
    """Measure where asked, once per config; on --resume the saved figures are reused."""
    path = out_dir / ACCURACY
    saved = json.loads(path.read_text()) if path.is_file() else {}
    for i, (n, (net, configs)) in enumerate(zip(r.networks, r.meta)):
        if net is None or r.plain["networks"][i]["accuracy"] == "none":
            continue
        got = saved.get(n.name)
        if got and len(got["accuracy"]) == n.n_configs:
            r.networks[i] = dataclasses.replace(n, accuracy=np.array(got["accuracy"], float),
                                                accuracy_source=got["source"])
        else:
            r.networks[i] = measure_accuracy(n, net, configs, progress)
            saved[n.name] = {"source": r.networks[i].accuracy_source, "accuracy": r.networks[i].accuracy.tolist()}
            path.write_text(json.dumps(saved))


def cost_all(r: ResolvedSweep, out_dir: Path, opts: SweepOptions) -> tuple[list[Chunk], EngineReport]:
    """Cost every chunk not yet written, here or on the cluster the options name."""
    chunks = plan_chunks(len(r.points), [n.n_configs for n in r.networks], opts.chunk_points)
    with dask_client(opts.serial, opts.workers, opts.scheduler) as client:
        nets = r.networks if client is None else [client.scatter(n, broadcast=True, hash=False) for n in r.networks]

        def args(c: Chunk):
            return nets[c.network], r.points[c.hw[0]:c.hw[1]], c

        # a LocalCluster's workers share this file system and write their own chunks; a remote one may not
        report = run_chunks(chunks, out_dir, args, cost_chunk, client, opts.resume, opts.progress,
                            workers_write=client is not None and opts.scheduler is None)
    return chunks, report


def merge(chunks: list[Chunk], out_dir: Path, networks: list[NetworkData]) -> pa.Table:
    """All chunks as one table: networks in space order, then hardware point, then bit config."""
    tables = [pq.read_table(chunk_path(out_dir, c)) for c in chunks]
    whole = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
    order = {n.name: i for i, n in enumerate(networks)}
    net_index = np.array([order[v] for v in whole.column("network").cast(pa.string()).to_pylist()])
    keys = np.lexsort((whole.column("bits_index").to_numpy(), whole.column("hw_point").to_numpy(), net_index))
    return whole.take(keys)


def run_sweep(space_path: str | Path, out_dir: str | Path, opts: SweepOptions = SweepOptions()) -> dict:
    """Returns a summary: points, chunks run and skipped, seconds, points/s, output files, best designs."""
    out_dir = Path(out_dir)
    r = resolve(space_path, opts.max_points)
    _prepare_out(out_dir, r.plain, opts.resume)
    _accuracies(r, out_dir, opts.progress)
    chunks, report = cost_all(r, out_dir, opts)
    table = merge(chunks, out_dir, r.networks)
    pq.write_table(table, out_dir / "points.parquet")
    pacsv.write_csv(table, out_dir / "points.csv")
    out = StudyOutput(out_dir, "sweep", f"Design-space sweep: {Path(space_path).name}",
                      f"{r.n_points} designs: {len(r.points)} hardware points over {Path(r.plain['base']).name} x "
                      f"bit configs of {', '.join(n.name for n in r.networks)}; every point costed by the dataflow "
                      f"cost model (per sample). All points: points.parquet, points.csv; the space: {RESOLVED}.")
    fronts(table, out, [n.name for n in r.networks])
    best = best_designs(table, opts.max_area_mm2, opts.max_latency_ms)
    limits = []
    if opts.max_area_mm2 is not None:
        limits.append(f"area <= {opts.max_area_mm2:g} mm^2")
    if opts.max_latency_ms is not None:
        limits.append(f"latency <= {opts.max_latency_ms:g} ms")
    out.table("best_designs", best, "Lowest-energy designs" + (f" within {' and '.join(limits)}" if limits else ""),
              "Per network, the designs of least energy per sample (ties: lower latency); energy in uJ, latency in "
              "ms per sample, area in mm^2.", show_rows=40)
    index = out.dir / "index.html"
    out.finish()
    return {"points": r.n_points, "hardware_points": len(r.points), "chunks": len(chunks),
            "chunks_run": report.chunks_run, "chunks_skipped": report.chunks_skipped, "seconds": report.seconds,
            "points_per_s": report.points_per_s if report.points_run else None, "parquet": str(out_dir / "points.parquet"),
            "csv": str(out_dir / "points.csv"), "html": str(index), "best": best}
