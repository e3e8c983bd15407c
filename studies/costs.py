"""The one cost interface studies use: an accelerator that prices bit configs.

`totals(configs)` -> (energy_pj, cycles) arrays, one entry per config (vectorised: studies price
hundreds of configs); `per_layer(config)` -> (energy_pj, cycles) arrays over `layers`. The real
models come from hwsim's dataflow cost model (studies/hw.py); tests build Accelerators from any
functions of these shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

BitsMap = Mapping[str, tuple[int, int]]
TotalsFn = Callable[[Sequence[BitsMap]], tuple[np.ndarray, np.ndarray]]
PerLayerFn = Callable[[BitsMap], tuple[np.ndarray, np.ndarray]]
METRICS = ("energy", "cycles")


@dataclass(frozen=True)
class Accelerator:
    name: str
    layers: tuple[str, ...]
    totals: TotalsFn
    per_layer: PerLayerFn
    clock_hz: float | None = None     # turns cycles into seconds where the config gives a clock
    pe_kind: str = ""
    # (layer -> (w widths, a widths), "energy" | "latency") -> per-layer cost table over integer widths
    # (hwsim.dataflow.cost_table), for searches that interpolate it; None where there is no cost model
    tabulate: Callable[[Mapping, str], object] | None = None

    def cost_of(self, configs: Sequence[BitsMap]) -> tuple[np.ndarray, np.ndarray]:
        """Total (energy_pj, cycles) per config, for one inference of one sample."""
        energy, cycles = (np.asarray(v, np.float64) for v in self.totals(list(configs)))
        if energy.shape != (len(configs),) or cycles.shape != (len(configs),):
            raise ValueError(f"accelerator {self.name}: cost model returned {energy.shape}/{cycles.shape} "
                             f"for {len(configs)} configs")
        return energy, cycles

    def layer_costs(self, configs: Sequence[BitsMap]) -> tuple[np.ndarray, np.ndarray]:
        """(energy_pj, cycles), each (n_configs, n_layers) in the order of `layers`."""
        rows = [tuple(np.asarray(v, np.float64) for v in self.per_layer(c)) for c in configs]
        energy = np.stack([r[0] for r in rows]).reshape(len(configs), len(self.layers))
        cycles = np.stack([r[1] for r in rows]).reshape(len(configs), len(self.layers))
        return energy, cycles

    def latency_unit(self) -> tuple[float, str]:
        """(divisor, label) that turns cycles into the latency axis of plots."""
        return (self.clock_hz / 1e6, "latency (µs)") if self.clock_hz else (1.0, "latency (cycles)")


def metric_of(acc: Accelerator, configs: Sequence[BitsMap], metric: str) -> np.ndarray:
    energy, cycles = acc.cost_of(configs)
    if metric == "energy":
        return energy
    if metric == "cycles":
        return cycles
    raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def widest(spec) -> dict[str, tuple[int, int]]:
    """Every layer at its widest allowed bits: the reference that budgets are fractions of."""
    return {l.name: (max(l.w_choices), max(l.a_choices)) for l in spec.layers}
