"""Where the per-sample policy decides, and which layers each decision sets.

A *unit* gets one width b, shared by its switchable layers as w = a = b (the nearest width a layer
allows): per layer (a shortcut conv joins its block's first conv, whose a_bits it shares) or per block.
A unit's width is decided at the first activation site that quantises a tensor one of its layers reads.
Decision order (why it is valid): the width of unit k selects the quantiser of that site, the affine
half of the producing layer's Transitional BN (its `next`) and everything downstream, so it must be
known before the producer's BN runs. The policy therefore reads the producer's *raw conv output*
(before BN), global-average-pooled: that tensor depends only on the units decided before k. Every
choice vector maps to a valid BitConfig (ties hold because tied layers share a unit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hwsim.bits import BitConfig, BitConfigError, nearest_choice
from ..models import MetaResNet

GRANULARITIES = ("layer", "block")


@dataclass(frozen=True)
class DecisionPoint:
    site: str                   # activation site whose quantiser the decision sets
    producer: str               # layer whose raw output the policy reads
    channels: int               # feature width (the producer's output channels)
    layers: tuple[str, ...]     # switchable layers the decision sets (w = a = chosen width)


def decision_points(model: MetaResNet, granularity: str = "layer") -> list[DecisionPoint]:
    if granularity not in GRANULARITIES:
        raise BitConfigError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    spec = model.spec
    unit_of = {l.name: (l.block if granularity == "block" else (l.a_tied_to or l.name))
               for l in spec.switchable}
    quant = model.quant_layers()
    points, seen = [], set()
    for site, consumer in model.act_sites:
        unit = unit_of.get(consumer)
        if unit is None or unit in seen:
            continue
        seen.add(unit)
        producer = model.input_producer[consumer]
        layers = tuple(n for n in spec.names if unit_of.get(n) == unit)
        points.append(DecisionPoint(site, producer, int(quant[producer].out_channels), layers))
    missing = set(unit_of.values()) - seen
    if missing:
        raise BitConfigError(f"units {sorted(missing)} read no activation site: no decision point for them")
    return points


def config_from_widths(model: MetaResNet, points: Sequence[DecisionPoint], widths: Sequence[int],
                       fill: int | None = None) -> BitConfig:
    """The BitConfig of one width per decision point; points past len(widths) get `fill` (default: widest)."""
    if len(widths) > len(points):
        raise BitConfigError(f"{len(widths)} widths for {len(points)} decision points")
    fill = max(model.candidate_bits) if fill is None else fill
    chosen = list(widths) + [fill] * (len(points) - len(widths))
    width_of = {n: b for p, b in zip(points, chosen) for n in p.layers}
    bits = {}
    for l in model.spec.layers:
        b = width_of.get(l.name)
        bits[l.name] = (l.w_choices[0], l.a_choices[0]) if b is None else \
            (nearest_choice(l.w_choices, b), nearest_choice(l.a_choices, b))
    name = "adaptive-" + "".join(str(b) for b in chosen)
    return model.spec.validate(BitConfig(bits, name))
