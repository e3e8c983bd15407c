"""Selection study: how to choose the bit-widths of one meta-network on one accelerator.

Every method is a point (or a series) of accuracy against the average energy per sample on the same
test samples, priced by the same cost model: uniform configs, random per-layer configs, the greedy
search, FracBits paying BitOps, FracBits paying the accelerator's own energy, and the adaptive
per-sample policy at several lambdas (mean and spread over seeds; its heads' energy included). A
second picture shows what the policy does: the width it picks per decision for the samples the
widest config is confident about and for the others.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hwsim.bits import BitConfig, all_uniform, random_configs
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.hwconfig import load_hw_config
from quantnet.data import Dataset
from quantnet.fracbits.costs import choices_of, cost_table, extreme_configs
from quantnet.fracbits.search import SearchSettings

from . import plots
from .adaptive_sweep import aggregate, behaviour, plot_behaviour
from .costs import Accelerator
from .fracbits_points import searched_at_budgets
from .greedy import greedy_path
from .hw import accelerator, hw_config_paths
from .network import MetaNet, ModelSection, int_model, load_metanet
from .output import StudyOutput
from .pareto_front import best_within, pareto_mask
from .schema import to_plain


@dataclass(frozen=True)
class FracBitsSeries:
    budgets: tuple[float, ...] = (0.25, 0.5, 0.75)   # 0: all-lowest uniform config's cost, 1: all-highest's
    steps: int = 150                                 # optimiser steps on the widths
    seed: int = 0

    def __post_init__(self):
        if not self.budgets or any(not 0 <= b <= 1 for b in self.budgets):
            raise ValueError(f"fracbits.budgets must be fractions in [0, 1], got {list(self.budgets)}")
        if self.steps < 1:
            raise ValueError(f"fracbits.steps must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class AdaptiveSeries:
    method: Literal["gumbel", "reinforce"] = "gumbel"
    granularity: Literal["layer", "block"] = "block"  # per layer outgrows the exact tree on digits_resnet10
    lambdas: tuple[float, ...] = (0.05, 0.2, 0.4, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 150
    hidden: int = 0                                  # hidden width of each head (0: linear heads)
    behaviour_lambda: float = 0.4                    # the policy the behaviour picture shows

    def __post_init__(self):
        if not self.lambdas or any(v < 0 for v in self.lambdas):
            raise ValueError(f"adaptive.lambdas must be >= 0, got {list(self.lambdas)}")
        if not self.seeds or self.epochs < 1 or self.hidden < 0:
            raise ValueError("adaptive: seeds must be non-empty, epochs >= 1 and hidden >= 0")


@dataclass(frozen=True)
class SelectionConfig:
    model: ModelSection = field(default_factory=lambda: ModelSection(samples=None))
    hardware: str = "stripes"                        # one hw_configs name or path
    random: int = 100
    seed: int = 0
    greedy: bool = True
    fracbits: FracBitsSeries = field(default_factory=FracBitsSeries)
    adaptive: AdaptiveSeries = field(default_factory=AdaptiveSeries)

    def __post_init__(self):
        if self.random < 0:
            raise ValueError(f"random must be >= 0, got {self.random}")


def _point(method: str, cfg: BitConfig, energy: float, acc: float, **extra) -> dict:
    return {"method": method, "config": cfg.name, "energy_pj": float(energy), "accuracy": float(acc),
            "accuracy_std": 0.0, "energy_std": 0.0, **extra, "bits": {k: list(v) for k, v in cfg.bits.items()}}


def static_points(cfg: SelectionConfig, net: MetaNet, acc: Accelerator) -> list[dict]:
    configs = all_uniform(net.spec) + random_configs(net.spec, cfg.random, cfg.seed)
    energy = acc.cost_of([c.bits for c in configs])[0]
    accuracy = net.accuracy(configs)
    return [_point("uniform" if i < len(net.spec.candidate_bits) else "random", c, e, a)
            for i, (c, e, a) in enumerate(zip(configs, energy, accuracy))]


def greedy_points(cfg: SelectionConfig, net: MetaNet, acc: Accelerator, progress: bool) -> list[dict]:
    """The greedy path's first config within each energy budget (it ranks moves by test accuracy)."""
    def energy_of(cs):
        return acc.cost_of([c.bits for c in cs])[0]

    lo, hi = energy_of(extreme_configs(net.spec))
    targets = [lo + f * (hi - lo) for f in cfg.fracbits.budgets]
    path = greedy_path(net.spec, energy_of, net.accuracy, min(targets))
    out = []
    for f, b in zip(cfg.fracbits.budgets, targets):
        i = next((k for k, (_, e, _) in enumerate(path) if e <= b), None)
        if i is not None:
            c, e, a = path[i]
            out.append(_point("greedy", BitConfig(c.bits, f"greedy-{f:g}"), e, a, budget_fraction=f, budget_pj=b))
    return out


