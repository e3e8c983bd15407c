"""bitmixer sweep SPACE.yaml [--out DIR] [--workers N | --scheduler ADDRESS | --serial] [--resume]: cost every
design of a space (hardware parameters x bit configs x networks) on a Dask cluster, a chunk per task;
writes points.parquet, points.csv, resolved_space.yaml, Pareto-front figures and index.html into DIR."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import positive_int, write_json


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (an area or latency limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def register(sub) -> None:
    p = sub.add_parser("sweep", help="design-space sweeps (hardware x bit configs x networks) on Dask",
                       description=__doc__)
    p.add_argument("space", help="design space YAML (see README: Sweeping a design space)")
    p.add_argument("--out", default=None, help="output directory (default: runs/sweep-<space name>)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, default=None,
                       help="worker processes of the local Dask cluster (default: one per CPU)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)")
    where.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    p.add_argument("--resume", action="store_true", help="finish an interrupted sweep in --out (skips written chunks)")
    p.add_argument("--max-points", type=positive_int, default=10_000_000, help="refuse larger spaces (default 1e7)")
    p.add_argument("--chunk-points", type=positive_int, default=50_000, help="points per task (default 50000)")
    p.add_argument("--max-area", type=positive_float, default=None, help="best-designs table: area limit in mm^2")
    p.add_argument("--max-latency", type=positive_float, default=None,
                   help="best-designs table: latency limit in ms per sample")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", default=None, help="write the summary (and the best designs) to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    from studies.sweep.run import SweepOptions, run_sweep

    out = Path(args.out) if args.out else Path("runs") / f"sweep-{Path(args.space).stem}"
    opts = SweepOptions(serial=args.serial, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                        max_points=args.max_points, chunk_points=args.chunk_points, max_area_mm2=args.max_area,
                        max_latency_ms=args.max_latency, progress=not args.no_progress)
    s = run_sweep(args.space, out, opts)
    rate = f", {s['points_per_s']:.0f} points/s" if s["points_per_s"] else ""
    print(f"{s['points']} points ({s['hardware_points']} hardware points) in {s['chunks']} chunks: "
          f"{s['chunks_run']} run, {s['chunks_skipped']} already written; {s['seconds']:.2f} s{rate}")
    print(f"table: {s['parquet']} (and .csv)\nreport: {s['html']}")
    write_json(args.json, s)
    return 0
