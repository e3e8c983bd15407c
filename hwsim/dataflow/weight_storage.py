"""Weight storage for run-time switching: what each strategy keeps, where it fits, and what a switch costs.

Strategies (bits kept per weight of a layer with width choices C):
  per_width  one code array per width: sum(C) bits; a switch selects another stored array
  nested     the widest codes only: max(C) bits; a switch derives the new width (docs/integer_contract.md,
             "Nested weight codes"): one add of B bits per weight
  master8    8-bit master codes: 8 bits; a switch re-quantises every weight to the new width: one 8x8
             multiply (by the per-channel ratio of step sizes) and one 32-bit rounding add per weight
A strategy that converts (nested, master8) runs from a b-bit working copy it writes into the weight buffer.

Regimes, per design (a strategy takes the cheapest it can fit, at each switching period P):
  resident  the store (plus the working copy at the widest choices) fits the weight buffer's share: weights
            never come from DRAM again, so each inference saves the DRAM read and buffer fill of its b-bit
            weights that the cost model (hwsim/dataflow/costmodel.py) charges once per inference; a switch
            reads the source codes from the buffer, converts them, writes the working copy
  copy      only the working copy (widest choices) fits: the store lives in DRAM; a switch reads the source
            codes from DRAM, converts them, writes the copy; inferences between switches save as above
  stream    nothing is kept: as the cost model assumes, weights are fetched every inference, at the source
            width (the extra bits over b and the conversion are paid per inference); a switch is free
  on_the_fly  nested only: the widest codes alone fit the buffer and are derived between the buffer and the
            PEs at every weight read (rtl/nested_weight.v is combinational): the DRAM fetch is saved as when
            resident, each weight read costs B - b extra buffer bits and one B-bit add; a switch is free
Energy per inference at period P = cost model's energy - saved + extra + switch / P. A switch's cycles: its
traffic over each level's bandwidth, the slowest level (the cost model's rule); the conversion streams with
the buffer. Counts in bits; per-access and per-op energies from the design's config (pJ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from ..errors import UserError
from ..hwconfig import HwConfig
from .layers import LayerShape

REGIMES = ("resident", "copy", "stream", "on_the_fly")


class WeightStorageError(UserError):
    """An unknown strategy, or a layer without width choices."""


@dataclass(frozen=True)
class WeightLayer:
    """A layer's weights as storage sees them: how many, and the widths a config may pick."""
    name: str
    elems: int
    choices: tuple[int, ...]


@dataclass(frozen=True)
class Strategy:
    name: str
    converts: bool        # builds a working copy at switch time (else selects a stored array)

    def stored_bits(self, choices: Sequence[int]) -> int:
        return {"per_width": sum(choices), "nested": max(choices), "master8": 8}[self.name]

    def source_bits(self, choices: Sequence[int], b: int) -> int:
        """Bits per weight read to produce the b-bit codes."""
        return b if self.name == "per_width" else self.stored_bits(choices)

    def convert_pj(self, hw: HwConfig, choices: Sequence[int]) -> float:
        """Energy per weight of producing its b-bit code (hw energies: add scaled by width / 32)."""
        e = hw.energy
        if self.name == "nested":
            return e["add_32b_pj"] * max(choices) / 32
        if self.name == "master8":
            return e["mult_8b_pj"] + e["add_32b_pj"]
        return 0.0


STRATEGIES = {s.name: s for s in (Strategy("per_width", False), Strategy("nested", True), Strategy("master8", True))}


def strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise WeightStorageError(f"unknown weight storage strategy {name!r}; known: {list(STRATEGIES)}")
    return STRATEGIES[name]


def weight_layers(shapes: Sequence[LayerShape], choices: Mapping[str, Sequence[int]]) -> list[WeightLayer]:
    out = []
    for s in shapes:
        if not choices.get(s.name):
            raise WeightStorageError(f"layer {s.name!r} has no weight width choices")
        out.append(WeightLayer(s.name, s.weight_elems, tuple(sorted(choices[s.name]))))
    return out


def weight_share_bits(hw: HwConfig) -> int:
    """The weight buffer's capacity for weights: its size split evenly over the operands it holds (as the
    cost model tiles)."""
    buf = hw.buffer_for("weights")
    return buf.size_bits // len(buf.holds)


def footprint(layers: Sequence[WeightLayer], name: str) -> dict:
    """Bits kept (store) and the working copy at the widest choices (0 for per_width)."""
    s = strategy(name)
    store = sum(l.elems * s.stored_bits(l.choices) for l in layers)
    copy = sum(l.elems * max(l.choices) for l in layers) if s.converts else 0
    total = sum(l.elems for l in layers)
    return {"store_bits": store, "copy_bits": copy, "bits_per_weight": store / total, "weights": total}


