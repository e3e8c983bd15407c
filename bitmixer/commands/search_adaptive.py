"""bitmixer search adaptive CKPT --hw CONFIG --cost energy --lambda L --out DIR: train a per-sample
bit-width policy (ABN-style) on the frozen meta-network, rewarded by correct - L * cost / cost(widest),
cost from the accelerator's cost model; saves DIR/policy.pt and DIR/result.json, reports test figures."""
from __future__ import annotations

from quantnet.adaptive.cost import COST_KINDS, shown
from quantnet.adaptive.decisions import GRANULARITIES
from quantnet.adaptive.policy import DEFAULT_HIDDEN
from quantnet.adaptive.search import search_adaptive_checkpoint
from quantnet.adaptive.train import METHODS, TrainSettings

from .common import add_data_args, write_json


def register(sub) -> None:
    p = sub.add_parser("adaptive", help="train a per-sample bit-width policy", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--hw", default=None, help="accelerator config YAML (needed unless --cost bitops)")
    p.add_argument("--cost", choices=sorted(COST_KINDS), default="energy", help="what the policy pays (default energy)")
    p.add_argument("--lambda", dest="lam", type=float, required=True, help="cost weight in the reward (>= 0)")
    p.add_argument("--out", required=True, help="output directory (policy.pt, result.json)")
    p.add_argument("--method", choices=METHODS, default="reinforce", help="policy gradient or straight-through Gumbel")
    p.add_argument("--granularity", choices=GRANULARITIES, default="layer", help="one decision per layer or per block")
    p.add_argument("--hidden", type=int, default=DEFAULT_HIDDEN, help="hidden width of each head (0: linear heads)")
    p.add_argument("--epochs", type=int, default=TrainSettings.epochs)
    p.add_argument("--lr", type=float, default=TrainSettings.lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    settings = TrainSettings(method=args.method, epochs=args.epochs, lr=args.lr, seed=args.seed)
    r = search_adaptive_checkpoint(args.checkpoint, args.hw, args.cost, args.lam, settings, args.out, args.granularity,
                                   args.hidden, args.data, args.data_dir, progress=not args.no_progress)
    t, c = r["test"], r["test"]["cost"]
    print(f"policy ({args.method}, lambda {args.lam}, {args.granularity}) saved to {r['policy']}")
    print(f"test: top-1 {t['accuracy']:.4f} on {t['samples']} samples; {args.cost} per sample "
          f"{shown(c['mean'], c['unit'])} mean (± {shown(c['std'], c['unit'])}), incl. the policy's "
          f"{shown(t['policy_cost'], c['unit'])} ({t['policy_macs']} MACs); {t['distinct_configs']} distinct configs; "
          f"widest config {shown(r['cost_ref'], c['unit'])}")
    write_json(args.json, r)
    return 0
