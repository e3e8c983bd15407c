"""bitmixer eval CKPT --config SPEC [--json PATH]: accuracy of the meta-network at bit configurations."""
from __future__ import annotations

from quantnet.evaluate import evaluate_checkpoint

from .common import add_data_args, format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy of a checkpoint at bit configurations",
                       description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--config", default="fp,uniform", help="fp, uniform[:B], wBaB, random:N[:SEED], "
                                                          "random-block:N[:SEED], or a YAML/JSON file; comma-separated")
    p.add_argument("--json", default=None, help="write results to this JSON file")
    p.add_argument("--samples", type=int, default=None, help="evaluate on the first N test samples")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    res = evaluate_checkpoint(args.checkpoint, args.config, args.data, args.data_dir, args.samples)
    print(format_table(res["summary"], [("config", "config", ""), ("avg_w_bits", "avg W", ".2f"),
                                        ("avg_a_bits", "avg A", ".2f"), ("accuracy", "top-1", ".4f"),
                                        ("min", "min", ".4f"), ("max", "max", ".4f"),
                                        ("samples", "samples", "d")]))
    write_json(args.json, {k: res[k] for k in ("checkpoint", "data", "results")})
    return 0
