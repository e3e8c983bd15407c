"""Run-time switching: a device whose energy or latency budget changes over time (a trace of
segments: battery drain, a competing process, ...). At each step the most accurate config on the
accelerator's Pareto front that fits the budget is selected: only weight codes and requant tables
change, nothing is retrained. Steps where no front config fits are flagged infeasible."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from . import plots
from .costs import Accelerator, widest
from .network import MetaNet, ModelSection
from .output import StudyOutput
from .pareto import GreedySection, ParetoConfig, ParetoResult, compute
from .pareto_front import best_within
from .schema import to_plain


@dataclass(frozen=True)
class Segment:
    """Budgets as fractions of the widest config's cost on the accelerator.

    drain: linear from `start` to `end`; constant: `level`; competing: `level`, reduced by `share`
    (the part a competing process takes) in alternating runs of `period` steps."""
    kind: Literal["drain", "constant", "competing"]
    steps: int
    label: str = ""
    start: float | None = None
    end: float | None = None
    level: float | None = None
    share: float | None = None
    period: int = 4

    def __post_init__(self):
        need = {"drain": ("start", "end"), "constant": ("level",), "competing": ("level", "share")}[self.kind]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.kind!r} segment needs {missing}")
        if self.steps < 1 or self.period < 1:
            raise ValueError(f"steps and period must be >= 1, got {self.steps}, {self.period}")
        for k in ("start", "end", "level"):
            v = getattr(self, k)
            if v is not None and v < 0:
                raise ValueError(f"{k} must be >= 0, got {v}")
        if self.share is not None and not 0 <= self.share < 1:
            raise ValueError(f"share must be in [0, 1), got {self.share}")

    def fractions(self) -> np.ndarray:
        t = np.arange(self.steps)
        if self.kind == "drain":
            return np.linspace(self.start, self.end, self.steps)
        if self.kind == "constant":
            return np.full(self.steps, self.level)
        busy = (t // self.period) % 2 == 1
        return np.where(busy, self.level * (1 - self.share), self.level)


@dataclass(frozen=True)
class RuntimeConfig:
    model: ModelSection = field(default_factory=ModelSection)
    accelerator: str = ""                        # hw config name or path; empty: the first one
    metric: Literal["energy", "cycles"] = "energy"
    trace: tuple[Segment, ...] = ()
    front: ParetoConfig = field(default_factory=lambda: ParetoConfig(greedy=GreedySection(enabled=False)))

    def __post_init__(self):
        if not self.trace:
            raise ValueError("trace must list at least one segment")


def budget_trace(trace: Sequence[Segment]) -> tuple[np.ndarray, list[str]]:
    fr = np.concatenate([s.fractions() for s in trace])
    labels = [s.label or s.kind for s in trace for _ in range(s.steps)]
    return fr, labels


def schedule(front_configs, front_cost: np.ndarray, front_acc: np.ndarray, budgets: np.ndarray) -> list[dict]:
    """One row per step: the front config picked for the budget, or infeasible."""
    rows, prev = [], None
    for t, b in enumerate(budgets):
        i = best_within(front_cost, front_acc, float(b))
        if i is None:
            rows.append({"step": t, "budget": float(b), "config": None, "cost": None, "accuracy": None,
                         "feasible": False, "switched": prev is not None})
            prev = None
            continue
        name = front_configs[i].name
        rows.append({"step": t, "budget": float(b), "config": name, "cost": float(front_cost[i]),
                     "accuracy": float(front_acc[i]), "feasible": True, "switched": name != prev and t > 0})
        prev = name
    return rows


def run(cfg: RuntimeConfig, net: MetaNet, accel: Accelerator, out: StudyOutput,
        pareto: ParetoResult | None = None, progress: bool = True) -> list[dict]:
    """Select along the trace; `pareto` (already priced on `accel`) is reused when given."""
    if pareto is None or accel.name not in pareto.costs:
        pareto = compute(cfg.front, net, [accel], progress)
    configs, cost, acc = pareto.front(accel.name, cfg.metric)
    energy, cycles = accel.cost_of([widest(net.spec)])
    ref = float((energy if cfg.metric == "energy" else cycles)[0])
    fractions, labels = budget_trace(cfg.trace)
    rows = schedule(configs, cost, acc, fractions * ref)
    for r, f, lab in zip(rows, fractions, labels):
        r.update(segment=lab, budget_fraction=float(f))
    _write(cfg, net, accel, rows, ref, out)
    return rows


def _write(cfg, net, accel, rows, ref, out: StudyOutput) -> None:
    out.resolved_config(to_plain(cfg) | {"accelerator_used": accel.name, "reference_cost": ref})
    div, unit = (1e3, "energy per sample (nJ)") if cfg.metric == "energy" else accel.latency_unit()
    t = np.array([r["step"] for r in rows])
    budget = np.array([r["budget"] for r in rows]) / div
    cost = np.array([np.nan if r["cost"] is None else r["cost"] for r in rows]) / div
    acc = np.array([np.nan if r["accuracy"] is None else r["accuracy"] for r in rows])
    bad = ~np.array([r["feasible"] for r in rows])
    fig, (ax1, ax2) = plots.plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    ax1.step(t, budget, where="mid", c="tab:gray", lw=2, label="budget")
    ax1.step(t, cost, where="mid", c="tab:green", lw=1.5, label="chosen config's cost")
    ax2.step(t, acc, where="mid", c="tab:blue", lw=1.5, label="accuracy of chosen config")
    for ax in (ax1, ax2):
        for s in t[bad]:
            ax.axvspan(s - 0.5, s + 0.5, color="tab:red", alpha=0.15, lw=0)
        ax.grid(alpha=0.3)
    if bad.any():
        ax1.plot([], [], c="tab:red", alpha=0.3, lw=6, label="infeasible (no config fits)")
    ax1.set_ylabel(unit)
    ax1.legend(fontsize=7, loc="upper right")
    ax1.set_title(f"Run-time switching on {accel.name} ({cfg.metric} budget)", fontsize=10)
    ax2.set_ylabel("top-1 accuracy")
    ax2.set_xlabel("time step")
    plots.footnote(fig, net.source_label)
    out.figure("runtime_switch", fig, "Budget, chosen cost and accuracy over time",
               f"At each step the most accurate config on {accel.name}'s {cfg.metric} Pareto front whose cost fits "
               f"the budget is switched in (no retraining); red bands mark steps where even the cheapest front "
               f"config exceeds the budget. {net.source_label}.")
    out.table("trace", rows, "Per-step selection",
              "Budget (a fraction of the widest config's cost), the config picked, its cost and accuracy; "
              "`switched` marks a change of config.", show_rows=60)
    n_bad, n_sw = int(bad.sum()), int(sum(r["switched"] for r in rows))
    out.summary = (f"{len(rows)} steps on {accel.name}: {n_sw} switches, {n_bad} infeasible step(s); "
                   f"budgets relative to the widest config's {cfg.metric} ({ref:.4g}).")


CONFIG = RuntimeConfig
TITLE = "Run-time switching under a changing budget"


def main(cfg: RuntimeConfig, out_dir, checkpoint: str | None = None, progress: bool = True) -> StudyOutput:
    from .hw import load_accelerators
    from .network import load_metanet
    from .network import int_model

    net = load_metanet(cfg.model, checkpoint)
    (accel,) = load_accelerators(int_model(net), [cfg.accelerator] if cfg.accelerator else [])[:1]
    out = StudyOutput(out_dir, "runtime-switch", TITLE)
    run(cfg, net, accel, out, progress=progress)
    return out
