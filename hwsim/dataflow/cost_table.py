"""A network's cost tabulated per layer at every integer bit-width it may take, for searches that
price fractional widths by interpolating between integer ones (FracBits).

A layer's cost depends on three widths: its weights `w`, the tensor it reads `a`, and the tensor it
writes `o` (the next layer's a_bits; fixed for a layer whose output has a constant or accumulator
width). So each layer holds a (w, a, o) grid; at integer widths a lookup returns exactly the figure
the cost model gives, and the network's total is the sum over layers in layer order, as the cost
model sums it (so the two agree to the last bit).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from ..bits import ActOf
from ..errors import UserError
from .costmodel import NetworkCost, layer_cost
from .layers import LayerShape

# metric -> (unit of the tabulated figure, what layer_cost's result holds it under)
HW_METRICS = {"energy": ("pJ", "energy_pj"), "latency": ("cycles", "cycles")}

Choices = Mapping[str, tuple[Sequence[int], Sequence[int]]]   # layer -> (w widths, a widths)


@dataclass(frozen=True)
class LayerCostTable:
    name: str
    w: tuple[int, ...]
    a: tuple[int, ...]
    o: tuple[int, ...]              # output widths; one entry when the output width is fixed
    out_of: str | None              # the layer whose a_bits is this layer's output width (None: fixed)
    values: np.ndarray              # float64, (len(w), len(a), len(o))

    def at(self, w: int, a: int, o: int) -> float:
        try:
            return float(self.values[self.w.index(w), self.a.index(a), self.o.index(o)])
        except ValueError:
            raise UserError(f"cost table: layer {self.name!r} has no entry at w={w} a={a} out={o} "
                            f"(tabulated w {list(self.w)}, a {list(self.a)}, out {list(self.o)})") from None


@dataclass(frozen=True)
class CostTable:
    metric: str
    unit: str
    layers: tuple[LayerCostTable, ...]

    def out_bits(self, layer: LayerCostTable, bits: Mapping[str, tuple[int, int]]) -> int:
        return layer.o[0] if layer.out_of is None else int(bits[layer.out_of][1])

    def total(self, bits: Mapping[str, tuple[int, int]]) -> float:
        """The network's cost at one integer config (layer -> (w, a)), summed in layer order."""
        out = 0.0
        for l in self.layers:
            w, a = (int(v) for v in bits[l.name])
            out += l.at(w, a, self.out_bits(l, bits))
        return out


def from_function(metric: str, unit: str, choices: Choices, fn: Callable[[str, int, int], float]) -> CostTable:
    """A table whose layer cost does not depend on the output width: fn(layer, w, a)."""
    layers = []
    for name, (ws, as_) in choices.items():
        vals = np.array([[[fn(name, w, a)] for a in as_] for w in ws], np.float64)
        layers.append(LayerCostTable(name, tuple(ws), tuple(as_), (0,), None, vals))
    return CostTable(metric, unit, tuple(layers))


def check_widths(cost: NetworkCost, choices: Choices) -> None:
    """Every candidate width must be one the accelerator's PE can run."""
    pe = cost.hw.pe
    for name, (ws, as_) in choices.items():
        if max(ws) > pe.w_bits_max or max(as_) > pe.a_bits_max:
            raise UserError(f"{cost.hw.name}: PE kind {pe.kind!r} runs w_bits <= {pe.w_bits_max} and a_bits <= "
                            f"{pe.a_bits_max}, but layer {name!r} may take w {list(ws)}, a {list(as_)}")


def from_cost_model(cost: NetworkCost, choices: Choices, metric: str) -> CostTable:
    """Tabulate `metric` (energy in pJ, latency in cycles) of every layer over its (w, a, out) grid."""
    if metric not in HW_METRICS:
        raise UserError(f"unknown accelerator cost {metric!r}; known: {sorted(HW_METRICS)}")
    unit, key = HW_METRICS[metric]
    check_widths(cost, choices)
    missing = [s.name for s in cost.shapes if s.name not in choices]
    if missing:
        raise UserError(f"cost table: no candidate widths for layer(s) {missing}")
    layers = []
    for s in cost.shapes:
        ws, as_ = (tuple(int(v) for v in c) for c in choices[s.name])
        out_of, os_ = _out_grid(s, choices, cost.hw.pe.accumulator_bits)
        grid = np.array(list(itertools.product(ws, as_, os_)), np.int64)
        c = layer_cost(s, cost.hw, cost.tab, grid[:, 0], grid[:, 1], grid[:, 2])
        vals = np.asarray(c[key], np.float64).reshape(len(ws), len(as_), len(os_))
        layers.append(LayerCostTable(s.name, ws, as_, os_, out_of, vals))
    return CostTable(metric, unit, tuple(layers))


def _out_grid(s: LayerShape, choices: Choices, acc_bits: int) -> tuple[str | None, tuple[int, ...]]:
    """(the layer whose a_bits set this layer's output width, or None; the widths it can take)."""
    v = s.out_bits_var
    if isinstance(v, ActOf):
        return v.layer, tuple(int(b) for b in choices[v.layer][1])
    return None, (v.resolve({}, acc_bits),)