def fracbits_points(cfg: SelectionConfig, net: MetaNet, acc: Accelerator, progress: bool) -> list[dict]:
    """FracBits at each budget fraction, paying BitOps and paying the accelerator's energy; every
    chosen config measured on the same accelerator and test samples."""
    settings = SearchSettings(steps=cfg.fracbits.steps, seed=cfg.fracbits.seed)
    tables = {"bitops": cost_table("bitops", net.spec), "energy": acc.tabulate(choices_of(net.spec), "energy")}
    out = []
    for paid, table in tables.items():
        for f, _, r in searched_at_budgets(net, table, cfg.fracbits.budgets, settings, f"fracbits[{paid}]", progress):
            energy = acc.cost_of([r.config.bits])[0][0]
            out.append(_point(f"fracbits[{paid}]", r.config, energy, net.accuracy([r.config])[0],
                              budget_fraction=f, search_seconds=r.seconds))
    return out


def adaptive_problem(cfg: SelectionConfig, net: MetaNet, hw, progress: bool):
    from quantnet.adaptive.search import make_problem

    data = Dataset("study", net.x_train, net.y_train, net.x, net.y, net.model.arch.num_classes)
    return make_problem(net.model, data, hw, "energy", cfg.adaptive.granularity, progress, ir=net.ir)


def adaptive_points(cfg: SelectionConfig, problem, progress: bool) -> list[dict]:
    """Mean and spread over seeds of the policy at each lambda: test accuracy and energy per sample,
    its heads included."""
    from quantnet.adaptive.search import policy_points
    from quantnet.adaptive.train import TrainSettings

    a = cfg.adaptive
    runs = policy_points(problem, a.lambdas, a.seeds, TrainSettings(method=a.method, epochs=a.epochs), a.hidden,
                         progress)
    out = []
    for p in aggregate([{**r, "granularity": a.granularity} for r in runs]):
        out.append({"method": f"adaptive[{a.method}]", "config": f"lambda={p['lambda']:g}",
                    "energy_pj": p["cost_mean"], "accuracy": p["accuracy_mean"], "accuracy_std": p["accuracy_std"],
                    "energy_std": p["cost_std"], "lambda": p["lambda"], "seeds": p["seeds"],
                    "policy_energy_pj": p["policy_cost"]})
    return out


def versus_static(points: list[dict], static: list[dict]) -> list[dict]:
    """Each searched or adaptive point against the most accurate static config costing no more."""
    cost = np.array([s["energy_pj"] for s in static])
    acc = np.array([s["accuracy"] for s in static])
    rows = []
    for p in points:
        i = best_within(cost, acc, p["energy_pj"])
        rows.append({"method": p["method"], "config": p["config"], "energy_uj": p["energy_pj"] / 1e6,
                     "accuracy": p["accuracy"], "accuracy_std": p["accuracy_std"],
                     "best_static_within": None if i is None else static[i]["config"],
                     "its_energy_uj": None if i is None else cost[i] / 1e6,
                     "its_accuracy": None if i is None else float(acc[i]),
                     "gain_points": None if i is None else 100 * (p["accuracy"] - float(acc[i]))})
    return rows


SERIES_STYLE = {"greedy": dict(c="tab:orange", marker="^"), "fracbits[bitops]": dict(c="tab:purple", marker="D"),
                "fracbits[energy]": dict(c="tab:green", marker="*")}


