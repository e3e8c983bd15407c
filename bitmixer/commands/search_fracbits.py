"""bitmixer search fracbits CKPT --cost energy --hw hw_configs/stripes.yaml --budget 0.6 --out DIR:
learn fractional per-layer bit-widths on the frozen meta-network (FracBits) under a budget, round them
to a config within it, and write DIR/config.yaml (for eval, estimate, simulate, verify), the λ
trajectory (trajectory.csv, trajectory.png) and the resolved settings (settings.yaml)."""
from __future__ import annotations

from quantnet.fracbits.costs import COSTS
from quantnet.fracbits.end_to_end import EndToEndSettings
from quantnet.fracbits.run import run_fracbits
from quantnet.fracbits.search import SearchSettings

from .common import add_data_args, format_table, write_json

_DEFAULTS = SearchSettings()
_E2E = EndToEndSettings()


def register(sub) -> None:
    p = sub.add_parser("fracbits", help="FracBits: learned fractional bit-widths under a budget", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--cost", default="energy", help=f"what the budget pays for: {', '.join(COSTS)} (default energy)")
    p.add_argument("--hw", default=None, help="accelerator config for energy / latency, e.g. hw_configs/stripes.yaml")
    p.add_argument("--budget", required=True, help="a fraction between the all-lowest (0) and all-highest (1) "
                                                   "config's cost (0.6, 60%%), or a figure with its unit "
                                                   "(12.5uJ, 40us, 3.1GBitOps, 1.2kB)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--steps", type=int, default=_DEFAULTS.steps, help=f"optimiser steps on λ (default {_DEFAULTS.steps})")
    p.add_argument("--lr", type=float, default=_DEFAULTS.lr, help=f"Adam step on λ in bits (default {_DEFAULTS.lr})")
    p.add_argument("--kappa", type=float, default=_DEFAULTS.kappa,
                   help=f"weight of the budget penalty κ·|cost/target − 1| (default {_DEFAULTS.kappa})")
    p.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size)
    p.add_argument("--distill", type=float, default=_DEFAULTS.distill,
                   help="weight in [0, 1] of the KL from the widest config in the task loss (default 0)")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    p.add_argument("--threads", type=int, default=_DEFAULTS.threads, help="torch CPU threads (0: torch's default)")
    p.add_argument("--no-select", action="store_true",
                   help="keep the paper's hard assignment as it is (default: choose by training loss among it and "
                        "the configs around λ that spend the budget it left)")
    p.add_argument("--climb", type=int, default=_DEFAULTS.climb,
                   help=f"then at most N local-search moves (one width up or down, or a trade between two) to a "
                        f"config of lower training loss within the budget (default {_DEFAULTS.climb}; 0: none)")
    p.add_argument("--climb-evals", type=int, default=_DEFAULTS.climb_evals,
                   help=f"the local search scores at most N configs, each a pass over the training samples "
                        f"(default {_DEFAULTS.climb_evals})")
    p.add_argument("--separate-widths", action="store_true",
                   help="the paper's separate λ for weights and activations (default: one λ per layer, w = a, the "
                        "configs a meta-network is trained on)")
    p.add_argument("--end-to-end", action="store_true",
                   help="the paper's use, from a float checkpoint: weights train with λ, then are fine-tuned at the "
                        "chosen config (writes DIR/checkpoint.pt)")
    p.add_argument("--e2e-steps", type=int, default=_E2E.search_steps, help="end to end: steps of weights and λ together")
    p.add_argument("--finetune-steps", type=int, default=_E2E.finetune_steps, help="end to end: fine-tuning steps")
    p.add_argument("--samples", type=int, default=None, help="measure accuracy on the first N test samples")
    p.add_argument("--json", default=None, help="write the summary to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    settings = SearchSettings(steps=args.steps, lr=args.lr, kappa=args.kappa, batch_size=args.batch_size,
                              distill=args.distill, seed=args.seed, threads=args.threads, select=not args.no_select,
                              climb=args.climb, climb_evals=args.climb_evals, per_layer=not args.separate_widths)
    e2e = None
    if args.end_to_end:
        e2e = EndToEndSettings(search_steps=args.e2e_steps, finetune_steps=args.finetune_steps, lam_lr=args.lr,
                               kappa=args.kappa, batch_size=args.batch_size, seed=args.seed)
    r = run_fracbits(args.checkpoint, args.cost, args.budget, args.out, args.hw, settings, args.samples,
                     args.data, args.data_dir, not args.no_progress, e2e)
    rows = [{"layer": n, "w": v["w"], "a": v["a"]} for n, v in r["config"]["layers"].items()]
    print(format_table(rows, [("layer", "layer", ""), ("w", "W", "d"), ("a", "A", "d")]))
    print(f"\n{r['cost']}{' on ' + r['hw'] if r['hw'] else ''}: config costs {r['cost_text']} against a budget of "
          f"{r['target_text']} ({100 * r['budget_fraction']:.1f}% of the way from {r['all_lowest']['config']} "
          f"to {r['all_highest']['config']}); top-1 {r['accuracy']:.4f} on {r['test_samples']} test samples; "
          f"search {r['search_seconds']:.1f} s")
    print(f"wrote {', '.join(r['outputs'].values())}")
    write_json(args.json, r)
    return 0
