"""bitmixer eval CKPT --config SPEC [--json PATH]: accuracy of the meta-network at bit configurations.
bitmixer eval CKPT --policy P [--hw CONFIG] [--cost KIND]: accuracy and per-sample cost of an adaptive policy."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from ..adaptive.cost import shown
from ..adaptive.evaluate import evaluate_policy_file
from ..checkpoint import load_checkpoint
from ..config_spec import parse_config_spec
from ..evaluate import accuracy
from .common import add_data_args, dataset_for, format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy of a checkpoint at bit configurations",
                       description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--config", default="fp,uniform", help="fp, uniform[:B], wBaB, random:N[:SEED], "
                                                          "random-block:N[:SEED], or a YAML/JSON file; comma-separated")
    p.add_argument("--json", default=None, help="write results to this JSON file")
    p.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples")
    p.add_argument("--policy", default=None, help="evaluate this adaptive policy (search adaptive) instead of --config")
    p.add_argument("--hw", default=None, help="--policy: price on this accelerator (default: the one it was trained for)")
    p.add_argument("--cost", default=None, help="--policy: energy, latency or bitops (default: what it was trained on)")
    add_data_args(p)
    p.set_defaults(func=run)


def evaluate_configs(model, configs, x, y, progress: bool = True) -> list[dict]:
    results = []
    for name, cfg in tqdm(configs, desc="eval", disable=not progress or len(configs) < 4, leave=False):
        w, a = (32.0, 32.0) if cfg is None else cfg.avg_bits(model.spec)
        results.append({"config": name, "avg_w_bits": w, "avg_a_bits": a,
                        "bitops": None if cfg is None else cfg.bitops(model.spec),
                        "accuracy": accuracy(model, cfg, x, y), "samples": int(len(y)),
                        "bits": None if cfg is None else {k: list(v) for k, v in cfg.bits.items()}})
    return results


def summary_rows(results: list[dict]) -> list[dict]:
    """Random configs folded into one mean/min/max row; named configs as they are."""
    named = [r for r in results if not r["config"].startswith("random")]
    rand = [r["accuracy"] for r in results if r["config"].startswith("random")]
    rows = [dict(r) for r in named]
    if rand:
        rows.append({"config": f"random x{len(rand)} (mean)", "accuracy": float(np.mean(rand)),
                     "min": float(np.min(rand)), "max": float(np.max(rand)), "samples": results[-1]["samples"]})
    return rows


def run(args) -> int:
    model, extra = load_checkpoint(args.checkpoint)
    data = dataset_for(args, extra)
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    if args.policy:
        return print_policy(evaluate_policy_file(model, args.policy, x, y, args.hw, args.cost), args.json)
    configs = parse_config_spec(args.config, model.spec)
    results = evaluate_configs(model, configs, x, y)
    print(format_table(summary_rows(results), [("config", "config", ""), ("avg_w_bits", "avg W", ".2f"),
                                               ("avg_a_bits", "avg A", ".2f"), ("accuracy", "top-1", ".4f"),
                                               ("min", "min", ".4f"), ("max", "max", ".4f"),
                                               ("samples", "samples", "d")]))
    write_json(args.json, {"checkpoint": str(args.checkpoint), "data": data.name, "results": results})
    return 0


def print_policy(r: dict, json_path) -> int:
    c, u = r["cost"], r["cost"]["unit"]
    print(f"policy {r['policy']}: top-1 {r['accuracy']:.4f} on {r['samples']} samples, {r['distinct_configs']} distinct configs")
    print(f"{r['cost_kind']} per sample on {r['hw'] or 'BitOps'} (incl. the policy's {shown(r['policy_cost'], u)}, "
          f"{r['policy_macs']} MACs): mean {shown(c['mean'], u)} ± {shown(c['std'], u)}; min {shown(c['min'], u)}, "
          f"p10 {shown(c['p10'], u)}, median {shown(c['median'], u)}, p90 {shown(c['p90'], u)}, max {shown(c['max'], u)}")
    rows = [{**k, "cost_shown": shown(k["cost"], u), "widths": k["config"].removeprefix("adaptive-")} for k in r["configs"]]
    print(format_table(rows, [("widths", "widths per decision", ""), ("samples", "samples", "d"), ("share", "share", ".3f"),
                              ("accuracy", "top-1", ".4f"), ("cost_shown", "config cost", "")]))
    write_json(json_path, r)
    return 0
