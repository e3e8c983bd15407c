"""Energy per inference of each weight storage strategy on one design, as a function of the switching period
(hwsim/dataflow/weight_storage.py beside the dataflow cost model), and where the cheapest strategy changes.

Scenario: the network cycles through the uniform configs (each switch moves every switchable layer);
the cost model's per-inference energy is averaged over those configs, and so are the switch costs of
the transitions between them. Each strategy takes, at each period, the cheapest regime it fits.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.weight_storage import (STRATEGIES, crossover, footprint, per_inference_delta, regimes,
                                           switch_cost, weight_layers, weight_share_bits)


def _mean(values) -> float:
    return float(np.mean(list(values)))


def weight_reads(cost: NetworkCost, layers, config: Mapping[str, tuple[int, int]]) -> dict[str, int]:
    """Weight elements read from the weight buffer per inference, per layer below its widest width, from the
    cost model: its weight-buffer traffic grows by (reads + the fill) bits per extra weight bit while the
    weights fit their buffer (the on_the_fly regime's condition), so reads = traffic step - elements."""
    level = cost.hw.buffer_for("weights").name
    wider = {n: ((w + 1, a) if any(l.name == n and w < max(l.choices) for l in layers) else (w, a))
             for n, (w, a) in config.items()}
    lo, hi = cost.layers(config), cost.layers(wider)
    elems = {l.name: l.elems for l in layers}
    return {x["name"]: (y["traffic_bits"][level] - x["traffic_bits"][level]) - elems[x["name"]]
            if y["w_bits"] != x["w_bits"] else 0 for x, y in zip(lo, hi)}


def price(shapes, hw, choices: Mapping[str, Sequence[int]], configs: Sequence[Mapping[str, tuple[int, int]]]) -> dict:
    """Per strategy: footprint, and per feasible regime the line (per-inference pJ, pJ per switch) and the
    switch's cycles, averaged over `configs` visited in turn."""
    layers = weight_layers(shapes, choices)
    cost = NetworkCost(shapes, hw)
    base = _mean(cost.total(c)["energy_pj"] for c in configs)
    w = [{n: b[0] for n, b in c.items()} for c in configs]
    moves = list(zip(w, w[1:] + w[:1])) if len(w) > 1 else []
    out = {"design": hw.name, "base_pj": base, "weight_share_bits": weight_share_bits(hw), "strategies": {}}
    for name in STRATEGIES:
        lines = {}
        for r in regimes(layers, name, hw):
            sw = [switch_cost(layers, name, hw, r, a, b) for a, b in moves]
            reads = [weight_reads(cost, layers, c) if r == "on_the_fly" else None for c in configs]
            lines[r] = {"per_inference_pj": base + _mean(per_inference_delta(layers, name, hw, r, c, n)["energy_pj"]
                                                         for c, n in zip(w, reads)),
                        "switch_pj": _mean(s["energy_pj"] for s in sw) if sw else 0.0,
                        "switch_cycles": _mean(s["cycles"] for s in sw) if sw else 0.0,
                        "switch_dram_bits": _mean(s["dram_bits"] for s in sw) if sw else 0.0}
        out["strategies"][name] = {"footprint": footprint(layers, name), "lines": lines}
    return out


def best_at(priced: dict, name: str, period: float) -> tuple[float, str]:
    """(energy per inference in pJ, regime) of a strategy at one switching period."""
    lines = priced["strategies"][name]["lines"]
    return min((l["per_inference_pj"] + l["switch_pj"] / period, r) for r, l in lines.items())


def winners(priced: dict, lo: float = 1.0, hi: float = 1e6, points: int = 241) -> list[dict]:
    """The cheapest strategy over periods lo..hi (log grid), with the exact periods where it changes."""
    periods = np.logspace(np.log10(lo), np.log10(hi), points)
    best = [min(STRATEGIES, key=lambda n: best_at(priced, n, p)[0]) for p in periods]
    spans = [{"strategy": best[0], "from_period": lo}]
    for i in range(1, len(periods)):
        if best[i] != best[i - 1]:
            a = _line(priced, best[i - 1], periods[i - 1])
            b = _line(priced, best[i], periods[i])
            p = crossover(a, b)
            spans[-1]["to_period"] = p if p is not None else float(periods[i])
            spans.append({"strategy": best[i], "from_period": spans[-1]["to_period"]})
    spans[-1]["to_period"] = hi
    return spans


def _line(priced: dict, name: str, period: float) -> tuple[float, float]:
    _, r = best_at(priced, name, period)
    l = priced["strategies"][name]["lines"][r]
    return l["per_inference_pj"], l["switch_pj"]
