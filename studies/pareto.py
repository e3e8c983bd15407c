"""Pareto study: many per-layer configs of one meta-network (uniform, random, and searched under
budgets: FracBits paying each accelerator's own cost, optionally the greedy allocation) priced on
every accelerator; accuracy vs energy and vs latency, with each accelerator's Pareto front marked."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Literal, Sequence

import numpy as np
from tqdm import tqdm

from hwsim.bits import BitConfig, all_uniform, random_configs
from hwsim.errors import UserError

from . import plots
from .costs import Accelerator, metric_of, widest
from .fracbits_points import FracBitsSection, fracbits_series
from .greedy import budget_picks, greedy_path
from .network import MetaNet, ModelSection, config_key, int_model
from .output import StudyOutput
from .pareto_front import pareto_mask
from .schema import to_plain


@dataclass(frozen=True)
class GreedySection:
    enabled: bool = True
    metric: Literal["energy", "cycles"] = "energy"
    budgets: tuple[float, ...] = (0.8, 0.6, 0.4)   # fractions of the widest config's cost
    accelerators: tuple[str, ...] = ()             # search on these only; empty: on every accelerator

    def __post_init__(self):
        bad = [b for b in self.budgets if not 0 < b <= 1]
        if bad:
            raise ValueError(f"greedy.budgets must be fractions in (0, 1], got {bad}")


@dataclass(frozen=True)
class ParetoConfig:
    model: ModelSection = field(default_factory=ModelSection)
    hardware: tuple[str, ...] = ()               # hw config names or paths; empty: every hw_configs/*.yaml
    random: int = 60
    granularity: Literal["layer", "block"] = "layer"
    seed: int = 0
    uniform: bool = True
    # The searched series: FracBits (studies/pareto.yaml turns it on; it needs a cost table per accelerator
    # and training samples). The greedy ranks its moves by accuracy on the very test samples the study
    # reports, and on the default digits net FracBits (training samples only) matches or beats it at 4 of
    # 6 budgets (bench/fracbits_eval.py): off unless asked for.
    greedy: GreedySection = field(default_factory=lambda: GreedySection(enabled=False))
    fracbits: FracBitsSection = field(default_factory=FracBitsSection)

    def __post_init__(self):
        if self.random < 0:
            raise ValueError(f"random must be >= 0, got {self.random}")


@dataclass
class ParetoResult:
    configs: list[BitConfig]
    origin: list[str]                            # uniform / random / greedy / fracbits
    accuracy: np.ndarray
    costs: dict[str, dict[str, np.ndarray]]      # accelerator -> metric -> per config
    fronts: dict[tuple[str, str], np.ndarray]    # (accelerator, metric) -> bool mask
    greedy: list[dict]
    source_label: str
    fracbits: list[dict] = field(default_factory=list)

    def front(self, accel: str, metric: str) -> tuple[list[BitConfig], np.ndarray, np.ndarray]:
        m = self.fronts[(accel, metric)]
        idx = np.flatnonzero(m)
        idx = idx[np.argsort(self.costs[accel][metric][idx])]
        return [self.configs[i] for i in idx], self.costs[accel][metric][idx], self.accuracy[idx]


def candidate_configs(cfg: ParetoConfig, net: MetaNet) -> tuple[list[BitConfig], list[str]]:
    configs, origin, seen = [], [], set()

    def add(c, o):
        if config_key(c) not in seen:
            seen.add(config_key(c))
            configs.append(c)
            origin.append(o)

    if cfg.uniform:
        for c in all_uniform(net.spec):
            add(c, "uniform")
    for c in random_configs(net.spec, cfg.random, cfg.seed, cfg.granularity):
        add(c, "random")
    return configs, origin


def run(cfg: ParetoConfig, net: MetaNet, accelerators: Sequence[Accelerator], out: StudyOutput,
        progress: bool = True) -> ParetoResult:
    result = compute(cfg, net, accelerators, progress)
    _write(cfg, net, accelerators, result, out)
    return result


def compute(cfg: ParetoConfig, net: MetaNet, accelerators: Sequence[Accelerator],
            progress: bool = True) -> ParetoResult:
    configs, origin = candidate_configs(cfg, net)
    greedy_rows = []
    if cfg.greedy.enabled:
        for acc in accelerators:
            if cfg.greedy.accelerators and acc.name not in cfg.greedy.accelerators:
                continue
            path = _greedy(cfg.greedy, net, acc, progress)
            names = []      # a uniform or random config on the path keeps its name; the path's own configs
            for i, (c, _, _) in enumerate(path):    # are named by this accelerator even where another's path had them
                known = {config_key(k): k.name for k, o in zip(configs, origin) if o != "greedy"}
                if config_key(c) in known:
                    names.append(known[config_key(c)])
                else:
                    names.append(f"greedy[{acc.name}]-{i}")
                    configs.append(replace(c, name=names[-1]))
                    origin.append("greedy")
            ref = path[0][1]
            picks = budget_picks(path, [f * ref for f in cfg.greedy.budgets])
            for frac, (budget, i) in zip(cfg.greedy.budgets, picks.items()):
                row = {"accelerator": acc.name, "metric": cfg.greedy.metric, "budget_fraction": frac,
                       "budget": budget, "path_steps": len(path) - 1}
                if i is None:
                    row.update(config="(none fits)", cost=None, accuracy=None)
                else:
                    c, cost, a = path[i]
                    w, ab = c.avg_bits(net.spec)
                    row.update(config=names[i], cost=cost, accuracy=a, avg_w_bits=w, avg_a_bits=ab)
                greedy_rows.append(row)

    frac_rows = _fracbits(cfg.fracbits, net, accelerators, configs, origin, progress)
    accuracy = np.empty(len(configs))
    for i, c in enumerate(tqdm(configs, desc="pareto: accuracy", disable=not progress, leave=False)):
        accuracy[i] = net.accuracy([c])[0]
    for r in frac_rows:
        r["accuracy"] = float(accuracy[r.pop("index")])
    costs = {a.name: dict(zip(("energy", "cycles"), a.cost_of([c.bits for c in configs]))) for a in accelerators}
    fronts = {(a, m): pareto_mask(costs[a][m], accuracy) for a in costs for m in ("energy", "cycles")}
    return ParetoResult(configs, origin, accuracy, costs, fronts, greedy_rows, net.source_label, frac_rows)


def _fracbits(sec: FracBitsSection, net: MetaNet, accelerators: Sequence[Accelerator], configs: list[BitConfig],
              origin: list[str], progress: bool) -> list[dict]:
    """Append each accelerator's FracBits picks to the measured configs (each under its own name, even
    where an equal config is already there, so that every accelerator's pick is shown as its own)."""
    rows = []
    if not sec.enabled:
        return rows
    for acc in accelerators:
        if sec.accelerators and acc.name not in sec.accelerators:
            continue
        for c, row in fracbits_series(sec, net, acc, progress):
            configs.append(c)
            origin.append("fracbits")
            rows.append({**row, "index": len(configs) - 1})
    return rows


