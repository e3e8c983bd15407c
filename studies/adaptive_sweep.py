"""Measure the adaptive per-sample policy against static configs on one accelerator.

For each (method, granularity, lambda) the policy is trained with 3 seeds on the training split; every
figure is on the test split, in energy per sample from the cost model, the policy's heads included.
Static baselines: uniform configs, N random per-layer configs and their Pareto front, and every config
of the policy's own choice space (the best fixed choice it could have made). Writes adaptive.csv
(one row per point), summary.json, adaptive.png and (--behaviour-lambda) behaviour.png.

    python -m studies.adaptive_sweep --checkpoint runs/meta/checkpoint.pt --hw stripes --out DIR
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hwsim.hwconfig import load_hw_config
from quantnet.adaptive.search import make_problem, policy_points, static_points
from quantnet.adaptive.train import TrainSettings
from hwsim.bits import all_uniform, random_configs
from quantnet.checkpoint import load_checkpoint
from quantnet.data import load_dataset
from quantnet.export import export_model

from .hw import hw_config_paths
from .pareto_front import best_within, pareto_mask

LAMBDAS = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)


def policy_space_points(problem) -> list[dict]:
    """Each config the policy can pick, used for every sample (test accuracy from the decision tree)."""
    tree = problem.test
    acc = tree.leaf_correct().mean(1).numpy()
    cost = problem.leaf_cost(tree).numpy() * problem.cost_ref
    return [{"method": f"static-{problem.granularity}-space", "config": c.name, "accuracy": float(a), "cost": float(e)}
            for c, a, e in zip(tree.leaf_configs, acc, cost)]


def aggregate(rows: Sequence[dict]) -> list[dict]:
    """Mean and std over seeds per (method, granularity, lambda)."""
    keys = sorted({(r["method"], r["granularity"], r["lambda"]) for r in rows})
    out = []
    for m, g, lam in keys:
        sel = [r for r in rows if (r["method"], r["granularity"], r["lambda"]) == (m, g, lam)]
        acc, cost = np.array([r["accuracy"] for r in sel]), np.array([r["cost"] for r in sel])
        out.append({"method": m, "granularity": g, "lambda": lam, "seeds": len(sel),
                    "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
                    "cost_mean": float(cost.mean()), "cost_std": float(cost.std()),
                    "policy_cost": sel[0]["policy_cost"]})
    return out


def versus_static(points: list[dict], static: list[dict], key: str = "static") -> list[dict]:
    """Each aggregated policy point against the most accurate static config costing no more."""
    cost = np.array([s["cost"] for s in static])
    acc = np.array([s["accuracy"] for s in static])
    for p in points:
        i = best_within(cost, acc, p["cost_mean"])
        p[f"{key}_config"] = None if i is None else static[i]["config"]
        p[f"{key}_accuracy"] = None if i is None else float(acc[i])
        p[f"{key}_cost"] = None if i is None else float(cost[i])
    return points


def behaviour(problem, lam: float, method: str = "reinforce", epochs: int = 150, seed: int = 0,
              hidden: int = 0) -> dict:
    """Mean chosen width per decision for confident vs unconfident test samples (split at the median of
    the widest config's top softmax probability), and each half's accuracy and energy."""
    from quantnet.adaptive.search import fit
    from quantnet.adaptive.train import greedy_leaves
    tree = problem.test
    pol = fit(problem, lam, TrainSettings(method=method, epochs=epochs, seed=seed), hidden)
    leaves = greedy_leaves(pol, tree)
    K, D = tree.n_choices, len(tree.feats)
    digits = torch.stack([(leaves // K ** (D - 1 - k)) % K for k in range(D)], 1)
    widths = torch.tensor(pol.candidate_bits)[digits].float()
    conf = torch.softmax(tree.leaf_logits[-1], 1).max(1).values
    easy = conf >= conf.median()
    correct = tree.leaf_correct()[leaves, torch.arange(tree.n_samples)]
    cost = problem.leaf_cost(tree)[leaves] * problem.cost_ref + problem.pricer.policy(pol)
    halves = {}
    for name, sel in (("confident", easy), ("unconfident", ~easy)):
        halves[name] = {"samples": int(sel.sum()), "accuracy": float(correct[sel].mean()),
                        "energy_pj": float(cost[sel].mean()),
                        "mean_width": {"+".join(p.layers): float(w) for p, w in zip(pol.points, widths[sel].mean(0))}}
    return {"lambda": lam, "method": method, "seed": seed, "split": "median top-1 probability of the widest config",
            **halves}


def plot_behaviour(path: Path, b: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sites = list(b["confident"]["mean_width"])
    x = np.arange(len(sites))
    fig, ax = plt.subplots(figsize=(6.5, 3.6), layout="constrained")
    for j, half in enumerate(("confident", "unconfident")):
        h = b[half]
        ax.bar(x + (j - 0.5) * 0.38, [h["mean_width"][s] for s in sites], width=0.38,
               label=f"{half} half: top-1 {h['accuracy']:.3f}, {h['energy_pj'] / 1e6:.3f} µJ/sample")
    ax.set_xticks(x, [t.replace("+", "\n+") for t in sites], fontsize=7)
    ax.set_ylabel("mean chosen width (bits)")
    ax.set_title(f"what the policy picks ({b['method']}, lambda {b['lambda']}); split: {b['split']}", fontsize=8)
    ax.set_ylim(1.5, 4.2)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def run_sweep(checkpoint: str, hw_name: str, out: str, lambdas=LAMBDAS, seeds=(0, 1, 2),
              methods=("reinforce", "gumbel"), granularities=("layer",), n_random: int = 100, epochs: int = 150,
              hidden: int = 0, progress: bool = True, behaviour_lambda: float | None = None,
              behaviour_method: str = "gumbel") -> dict:
    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, extra = load_checkpoint(checkpoint)
    data = load_dataset(extra.get("data", "digits"), extra.get("data_dir"))
    hw_path = hw_config_paths([hw_name])[0]
    hw = load_hw_config(hw_path)
    ir = export_model(model)
    rows, space = [], []
    static, seen = None, None
    for g in granularities:
        problem = make_problem(model, data, hw, "energy", g, progress, ir=ir)
        if behaviour_lambda is not None and seen is None:
            seen = behaviour(problem, behaviour_lambda, behaviour_method, epochs, 0, hidden)
            plot_behaviour(out / "behaviour.png", seen)
        if static is None:
            configs = all_uniform(model.spec) + random_configs(model.spec, n_random, 0)
            static = [{"method": "uniform" if c.name.startswith("W") else "random", **s}
                      for c, s in zip(configs, static_points(problem, configs, data.x_test, data.y_test))]
        space += policy_space_points(problem)
        for m in methods:
            s = TrainSettings(method=m, epochs=epochs)
            rows += [{**r, "granularity": g} for r in policy_points(problem, lambdas, seeds, s, hidden, progress)]
    front = pareto_mask(np.array([s["cost"] for s in static]), np.array([s["accuracy"] for s in static]))
    for s, f in zip(static, front):
        s["pareto"] = bool(f)
    points = versus_static(aggregate(rows), [s for s in static if s["pareto"]])
    for g in granularities:   # and the best fixed config of the policy's own choice space
        sel = [p for p in points if p["granularity"] == g]
        versus_static(sel, [s for s in space if s["method"] == f"static-{g}-space"], "space")
    summary = {"checkpoint": str(checkpoint), "hw": hw.name, "hw_source": str(hw_path), "data": data.name,
               "test_samples": int(len(data.y_test)), "cost": "energy per sample (pJ), policy heads included",
               "epochs": epochs, "hidden": hidden, "seeds": list(seeds), "lambdas": list(lambdas),
               "points": points, "behaviour": seen, "static": static, "policy_space": space, "runs": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    _csv(out / "adaptive.csv", rows, static, space)
    _plot(out / "adaptive.png", points, static, space, hw.name)
    return summary


def _csv(path: Path, rows, static, space) -> None:
    import csv
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "granularity", "lambda", "seed", "config", "energy_pj_per_sample", "accuracy"])
        for r in rows:
            w.writerow([r["method"], r["granularity"], r["lambda"], r["seed"], "", f"{r['cost']:.1f}", f"{r['accuracy']:.6f}"])
        for s in static + space:
            w.writerow([s["method"], "", "", "", s["config"], f"{s['cost']:.1f}", f"{s['accuracy']:.6f}"])


def _plot(path: Path, points, static, space, hw_name: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    uj = 1e6
    sp = [s for s in space if s["method"].startswith("static-layer")] or space
    ax.scatter([s["cost"] / uj for s in sp], [s["accuracy"] for s in sp], c="0.85", s=10,
               label="policy's config space, fixed for all samples")
    for kind, style in (("random", dict(c="0.55", marker="o", s=12)), ("uniform", dict(c="tab:blue", marker="s", s=40))):
        sel = [s for s in static if s["method"] == kind]
        ax.scatter([s["cost"] / uj for s in sel], [s["accuracy"] for s in sel], label=kind, **style)
    fr = sorted((s for s in static if s["pareto"]), key=lambda s: s["cost"])
    ax.step([s["cost"] / uj for s in fr], [s["accuracy"] for s in fr], where="post", c="tab:red", label="Pareto front (uniform + random)")
    colours = {"reinforce": "tab:green", "gumbel": "tab:purple"}
    for key in sorted({(p["method"], p["granularity"]) for p in points}):
        sel = sorted((p for p in points if (p["method"], p["granularity"]) == key), key=lambda p: p["cost_mean"])
        m = key[0].removeprefix("adaptive-")
        ax.errorbar([p["cost_mean"] / uj for p in sel], [p["accuracy_mean"] for p in sel],
                    xerr=[p["cost_std"] / uj for p in sel], yerr=[p["accuracy_std"] for p in sel],
                    marker="o" if key[1] == "layer" else "D", ls="-" if key[1] == "layer" else "--",
                    c=colours.get(m, "k"), capsize=3, label=f"adaptive {m}, per {key[1]} (mean ± std, {sel[0]['seeds']} seeds)")
    ax.set_xlabel(f"energy per sample on {hw_name} (µJ, policy included)")
    ax.set_ylabel("top-1 accuracy (test, fake-quant)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="runs/meta/checkpoint.pt")
    p.add_argument("--hw", default="stripes")
    p.add_argument("--out", default="runs/adaptive")
    p.add_argument("--lambdas", default=",".join(str(v) for v in LAMBDAS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--methods", default="reinforce,gumbel")
    p.add_argument("--granularities", default="block",
                   help="comma-separated layer,block (per layer the default digits_resnet10's tree has 3^8 leaves, over the trainer's 4096)")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--random", type=int, default=100)
    p.add_argument("--behaviour-lambda", type=float, default=None,
                   help="also train one policy at this lambda and plot its widths for confident vs unconfident samples")
    p.add_argument("--behaviour-method", default="gumbel")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    s = run_sweep(a.checkpoint, a.hw, a.out, [float(v) for v in a.lambdas.split(",")], tuple(range(a.seeds)),
                  tuple(a.methods.split(",")), tuple(a.granularities.split(",")), a.random, a.epochs,
                  progress=not a.no_progress, behaviour_lambda=a.behaviour_lambda,
                  behaviour_method=a.behaviour_method)
    if s["behaviour"]:
        print(json.dumps(s["behaviour"], indent=1))
    for r in s["points"]:
        print(f"{r['method']:>20} {r['granularity']:>5} lambda {r['lambda']:<5} top-1 {r['accuracy_mean']:.4f} ± "
              f"{r['accuracy_std']:.4f}  energy {r['cost_mean'] / 1e6:.4f} ± {r['cost_std'] / 1e6:.4f} µJ | "
              f"best static <= that energy: front {r['static_config']} {r['static_accuracy']} at "
              f"{(r['static_cost'] or 0) / 1e6:.4f} µJ; policy space {r['space_config']} {r['space_accuracy']} at "
              f"{(r['space_cost'] or 0) / 1e6:.4f} µJ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
