"""bitmixer ablation RUN... [--config SPEC] [--json PATH]: one accuracy row per trained run.

Each RUN is a run directory of `bitmixer train` (or a checkpoint file). Columns: float, each uniform
bit-width, and the mean / min / max over the random per-layer configs of SPEC (evaluated on the
test split). A run whose network has one candidate bit-width (a fixed-bit LSQ baseline) gets no random
columns; a run trained only in float (the float reference) gets only the float column.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim.errors import UserError

from quantnet.checkpoint import load_checkpoint
from quantnet.config_spec import parse_config_spec
from .common import add_data_args, dataset_for, format_table, write_json
from .eval import evaluate_configs


def register(sub) -> None:
    p = sub.add_parser("ablation", help="accuracy table over several trained runs (baselines, BN variants)",
                       description=__doc__)
    p.add_argument("runs", nargs="+", help="run directories (or checkpoint files)")
    p.add_argument("--config", default="fp,uniform,random:100:0", help="configs to evaluate (as for eval)")
    p.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples")
    p.add_argument("--json", default=None, help="write all results to this JSON file")
    add_data_args(p)
    p.set_defaults(func=run)


def _checkpoint(path: str) -> Path:
    p = Path(path)
    ck = p / "checkpoint.pt" if p.is_dir() else p
    if not ck.is_file():
        raise UserError(f"{path}: no checkpoint.pt there (give a `bitmixer train` run directory or a checkpoint)")
    return ck


def run_row(path: str, spec_text: str, args) -> tuple[dict, list[dict]]:
    model, extra = load_checkpoint(_checkpoint(path))
    data = dataset_for(args, extra)
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    configs = parse_config_spec(spec_text, model.spec)
    stages = (extra.get("train_config") or {}).get("stages") or []
    if stages and all(s["kind"] == "float" for s in stages):  # the float reference: its steps were never trained
        configs = [(n, c) for n, c in configs if c is None]
    if len(model.candidate_bits) == 1:  # fixed-bit baseline: random configs would all be the same uniform one
        configs = [(n, c) for n, c in configs if not n.startswith("random")]
    results = evaluate_configs(model, configs, x, y)
    row = {"run": str(path), "bn": model.bn_mode, "bits": ",".join(map(str, model.candidate_bits)),
           "stages": "+".join(s["kind"] for s in stages) or "-"}
    rand = []
    for r in results:
        if r["config"].startswith("random"):
            rand.append(r["accuracy"])
        else:
            row[r["config"]] = r["accuracy"]
    if rand:
        row.update({"random_mean": float(np.mean(rand)), "random_min": float(np.min(rand)),
                    "random_max": float(np.max(rand)), "random_n": len(rand)})
    return row, results


def run(args) -> int:
    rows, everything = [], []
    for path in args.runs:
        row, results = run_row(path, args.config, args)
        rows.append(row)
        everything.append({"run": str(path), "summary": row, "results": results})
    named = list(dict.fromkeys(k for r in rows for k in r
                               if k not in ("run", "bn", "bits", "stages") and not k.startswith("random")))
    cols = [("run", "run", ""), ("bn", "BN", ""), ("stages", "stages", ""), ("bits", "bits", "")]
    cols += [(k, k, ".4f") for k in named]
    if any("random_mean" in r for r in rows):
        cols += [("random_mean", "rand mean", ".4f"), ("random_min", "rand min", ".4f"), ("random_max", "rand max", ".4f")]
    print(format_table(rows, cols))
    write_json(args.json, {"config": args.config, "runs": everything})
    return 0
