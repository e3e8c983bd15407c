"""Weight storage for run-time switching: per-width codes, nested codes, or 8-bit masters re-quantised at
each switch. Accuracy of the per-width and the nested-trained meta-network at the uniform and random
configs; bits per weight, on-chip fit, and energy per inference against the switching period on every
design; the period where the cheapest strategy changes. The 8-bit-master strategy's accuracy is taken to
be the per-width network's (re-quantising from 8-bit masters is assumed to reproduce its codes)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwsim.bits import all_uniform, random_configs
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.hwconfig import load_hw_config

from . import plots
from .hw import hw_config_paths
from .network import ModelSection, int_model, load_metanet
from .output import StudyOutput
from .schema import to_plain
from .storage_costs import best_at, price, winners

STRATEGY_LABEL = {"per_width": "per-width codes", "nested": "nested codes", "master8": "8-bit master + re-quantise"}


@dataclass(frozen=True)
class StorageConfig:
    model: ModelSection = field(default_factory=ModelSection)      # the per-width meta-network
    nested_checkpoint: str = "runs/storage/nested/checkpoint.pt"   # the same recipe with weight_codes: nested
    hardware: tuple[str, ...] = ()       # empty: every hw_configs/*.yaml
    random_configs: int = 1000
    seed: int = 0
    periods: tuple[float, ...] = (1.0, 100.0, 10000.0)   # inferences between width switches
    zoo: tuple[str, ...] = ("resnet20", "resnet18")   # also priced (no accuracy): bigger weight sets
    zoo_choices: tuple[int, ...] = (2, 3, 4)            # their switchable widths; first and last layers at 8


def accuracy_rows(cfg: StorageConfig, nets: dict) -> tuple[list[dict], dict]:
    """Per config: accuracy of each network; and per network the worst random config."""
    spec = nets["per_width"].spec
    uniform = all_uniform(spec)
    rand = random_configs(spec, cfg.random_configs, cfg.seed) if cfg.random_configs else []
    acc = {k: (n.accuracy(uniform), n.accuracy(rand) if rand else np.zeros(0)) for k, n in nets.items()}
    rows = [{"config": c.name, **{f"accuracy_{k}": float(acc[k][0][i]) for k in nets},
             "nested_minus_per_width_points": 100 * float(acc["nested"][0][i] - acc["per_width"][0][i])}
            for i, c in enumerate(uniform)]
    worst = {k: float(a[1].min()) if len(a[1]) else None for k, a in acc.items()}
    if rand:
        gap = acc["nested"][1] - acc["per_width"][1]
        rows.append({"config": f"worst of {len(rand)} random", **{f"accuracy_{k}": worst[k] for k in nets},
                     "nested_minus_per_width_points": 100 * (worst["nested"] - worst["per_width"])})
        rows.append({"config": f"mean of {len(rand)} random", **{f"accuracy_{k}": float(acc[k][1].mean()) for k in nets},
                     "nested_minus_per_width_points": 100 * float(gap.mean())})
        worst["largest_drop_points"] = -100 * float(gap.min())
    return rows, worst


def zoo_pricing(cfg: StorageConfig, hw) -> list[dict]:
    """The zoo networks priced like the meta-network: first and last layers at 8 bits, the rest switchable."""
    from hwsim.zoo import get
    from hwsim.zoo.network import first_last

    out = []
    for name in cfg.zoo:
        net = get(name)
        edge = {net.table.names[0], net.table.names[-1]}
        choices = {n: (8,) if n in edge else tuple(cfg.zoo_choices) for n in net.table.names}
        configs = [first_last(net.table, (8, 8), (b, b)) for b in cfg.zoo_choices]
        out.append({"network": name, **price(net.shapes, hw, choices, configs)})
    return out


def cost_rows(cfg: StorageConfig, priced: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    memory, energy, spans = [], [], []
    for p in priced:
        for name, s in p["strategies"].items():
            f = s["footprint"]
            memory.append({"network": p["network"], "design": p["design"], "strategy": name, "bits_per_weight": f["bits_per_weight"],
                           "store_kib": f["store_bits"] / 8192, "working_copy_kib": f["copy_bits"] / 8192,
                           "weight_buffer_share_kib": p["weight_share_bits"] / 8192,
                           "regimes": "/".join(s["lines"])})
            for period in cfg.periods:
                e, regime = best_at(p, name, period)
                line = s["lines"][regime]
                energy.append({"network": p["network"], "design": p["design"], "strategy": name, "switch_every": period, "regime": regime,
                               "energy_per_inference_nj": e / 1e3, "switch_energy_nj": line["switch_pj"] / 1e3,
                               "switch_cycles": line["switch_cycles"],
                               "switch_dram_kib": line["switch_dram_bits"] / 8192})
        for w in winners(p):
            spans.append({"network": p["network"], "design": p["design"], **w})
    return memory, energy, spans


def _write(cfg, out: StudyOutput, acc_rows, worst, memory, energy, spans, priced) -> None:
    out.table("accuracy", acc_rows, "Accuracy: nested vs per-width codes",
              "Top-1 accuracy of the per-width network (also the 8-bit-master strategy's) and the nested-trained "
              "network at each uniform config and over the random configs; the gap in percentage points.")
    out.table("memory", memory, "Weight memory per strategy and design",
              "Bits kept per weight, the store and the working copy (KiB), the weight buffer's share (KiB), and the "
              "regimes each strategy fits (resident: all on chip; copy: working copy on chip; stream: per inference).")
    out.table("energy", energy, "Energy per inference at each switching period",
              "The cheapest regime of each strategy when the width changes every N inferences; nJ per inference "
              "(the cost model's figure plus the weight-storage terms) and per switch.", show_rows=80)
    out.table("winners", spans, "Cheapest strategy by switching period",
              "Per design, the strategy with the least energy per inference over switching periods "
              "(inferences between switches); the boundaries are exact crossovers.")
    fig, axes = plots.grid(len(priced), width=4.6, height=3.4)
    periods = np.logspace(0, 6, 121)
    for ax, p in zip(axes, priced):
        for name in p["strategies"]:
            ax.plot(periods, [best_at(p, name, q)[0] / 1e3 for q in periods], label=STRATEGY_LABEL[name])
        ax.set_xscale("log")
        ax.set_xlabel("inferences between width switches")
        ax.set_ylabel("energy per inference (nJ)")
        ax.set_title(f"{p['network']} on {p['design']}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    out.figure("energy_vs_period", fig, "Energy per inference against the switching period",
               "Each strategy in its cheapest regime on each design; where the lines cross, the cheaper strategy "
               "changes (table 'winners').")
    fig, ax = plots.plt.subplots(figsize=(6.0, 3.2), layout="constrained")
    names = [r["config"] for r in acc_rows]
    x = np.arange(len(names))
    for i, key in enumerate(("per_width", "nested")):
        ax.bar(x + (i - 0.5) * 0.4, [r[f"accuracy_{key}"] for r in acc_rows], 0.4, label=STRATEGY_LABEL[key])
    ax.set_xticks(x, names, rotation=20, fontsize=7)
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(min(r[f"accuracy_{k}"] for r in acc_rows for k in ("per_width", "nested")) - 0.05, 1.0)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    out.figure("accuracy", fig, "Accuracy of nested and per-width codes", "Uniform configs, the worst and the mean "
               "of the random configs.")
    out.summary = (f"Nested codes store {memory[1]['bits_per_weight']:.1f} bits per weight against "
                   f"{memory[0]['bits_per_weight']:.1f} per-width; the largest accuracy drop over the random configs "
                   f"is {worst.get('largest_drop_points', float('nan')):.2f} points. Cheapest by period: " +
                   "; ".join(f"{s['network']} on {s['design']}: {s['strategy']} ({s['from_period']:.3g}-"
                             f"{s['to_period']:.3g})" for s in spans) + ".")


CONFIG = StorageConfig
TITLE = "Weight storage for run-time switching"


def main(cfg: StorageConfig, out_dir, checkpoint: str | None = None, progress: bool = True) -> StudyOutput:
    per_width = load_metanet(cfg.model, checkpoint)
    nested = load_metanet(cfg.model, cfg.nested_checkpoint)
    out = StudyOutput(out_dir, "storage", TITLE)
    acc_rows, worst = accuracy_rows(cfg, {"per_width": per_width, "nested": nested})
    ir = int_model(nested)
    shapes = shapes_from_ir(ir)
    choices = {l.name: l.w_choices for l in ir.table}
    configs = [c.bits for c in all_uniform(per_width.spec)]
    priced = []
    for path in hw_config_paths(cfg.hardware):
        hw = load_hw_config(path)
        priced.append({"network": "meta-network", **price(shapes, hw, choices, configs)})
        priced += zoo_pricing(cfg, hw)
    memory, energy, spans = cost_rows(cfg, priced)
    out.resolved_config(to_plain(cfg) | {"designs": sorted({p["design"] for p in priced})})
    out.write_json("priced", priced)
    _write(cfg, out, acc_rows, worst, memory, energy, spans, priced)
    return out
