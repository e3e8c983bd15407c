"""bitmixer ablation RUN... [--config SPEC] [--json PATH]: one accuracy row per trained run.

Each RUN is a run directory of `bitmixer train` (or a checkpoint file). Columns: float, each uniform
bit-width, and the mean / min / max over the random per-layer configs of SPEC (evaluated on the
test split). A run whose network has one candidate bit-width (a fixed-bit LSQ baseline) gets no random
columns; a run trained only in float (the float reference) gets only the float column.
"""
from __future__ import annotations

from studies.ablation_table import ablation_table

from .common import add_data_args, format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("ablation", help="accuracy table over several trained runs (baselines, BN variants)",
                       description=__doc__)
    p.add_argument("runs", nargs="+", help="run directories (or checkpoint files)")
    p.add_argument("--config", default="fp,uniform,random:100:0", help="configs to evaluate (as for eval)")
    p.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples")
    p.add_argument("--json", default=None, help="write all results to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    table = ablation_table(args.runs, args.config, args.samples, args.data, args.data_dir,
                           progress=not args.no_progress)
    rows = table["rows"]
    named = list(dict.fromkeys(k for r in rows for k in r
                               if k not in ("run", "bn", "bits", "stages") and not k.startswith("random")))
    cols = [("run", "run", ""), ("bn", "BN", ""), ("stages", "stages", ""), ("bits", "bits", "")]
    cols += [(k, k, ".4f") for k in named]
    if any("random_mean" in r for r in rows):
        cols += [("random_mean", "rand mean", ".4f"), ("random_min", "rand min", ".4f"), ("random_max", "rand max", ".4f")]
    print(format_table(rows, cols))
    write_json(args.json, {"config": args.config, "runs": table["runs"]})
    return 0