def _plot(out: StudyOutput, points: list[dict], acc: Accelerator, label: str) -> None:
    fig, (ax,) = plots.grid(1, 7.0, 4.8)
    static = [p for p in points if p["method"] in ("uniform", "random")]
    cost = np.array([p["energy_pj"] for p in static]) / 1e6
    accuracy = np.array([p["accuracy"] for p in static])
    plots.pareto_panel(ax, cost, accuracy, [p["method"] for p in static], pareto_mask(cost, accuracy),
                       [p["config"] for p in static], f"{acc.name} ({acc.pe_kind})", "energy per sample (µJ)")
    for method, style in SERIES_STYLE.items():
        sel = [p for p in points if p["method"] == method]
        if sel:
            ax.scatter([p["energy_pj"] / 1e6 for p in sel], [p["accuracy"] for p in sel], s=60, zorder=5,
                       label=method, **style)
    ada = sorted((p for p in points if p["method"].startswith("adaptive")), key=lambda p: p["energy_pj"])
    if ada:
        ax.errorbar([p["energy_pj"] / 1e6 for p in ada], [p["accuracy"] for p in ada],
                    xerr=[p["energy_std"] / 1e6 for p in ada], yerr=[p["accuracy_std"] for p in ada],
                    fmt="-o", c="tab:cyan", ms=5, capsize=3, zorder=6, label=f"{ada[0]['method']} (mean ± std)")
    ax.legend(fontsize=7, loc="lower right")
    plots.footnote(fig, label)
    out.figure("selection", fig, "Choosing bit-widths: accuracy vs energy per sample",
               f"Every method on {acc.name}, priced by the same cost model on the same test samples. The red steps "
               f"join the static configs (uniform and random) that no other static config beats on both energy and "
               f"accuracy; the adaptive policy's energy includes its own heads. {label}.")


def run(cfg: SelectionConfig, net: MetaNet, acc: Accelerator, hw, out: StudyOutput, progress: bool = True) -> dict:
    problem = adaptive_problem(cfg, net, hw, progress)   # first: a tree too large is refused before any work
    points = static_points(cfg, net, acc)
    if cfg.greedy:
        points += greedy_points(cfg, net, acc, progress)
    points += fracbits_points(cfg, net, acc, progress)
    points += adaptive_points(cfg, problem, progress)
    static = [p for p in points if p["method"] in ("uniform", "random")]
    front = pareto_mask(np.array([p["energy_pj"] for p in static]), np.array([p["accuracy"] for p in static]))
    searched = [p for p in points if p["method"] not in ("uniform", "random")]
    comparison = versus_static(searched, [s for s, f in zip(static, front) if f])
    seen = behaviour(problem, cfg.adaptive.behaviour_lambda, cfg.adaptive.method, cfg.adaptive.epochs,
                     cfg.adaptive.seeds[0], cfg.adaptive.hidden)

    out.resolved_config(to_plain(cfg) | {"accelerator": acc.name})
    out.table("points", [{k: v for k, v in p.items() if k != "bits"} | {"energy_uj": p["energy_pj"] / 1e6}
                         for p in points],
              "Every point", "One row per config or policy: method, energy per sample (pJ and µJ), top-1 accuracy "
              "(for the policy: mean and std over seeds).", show_rows=20)
    out.table("versus_static", comparison, "Each method against the static Pareto front",
              "For each searched config and each policy lambda: the most accurate uniform or random config that "
              "costs no more energy per sample, and the difference in accuracy points.", show_rows=40)
    _plot(out, points, acc, net.source_label)
    path = out.dir / "behaviour.png"
    plot_behaviour(path, seen)
    out.items.append({"kind": "image", "file": path.name, "title": "What the adaptive policy picks",
                      "caption": f"Mean width chosen at each decision, for the test samples the widest config is "
                                 f"confident about (top softmax probability above the median) and for the others; "
                                 f"{cfg.adaptive.method} policy at lambda {cfg.adaptive.behaviour_lambda:g}."})
    out.write_json("behaviour", seen)
    best = max((r for r in comparison if r["gain_points"] is not None), key=lambda r: r["gain_points"], default=None)
    out.summary = (f"{len(points)} points on {acc.name}; "
                   + (f"largest gain over the static front: {best['method']} {best['config']} "
                      f"{best['gain_points']:+.2f} points." if best else "no searched point fits under the front."))
    return {"points": points, "comparison": comparison, "behaviour": seen}


CONFIG = SelectionConfig
TITLE = "Choosing bit-widths: uniform, random, greedy, FracBits and the adaptive policy"


def main(cfg: SelectionConfig, out_dir, checkpoint: str | None = None, progress: bool = True) -> StudyOutput:
    net = load_metanet(cfg.model, checkpoint)
    hw = load_hw_config(hw_config_paths([cfg.hardware])[0])
    acc = accelerator(hw, shapes_from_ir(int_model(net)))
    out = StudyOutput(out_dir, "selection", TITLE)
    run(cfg, net, acc, hw, out, progress)
    return out
