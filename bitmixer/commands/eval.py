"""bitmixer eval CKPT --config SPEC [--json PATH]: accuracy of the meta-network at bit configurations.
bitmixer eval CKPT --config worst:N[:SEED] [--worst K]: the K worst of N random per-layer configs and the
per-transition sensitivity table (each layer's (prev[+shortcut] -> this) widths: mean accuracy of the configs holding it).
bitmixer eval CKPT --policy P [--hw CONFIG] [--cost KIND]: accuracy and per-sample cost of an adaptive policy."""
from __future__ import annotations

from quantnet.adaptive.cost import shown
from quantnet.adaptive.evaluate import evaluate_policy_checkpoint
from quantnet.evaluate import evaluate_checkpoint
from quantnet.sensitivity import WORST_PREFIX, worst_checkpoint

from .common import add_data_args, format_table, positive_int, write_json


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy of a checkpoint at bit configurations",
                       description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--config", default="uniform", help="fp (a float network only), uniform[:B], wBaB, random:N[:SEED], "
                                                          "random-block:N[:SEED], or a YAML/JSON file; comma-separated; "
                                                          "or worst:N[:SEED] alone (the worst of N random configs)")
    p.add_argument("--worst", type=positive_int, default=10, help="worst:N: how many of the worst configs to list")
    p.add_argument("--json", default=None, help="write results to this JSON file")
    p.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples")
    p.add_argument("--policy", default=None, help="evaluate this adaptive policy (search adaptive) instead of --config")
    p.add_argument("--hw", default=None, help="--policy: price on this accelerator (default: the one it was trained for)")
    p.add_argument("--cost", default=None, help="--policy: energy, latency or bitops (default: what it was trained on)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.policy:
        return print_policy(evaluate_policy_checkpoint(args.checkpoint, args.policy, args.hw, args.cost, args.data,
                                                       args.data_dir, args.samples), args.json)
    if args.config.startswith(WORST_PREFIX):
        return print_worst(worst_checkpoint(args.checkpoint, args.config, args.worst, args.data, args.data_dir,
                                            args.samples, progress=not args.no_progress), args.json)
    res = evaluate_checkpoint(args.checkpoint, args.config, args.data, args.data_dir, args.samples,
                              progress=not args.no_progress)
    print(format_table(res["summary"], [("config", "config", ""), ("avg_w_bits", "avg W", ".2f"),
                                        ("avg_a_bits", "avg A", ".2f"), ("accuracy", "top-1", ".4f"),
                                        ("min", "min", ".4f"), ("max", "max", ".4f"),
                                        ("samples", "samples", "d")]))
    write_json(args.json, {k: res[k] for k in ("checkpoint", "data", "results")})
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


def print_worst(r: dict, json_path) -> int:
    u = ", ".join(f"{k} {100 * v:.2f} %" for k, v in r["uniform"].items())
    rnd = r["random"]
    print(f"{r['n']} random per-layer configs (seed {r['seed']}) on {r['samples']} samples: mean {100 * rnd['mean']:.2f} %, "
          f"min {100 * rnd['min']:.2f} %, max {100 * rnd['max']:.2f} %; uniform: {u}")
    print(f"the {len(r['worst'])} worst (weight widths of {' -> '.join(r['layers'])}):")
    print(format_table([{**w, "acc": 100 * w["accuracy"]} for w in r["worst"]],
                       [("config", "config", ""), ("widths", "widths", ""), ("acc", "top-1 %", ".2f")]))
    print("per transition (prev+sc: the widths of the producers of a residual sum's main and shortcut summands; "
          "drop: mean of all random configs minus mean of those holding it, points):")
    rows = [{**t, "t": f"{t['prev']}{'' if t['prev_shortcut'] is None else '+' + str(t['prev_shortcut'])} -> {t['bits']}",
             "mean_p": 100 * t["mean"], "min_p": 100 * t["min"], "drop_p": 100 * t["drop"]} for t in r["transitions"]]
    print(format_table(rows, [("layer", "layer", ""), ("t", "prev[+sc] -> bits", ""), ("configs", "configs", "d"),
                              ("mean_p", "mean %", ".2f"), ("min_p", "min %", ".2f"), ("drop_p", "drop pt", "+.2f")]))
    write_json(json_path, r)
    return 0