def _greedy(g: GreedySection, net: MetaNet, acc: Accelerator, progress: bool):
    def cost_fn(cs):
        return metric_of(acc, [c.bits for c in cs], g.metric)

    stop = None
    if g.budgets:
        stop = min(g.budgets) * float(metric_of(acc, [widest(net.spec)], g.metric)[0])
    with tqdm(desc=f"pareto: greedy on {acc.name}", disable=not progress, leave=False) as bar:
        return greedy_path(net.spec, cost_fn, net.accuracy, stop, bar)


def points_rows(result: ParetoResult, net: MetaNet) -> list[dict]:
    rows = []
    for i, c in enumerate(result.configs):
        w, a = c.avg_bits(net.spec)
        row = {"config": c.name, "origin": result.origin[i], "avg_w_bits": w, "avg_a_bits": a,
               "bitops": c.bitops(net.spec), "accuracy": float(result.accuracy[i])}
        for name, m in result.costs.items():
            row[f"{name}.energy_pj"] = float(m["energy"][i])
            row[f"{name}.cycles"] = float(m["cycles"][i])
            row[f"{name}.front_energy"] = bool(result.fronts[(name, "energy")][i])
            row[f"{name}.front_cycles"] = bool(result.fronts[(name, "cycles")][i])
        row["bits"] = json.dumps({k: list(v) for k, v in c.bits.items()})
        rows.append(row)
    return rows


