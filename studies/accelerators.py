"""Accelerator comparison: the same meta-network at the same bit configs on every accelerator config;
energy and cycles per layer (stacked bars), and which design gains most from lower bits."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from hwsim.bits import BitConfig
from hwsim.errors import UserError
from quantnet.config_spec import parse_config_spec

from . import plots
from .costs import Accelerator
from .network import MetaNet, ModelSection
from .output import StudyOutput
from .schema import to_plain


@dataclass(frozen=True)
class AcceleratorsConfig:
    model: ModelSection = field(default_factory=ModelSection)
    hardware: tuple[str, ...] = ()       # empty: every hw_configs/*.yaml
    configs: str = "uniform,random:2"    # the CLI's --config grammar (no fp: the float net has no bits)
    accuracy: bool = True                # also measure each config's accuracy


def bit_configs(spec_text: str, spec) -> list[BitConfig]:
    named = parse_config_spec(spec_text, spec)
    if any(c is None for _, c in named):
        raise UserError(f"configs {spec_text!r}: 'fp' has no bit-widths to price on an accelerator")
    return [c for _, c in named]


def gains(accels: Sequence[Accelerator], totals: dict, wide: BitConfig, narrow: BitConfig) -> list[dict]:
    """Per accelerator: how many times cheaper the narrowest uniform config is than the widest."""
    rows = []
    for a in accels:
        e, c = totals[a.name]
        rows.append({"accelerator": a.name, "pe_kind": a.pe_kind, "from": wide.name, "to": narrow.name,
                     "energy_gain": e[wide.name] / e[narrow.name], "cycles_gain": c[wide.name] / c[narrow.name]})
    return rows


def run(cfg: AcceleratorsConfig, net: MetaNet, accels: Sequence[Accelerator], out: StudyOutput,
        progress: bool = True) -> list[dict]:
    configs = bit_configs(cfg.configs, net.spec)
    acc = net.accuracy(configs) if cfg.accuracy else np.full(len(configs), np.nan)
    layer_rows, total_rows, totals, per = [], [], {}, {}
    for a in accels:
        energy, cycles = a.layer_costs([c.bits for c in configs])
        per[a.name] = (energy, cycles)
        totals[a.name] = ({c.name: float(energy[i].sum()) for i, c in enumerate(configs)},
                          {c.name: float(cycles[i].sum()) for i, c in enumerate(configs)})
        for i, c in enumerate(configs):
            for j, layer in enumerate(a.layers):
                layer_rows.append({"accelerator": a.name, "config": c.name, "layer": layer, "w_bits": c.bits[layer][0],
                                   "a_bits": c.bits[layer][1], "energy_pj": float(energy[i, j]),
                                   "cycles": float(cycles[i, j])})
            w, ab = c.avg_bits(net.spec)
            div, unit = a.latency_unit()
            total_rows.append({"accelerator": a.name, "pe_kind": a.pe_kind, "config": c.name, "avg_w_bits": w,
                               "avg_a_bits": ab, "energy_nj": float(energy[i].sum()) / 1e3,
                               "cycles": float(cycles[i].sum()),
                               "latency_us": float(cycles[i].sum()) / (a.clock_hz / 1e6) if a.clock_hz else None,
                               "accuracy": None if np.isnan(acc[i]) else float(acc[i])})
    uniform = sorted((c for c in configs if c.name.startswith("W") and "A" in c.name),
                     key=lambda c: c.avg_bits(net.spec))
    gain_rows = gains(accels, totals, uniform[-1], uniform[0]) if len(uniform) >= 2 else []
    _write(cfg, net, accels, configs, per, total_rows, layer_rows, gain_rows, out)
    return gain_rows


def _write(cfg, net, accels, configs, per, total_rows, layer_rows, gain_rows, out: StudyOutput) -> None:
    out.resolved_config(to_plain(cfg) | {"accelerators": [a.name for a in accels]})
    for metric, k, unit, scale in (("energy", 0, "energy per sample (nJ)", 1e3), ("cycles", 1, "cycles per sample", 1)):
        fig, axes = plots.grid(len(accels), width=5.0, height=3.8)
        for ax, a in zip(axes, accels):
            plots.stacked_bars(ax, [c.name for c in configs], list(a.layers), per[a.name][k] / scale, unit,
                               f"{a.name} ({a.pe_kind})")
        axes[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="layer", title_fontsize=7)
        out.figure(f"layers_{metric}", fig, f"{metric.capitalize()} per layer, per accelerator",
                   f"One bar per bit config, split into its layers: where each design spends its {metric} and "
                   f"how that moves as the bit-widths change (the first and last layers stay at their fixed bits).")
    if gain_rows:
        fig, ax = plots.plt.subplots(figsize=(6.5, 3.4), layout="constrained")
        x = np.arange(len(gain_rows))
        ax.bar(x - 0.2, [r["energy_gain"] for r in gain_rows], 0.4, label="energy")
        ax.bar(x + 0.2, [r["cycles_gain"] for r in gain_rows], 0.4, label="cycles")
        ax.axhline(1.0, c="k", lw=0.8)
        ax.set_xticks(x, [r["accelerator"] for r in gain_rows])
        ax.set_ylabel(f"{gain_rows[0]['from']} cost / {gain_rows[0]['to']} cost")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        best_e = max(gain_rows, key=lambda r: r["energy_gain"])
        best_c = max(gain_rows, key=lambda r: r["cycles_gain"])
        sentence = (f"Going from {best_e['from']} to {best_e['to']}, {best_e['accelerator']} gains most in energy "
                    f"({best_e['energy_gain']:.2f}x) and {best_c['accelerator']} most in cycles "
                    f"({best_c['cycles_gain']:.2f}x); a gain of 1x means the design cannot use the lower bits.")
        out.figure("gains", fig, "Which design gains most from lower bits", sentence)
        out.table("gains", gain_rows, "Gain from lower bits", sentence)
        out.summary = sentence
    out.table("totals", total_rows, "Totals per accelerator and config",
              "Energy, cycles and latency per sample at each bit config" +
              (", with the config's accuracy." if cfg.accuracy else "."), show_rows=60)
    out.table("layers", layer_rows, "Per-layer costs", "Energy (pJ) and cycles of every layer, accelerator and config.",
              show_rows=20)


CONFIG = AcceleratorsConfig
TITLE = "One meta-network on every accelerator"


def main(cfg: AcceleratorsConfig, out_dir, checkpoint: str | None = None, progress: bool = True) -> StudyOutput:
    from .hw import load_accelerators
    from .network import load_metanet
    from .network import int_model

    net = load_metanet(cfg.model, checkpoint)
    accels = load_accelerators(int_model(net), cfg.hardware)
    out = StudyOutput(out_dir, "accelerators", TITLE)
    run(cfg, net, accels, out, progress)
    return out