def regimes(layers: Sequence[WeightLayer], name: str, hw: HwConfig) -> tuple[str, ...]:
    """The regimes the strategy fits on the design, most on-chip first."""
    f, cap = footprint(layers, name), weight_share_bits(hw)
    widest = sum(l.elems * max(l.choices) for l in layers)
    out = []
    if f["store_bits"] + f["copy_bits"] <= cap:
        out.append("resident")
    if widest <= cap:
        out.append("copy")
    if name == "nested" and f["store_bits"] <= cap:
        out.append("on_the_fly")
    return tuple(out) + ("stream",)


def _traffic_cost(hw: HwConfig, dram_read: int, buf_read: int, buf_write: int, convert_pj: float) -> dict:
    buf, d = hw.buffer_for("weights"), hw.dram
    energy = {"dram": d.energy_pj(dram_read, 0), "buffer": buf.energy_pj(buf_read, buf_write), "convert": convert_pj}
    cycles = max(-(-dram_read // d.bandwidth_bits_per_cycle), -(-(buf_read + buf_write) // buf.bandwidth_bits_per_cycle))
    return {"dram_bits": dram_read, "buffer_read_bits": buf_read, "buffer_write_bits": buf_write,
            "cycles": cycles, "energy_by": energy, "energy_pj": sum(energy.values())}


def switch_cost(layers: Sequence[WeightLayer], name: str, hw: HwConfig, regime: str,
                old: Mapping[str, int], new: Mapping[str, int]) -> dict:
    """Traffic (bits), cycles and energy (pJ) of switching layer widths old -> new (layer -> w_bits); only
    layers whose width changes move."""
    s = strategy(name)
    if regime not in REGIMES:
        raise WeightStorageError(f"unknown regime {regime!r}; known: {list(REGIMES)}")
    dram = buf_r = buf_w = 0
    conv = 0.0
    for l in layers:
        b = new[l.name]
        if regime in ("stream", "on_the_fly") or b == old[l.name]:
            continue
        if not s.converts and regime == "resident":
            continue                      # the b-bit array is already on chip
        src = l.elems * s.source_bits(l.choices, b)
        dram += src if regime == "copy" else 0
        buf_r += src if regime == "resident" else 0
        buf_w += l.elems * b
        conv += l.elems * s.convert_pj(hw, l.choices)
    return _traffic_cost(hw, dram, buf_r, buf_w, conv)


def per_inference_delta(layers: Sequence[WeightLayer], name: str, hw: HwConfig, regime: str,
                        bits: Mapping[str, int], weight_reads: Mapping[str, int] | None = None) -> dict:
    """Energy (pJ) to add to the cost model's per-inference figure at `bits` (layer -> w_bits): negative
    (the saved weight fetch and buffer fill) when weights stay on chip, the extra source bits and the
    conversion when they stream; on_the_fly also pays, per weight read from the buffer (`weight_reads`:
    layer -> reads per inference, from the cost model), the extra bits and the derivation."""
    s = strategy(name)
    buf, d = hw.buffer_for("weights"), hw.dram
    fetched = sum(l.elems * bits[l.name] for l in layers)
    if regime == "on_the_fly":
        if weight_reads is None:
            raise WeightStorageError("the on_the_fly regime needs the weight reads per inference of each layer")
        extra = sum(weight_reads[l.name] * (max(l.choices) - bits[l.name]) for l in layers)
        conv = sum(weight_reads[l.name] * s.convert_pj(hw, l.choices) for l in layers if bits[l.name] < max(l.choices))
        saved = d.energy_pj(fetched, 0) + buf.energy_pj(0, fetched)
        return {"dram_bits": -fetched, "energy_pj": buf.energy_pj(extra, 0) + conv - saved}
    if regime != "stream":
        return {"dram_bits": -fetched, "energy_pj": -(d.energy_pj(fetched, 0) + buf.energy_pj(0, fetched))}
    extra = sum(l.elems * (s.source_bits(l.choices, bits[l.name]) - bits[l.name]) for l in layers)
    conv = sum(l.elems * s.convert_pj(hw, l.choices) for l in layers)
    return {"dram_bits": extra, "energy_pj": d.energy_pj(extra, 0) + buf.energy_pj(0, extra) + conv}


def energy_at_period(base_pj: float, delta_pj: float, switch_pj: float, period: float) -> float:
    """Energy per inference (pJ) when the width changes every `period` inferences."""
    return base_pj + delta_pj + switch_pj / period


def crossover(a: tuple[float, float], b: tuple[float, float]) -> float | None:
    """The period P > 0 at which two lines e + s / P (given as (e, s)) are equal, or None if they never cross."""
    (ea, sa), (eb, sb) = a, b
    if ea == eb:
        return None
    p = (sb - sa) / (ea - eb)
    return p if p > 0 else None
