"""bitmixer ablation RUN... [--config SPEC] [--json PATH]: one accuracy row per trained run.

Each RUN is a run directory of `bitmixer train` (or a checkpoint file). Columns: float, each uniform
bit-width, and the mean / min / max over the random per-layer configs of SPEC (evaluated on the
test split). A run whose network has one candidate bit-width (a fixed-bit LSQ baseline) gets no random
columns; a run trained only in float (the float reference) gets only the float column; a meta-network, whose
float mode is not trained, gets no float column.
With --seeds 0,1,2 (or a count, 3) each RUN is a directory of one run per training seed, RUN/seed<k>
(`bitmixer train --seed k --out RUN/seed<k>`), and every figure is the mean ± sample std over them.
"""
from __future__ import annotations

from studies.ablation_table import ablation_table
from studies.seeds import parse_seeds, pm

from .common import add_data_args, format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("ablation", help="accuracy table over several trained runs (baselines, BN variants)",
                       description=__doc__)
    p.add_argument("runs", nargs="+", help="run directories (or checkpoint files)")
    p.add_argument("--config", default="fp,uniform,random:100:0", help="configs to evaluate (as for eval; fp only "
                                                                      "where a run's float mode is trained)")
    p.add_argument("--seeds", default=None, help="each RUN holds RUN/seed<k> for these seeds (0,1,2) or this many (3)")
    p.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples")
    p.add_argument("--json", default=None, help="write all results to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    table = ablation_table(args.runs, args.config, args.samples, args.data, args.data_dir,
                           progress=not args.no_progress, seeds=seeds)
    rows = table["rows"]
    named = list(dict.fromkeys(k for r in rows for k in r if k not in ("run", "bn", "bits", "stages", "seeds")
                               and not k.startswith("random") and not k.endswith("_seed_std")))
    cols = [("run", "run", ""), ("bn", "BN", ""), ("stages", "stages", ""), ("bits", "bits", "")]
    rand = [("random_mean", "rand mean"), ("random_min", "rand min"), ("random_max", "rand max")]
    if seeds is None:
        cols += [(k, k, ".4f") for k in named]
        if any("random_mean" in r for r in rows):
            cols += [(k, h, ".4f") for k, h in rand]
    else:
        shown = [(k, k) for k in named] + ([(k, h) for k, h in rand] if any("random_mean" in r for r in rows) else [])
        rows = [{**r, **{f"{k}_pm": pm(r.get(k), r.get(f"{k}_seed_std")) for k, _ in shown}} for r in rows]
        cols += [("seeds", "seeds", "d")] + [(f"{k}_pm", f"{h} %", "") for k, h in shown]
        print(f"top-1 %, mean ± sample std over training seeds {list(seeds)}")
    print(format_table(rows, cols))
    write_json(args.json, {"config": args.config, "seeds": list(seeds) if seeds else None, "runs": table["runs"],
                           "rows": table["rows"]})
    return 0
