"""The one cost interface studies use: an accelerator that prices many bit configs at once.

`per_layer(configs)` returns energy (pJ) and cycles, each an array (n_configs, n_layers) in the order of
`layers`; totals are their row sums. The real models come from hwsim's dataflow cost model
(studies/hw.py); tests may build an Accelerator from any function of that shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

BitsMap = Mapping[str, tuple[int, int]]
PerLayerFn = Callable[[Sequence[BitsMap]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Accelerator:
    name: str
    layers: tuple[str, ...]
    per_layer: PerLayerFn
    clock_hz: float | None = None     # turns cycles into seconds where the config gives a clock
    pe_kind: str = ""

    def layer_costs(self, configs: Sequence[BitsMap]) -> tuple[np.ndarray, np.ndarray]:
        energy, cycles = self.per_layer(list(configs))
        energy, cycles = np.asarray(energy, np.float64), np.asarray(cycles, np.float64)
        shape = (len(configs), len(self.layers))
        if energy.shape != shape or cycles.shape != shape:
            raise ValueError(f"accelerator {self.name}: cost model returned {energy.shape}/{cycles.shape}, "
                             f"expected {shape}")
        return energy, cycles

    def cost_of(self, configs: Sequence[BitsMap]) -> tuple[np.ndarray, np.ndarray]:
        """Total (energy_pj, cycles) per config, per inference of one sample."""
        energy, cycles = self.layer_costs(configs)
        return energy.sum(1), cycles.sum(1)

    def latency_unit(self) -> tuple[float, str]:
        """(divisor, label) that turns cycles into the latency axis of plots."""
        return (self.clock_hz / 1e6, "latency (µs)") if self.clock_hz else (1.0, "latency (cycles)")


METRICS = ("energy", "cycles")


def metric_of(acc: Accelerator, configs: Sequence[BitsMap], metric: str) -> np.ndarray:
    energy, cycles = acc.cost_of(configs)
    if metric == "energy":
        return energy
    if metric == "cycles":
        return cycles
    raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
