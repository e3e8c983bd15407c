"""FracBits on a trained meta-network against the alternatives, per accelerator and energy budget.

For each accelerator and each budget (a fraction of the way from the all-lowest to the all-highest
uniform config's energy) this measures, on the test samples `bitmixer eval` uses:
  fracbits[energy]  the search paying the accelerator's own energy; its config's energy is measured
                    by the cost model on the exported integer model's shapes (as `bitmixer estimate`);
                    also the paper's hard assignment alone (before `select`)
  fracbits[bitops]  the search paying BitOps (same fraction of the BitOps range), its λ then hard-
                    assigned to the same energy budget: the two penalties compared at equal energy
  random            N configs drawn uniformly from every integer config within the budget: the best
                    by test accuracy (an oracle) and the one with the lowest training loss
  greedy            the pareto study's greedy path (which ranks moves by test accuracy), first config
                    within the budget
and the wall time of each search (torch threads: --threads; the machine's load is printed).

    .venv/bin/python bench/fracbits_eval.py CKPT [--hw stripes bitfusion] [--fractions 0.25 0.5 0.75]
        [--random 100] [--steps 150] [--separate-widths] [--climb N] [--fracbits-only] [--no-extras]
        [--json out.json]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import numpy as np
import torch

from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.hwconfig import load_hw_config
from quantnet.checkpoint import load_checkpoint
from quantnet.data import load_dataset
from quantnet.evaluate import accuracy
from quantnet.export import export_model
from quantnet.fracbits.assign import box_configs, fill_path, hard_assign
from quantnet.fracbits.climb import climb
from quantnet.fracbits.costs import cost_table, extreme_configs
from quantnet.fracbits.search import SearchSettings, search_frozen, task_loss
from quantnet.fracbits.widths import FracWidths
from studies.greedy import greedy_path
from studies.hw import hw_config_paths


ENUMERATE_UP_TO = 100_000      # configs; a larger space is sampled (a 9-width net has 3^9 = 19683)


def totals(table, w: FracWidths, vals: np.ndarray) -> np.ndarray:
    """The table's cost of many configs at once (rows of λ values at candidates), for screening."""
    def col(ref, grid):
        if isinstance(ref, tuple):
            return np.full(len(vals), grid.index(ref[0]))
        return np.searchsorted(np.asarray(grid), vals[:, ref])
    out = np.zeros(len(vals))
    for l in table.layers:
        o = col((l.o[0],), l.o) if l.out_of is None else col(w.a_ref[l.out_of], l.o)
        out += l.values[col(w.w_ref[l.name], l.w), col(w.a_ref[l.name], l.a), o]
    return out


def random_fitting(spec, table, target, n, rng, draws=2_000_000, chunk=100_000):
    """(configs, how many fit): n configs drawn uniformly, without repeats, among the integer configs
    whose cost is within `target`. A small space is enumerated; a large one is drawn from uniformly and
    the draws that fit are kept (then 'how many fit' is those found in `draws` draws, a lower bound)."""
    w = FracWidths(spec)
    cands = [np.asarray(v.candidates, np.float64) for v in w.vars]
    if np.prod([len(c) for c in cands], dtype=np.float64) <= ENUMERATE_UP_TO:
        configs = [w.config(np.array(v, np.float64), f"c{i}") for i, v in enumerate(itertools.product(*cands))]
        fits = np.flatnonzero(np.array([table.total(c.bits) for c in configs]) <= target)
        return [configs[i] for i in rng.choice(fits, min(n, len(fits)), replace=False)], len(fits)
    found: dict[tuple, object] = {}
    for _ in range(0, draws, chunk):
        vals = np.stack([c[rng.integers(len(c), size=chunk)] for c in cands], 1)
        for v in vals[totals(table, w, vals) <= target]:
            key = tuple(v)
            cfg = w.config(v, f"r{len(found)}")
            if key not in found and table.total(cfg.bits) <= target:
                found[key] = cfg
        if len(found) >= n:
            break
    return list(found.values())[:n], len(found)


def opt(f, cfg):
    """f(cfg), or None where that measurement was skipped."""
    return None if cfg is None else f(cfg)