def front_rows(result: ParetoResult) -> list[dict]:
    rows = []
    for (accel, metric) in result.fronts:
        cfgs, cost, acc = result.front(accel, metric)
        rows += [{"accelerator": accel, "metric": metric, "config": c.name, "cost": float(k), "accuracy": float(a)}
                 for c, k, a in zip(cfgs, cost, acc)]
    return rows


def _write(cfg, net, accelerators, result: ParetoResult, out: StudyOutput) -> None:
    out.resolved_config(to_plain(cfg) | {"accelerators": [a.name for a in accelerators]})
    n_front = {a.name: int(result.fronts[(a.name, "energy")].sum()) for a in accelerators}
    for metric, unit_of in (("energy", lambda a: (1e3, "energy per sample (nJ)")),
                            ("cycles", lambda a: a.latency_unit())):
        fig, axes = plots.grid(len(accelerators))
        for ax, a in zip(axes, accelerators):
            div, label = unit_of(a)
            plots.pareto_panel(ax, result.costs[a.name][metric] / div, result.accuracy, result.origin,
                               result.fronts[(a.name, metric)], [c.name for c in result.configs],
                               f"{a.name} ({a.pe_kind})" if a.pe_kind else a.name, label)
        if axes:
            axes[0].legend(fontsize=7, loc="lower right")
        plots.footnote(fig, result.source_label)
        what = "energy" if metric == "energy" else "latency"
        out.figure(f"pareto_{what}", fig, f"Accuracy vs {what}, per accelerator",
                   f"Each dot is one per-layer bit config of the same meta-network ({len(result.configs)} configs: "
                   f"{', '.join(dict.fromkeys(result.origin))}); the red steps join the configs that no other config beats "
                   f"on both {what} and accuracy. {result.source_label}.")
    out.table("front", front_rows(result), "Pareto fronts",
              "The non-dominated configs of each accelerator and cost metric, cheapest first.", show_rows=30)
    if result.fracbits:
        out.table("fracbits", result.fracbits, "FracBits under budgets",
                  f"Per-layer widths learned on the frozen meta-network (training samples), paying the accelerator's "
                  f"own {cfg.fracbits.metric}, then rounded within the budget (a fraction of the way from the "
                  f"all-lowest to the all-highest uniform config's cost); cost of the chosen config, its accuracy "
                  f"on the study's test samples, and the search's wall time (s).")
    if result.greedy:
        out.table("greedy", result.greedy, "Greedy bit allocation under budgets",
                  f"From the widest config, the search lowers one bit-width at a time, the one that loses the "
                  f"least accuracy per unit of {cfg.greedy.metric} saved; each row is the first config on its "
                  f"path within the budget (a fraction of the widest config's cost).")
    out.table("points", points_rows(result, net), "Every config measured",
              "Accuracy, average bits, BitOPs and per-accelerator energy (pJ) and cycles per sample, with "
              "front membership.", show_rows=15)
    out.summary = (f"{len(result.configs)} bit configs on {len(accelerators)} accelerator(s); front sizes by energy: "
                   + ", ".join(f"{k} {v}" for k, v in n_front.items()) + ".")


CONFIG = ParetoConfig
TITLE = "Accuracy vs energy and latency (Pareto fronts)"


def main(cfg: ParetoConfig, out_dir, checkpoint: str | None = None, progress: bool = True) -> StudyOutput:
    from .hw import load_accelerators
    from .network import load_metanet

    net = load_metanet(cfg.model, checkpoint)
    accels = load_accelerators(int_model(net), cfg.hardware)
    for key, names in (("greedy", cfg.greedy.accelerators), ("fracbits", cfg.fracbits.accelerators)):
        unknown = sorted(set(names) - {a.name for a in accels})
        if unknown:
            raise UserError(f"{key}.accelerators: {unknown} are not among the accelerators "
                            f"{[a.name for a in accels]}")
    out = StudyOutput(out_dir, "pareto", TITLE)
    run(cfg, net, accels, out, progress)
    return out