def show(v, scale=1.0) -> str:
    return "-" if v is None else f"{v / scale:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--hw", nargs="+", default=["stripes", "bitfusion"])
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    ap.add_argument("--random", type=int, default=100)
    ap.add_argument("--steps", type=int, default=SearchSettings.steps)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--climb", type=int, default=SearchSettings.climb, help="local-search moves after the rounding")
    ap.add_argument("--climb-evals", type=int, default=SearchSettings.climb_evals, help="configs the local search scores")
    ap.add_argument("--separate-widths", action="store_true", help="the paper's separate λ_w, λ_a per layer")
    ap.add_argument("--fracbits-only", action="store_true", help="skip the random and greedy baselines")
    ap.add_argument("--no-extras", action="store_true",
                    help="skip the BitOps-penalty search and the random configs' training loss (a large network)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, extra = load_checkpoint(args.checkpoint)
    ds = load_dataset(extra.get("data", "digits"), extra.get("data_dir"))
    spec = model.spec
    shapes = shapes_from_ir(export_model(model))
    settings = SearchSettings(steps=args.steps, seed=args.seed, threads=args.threads,
                              per_layer=not args.separate_widths, climb=args.climb,
                              climb_evals=args.climb_evals)
    cache: dict = {}

    def acc(cfg) -> float:
        key = tuple(sorted(cfg.bits.items()))
        if key not in cache:
            cache[key] = accuracy(model, cfg, ds.x_test, ds.y_test)
        return cache[key]

    def search(table, target, name):
        r = search_frozen(model, table, target, ds.x_train, ds.y_train, settings, progress=False, name=name)
        return r

    bitops = cost_table("bitops", spec)
    b_lo, b_hi = (bitops.total(c.bits) for c in extreme_configs(spec))
    rng = np.random.default_rng(args.seed)
    rows = []
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores); torch threads {args.threads}; "
          f"{len(ds.y_test)} test samples, {len(ds.y_train)} train samples")
    for path in hw_config_paths(args.hw):
        hw = load_hw_config(path)
        table = cost_table("energy", spec, hw, shapes)
        model_cost = NetworkCost(shapes, hw)

        def measured(cfg):
            return model_cost.total(cfg.bits)["energy_pj"]

        lo, hi = (table.total(c.bits) for c in extreme_configs(spec))
        t0 = time.perf_counter()
        gpath = [] if args.fracbits_only else greedy_path(spec, lambda cs: np.array([table.total(c.bits) for c in cs]),
                            lambda cs: np.array([acc(c) for c in cs]), stop_cost=lo + min(args.fractions) * (hi - lo))
        t_greedy = time.perf_counter() - t0
        for f in args.fractions:
            target = lo + f * (hi - lo)
            fe = search(table, target, "fracbits-energy")
            if args.no_extras:
                fb_cfg = fb_rounded = fb = None
            else:
                fb = search(bitops, b_lo + f * (b_hi - b_lo), "fracbits-bitops")
                wb = FracWidths(spec, per_layer=settings.per_layer)
                wb.lam.data = torch.tensor([fb.lam[n] for n in wb.names], dtype=torch.float64)
                fb_rounded, off = hard_assign(wb, table.total, target, "fracbits-bitops")
                fb_cands = fill_path(wb, fb_rounded, wb.values() + off, table.total, target) + \
                    box_configs(wb, wb.values(), table.total, table.total(fb_rounded.bits), target)
                fb_cfg, _ = climb(wb, fb_cands, lambda c: task_loss(model, c, ds.x_train, ds.y_train), table.total, target,
                                  settings.climb, settings.climb_evals)
            pick, n_fit = ([], 0) if args.fracbits_only else random_fitting(spec, table, target, args.random, rng)
            rand_acc = [acc(c) for c in pick]
            rand_loss = [] if args.no_extras else [task_loss(model, c, ds.x_train, ds.y_train) for c in pick]
            g = next(((c, cost, a) for c, cost, a in gpath if cost <= target), None)
            row = {"accelerator": hw.name, "pe_kind": hw.pe.kind, "fraction": f, "budget_pj": target,
                   "lowest_pj": lo, "highest_pj": hi,
                   "fracbits_energy_pj": measured(fe.config), "fracbits_acc": acc(fe.config),
                   "fracbits_seconds": fe.seconds, "fracbits_scored": fe.candidates, "rounded_energy_pj": measured(fe.rounded),
                   "rounded_acc": acc(fe.rounded), "bitops_rounded_energy_pj": opt(measured, fb_rounded),
                   "bitops_rounded_acc": opt(acc, fb_rounded), "fracbits_bits": {k: list(v) for k, v in fe.config.bits.items()},
                   "bitops_energy_pj": opt(measured, fb_cfg), "bitops_acc": opt(acc, fb_cfg),
                   "bitops_seconds": None if fb is None else fb.seconds,
                   "bitops_bits": None if fb_cfg is None else {k: list(v) for k, v in fb_cfg.bits.items()},
                   "random_fitting": int(n_fit), "random_n": int(len(pick)),
                   "random_best_acc": max(rand_acc, default=float("nan")),
                   "random_mean_acc": float(np.mean(rand_acc)) if pick else float("nan"),
                   "random_by_train_loss_acc": rand_acc[int(np.argmin(rand_loss))] if rand_loss else float("nan"),
                   "greedy_energy_pj": None if g is None else measured(g[0]),
                   "greedy_acc": None if g is None else g[2], "greedy_seconds": t_greedy}
            rows.append(row)
            print(f"{hw.name:10s} {f:.2f}: budget {target / 1e6:.4f} uJ | fracbits[energy] {row['fracbits_energy_pj'] / 1e6:.4f} uJ "
                  f"acc {row['fracbits_acc']:.4f} ({fe.seconds:.1f} s; paper rounding {row['rounded_energy_pj'] / 1e6:.4f} uJ "
                  f"acc {row['rounded_acc']:.4f}) | fracbits[bitops] {show(row['bitops_energy_pj'], 1e6)} uJ "
                  f"acc {show(row['bitops_acc'])} (rounding {show(row['bitops_rounded_acc'])}) | random best/mean of {len(pick)} {row['random_best_acc']:.4f}/"
                  f"{row['random_mean_acc']:.4f}, picked by train loss {row['random_by_train_loss_acc']:.4f} | greedy "
                  + ("-" if g is None else f"{row['greedy_energy_pj'] / 1e6:.4f} uJ acc {row['greedy_acc']:.4f}"), flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"checkpoint": args.checkpoint, "settings": vars(args), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
