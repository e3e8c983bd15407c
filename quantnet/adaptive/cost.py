"""What a sample costs: its config on one accelerator (hwsim's dataflow cost model, on the layer shapes
of the exported integer model) plus the policy's own heads, priced as 8-bit linear layers on the same
accelerator. Costs are deterministic per config, so they are looked up per distinct config.

Kinds: energy (pJ per sample), latency (s per sample: cycles / clock), bitops (MACs x w_bits x a_bits).
"""
from __future__ import annotations

from typing import Mapping

from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.errors import UserError
from hwsim.hwconfig import HwConfig

from ..models import MetaResNet
from .policy import POLICY_BITS, AdaptivePolicy

COST_KINDS = {"energy": "pJ", "latency": "s", "bitops": "BitOps"}
DISPLAY = {"pJ": (1e6, "µJ"), "s": (1e-6, "µs"), "BitOps": (1e6, "MBitOps")}   # unit -> (divisor, shown unit)


def shown(value: float, unit: str) -> str:
    """A cost in its display unit, e.g. 2.53e6 pJ -> '2.530 µJ'."""
    div, label = DISPLAY[unit]
    return f"{value / div:.3f} {label}"


class Pricer:
    def __init__(self, model: MetaResNet, hw: HwConfig | None, kind: str = "energy", ir=None):
        if kind not in COST_KINDS:
            raise UserError(f"cost must be one of {sorted(COST_KINDS)}, got {kind!r}")
        if hw is None and kind != "bitops":
            raise UserError(f"cost {kind!r} needs an accelerator config (--hw)")
        self.model, self.hw, self.kind, self.unit = model, hw, kind, COST_KINDS[kind]
        self.net = None
        if hw is not None:
            if ir is None:
                from ..export import export_model
                ir = export_model(model)
            self.net = NetworkCost(shapes_from_ir(ir), hw)
        self._cache: dict[tuple, float] = {}

    def _price(self, cost: NetworkCost | None, bits: Mapping[str, tuple[int, int]], macs: Mapping[str, int]) -> float:
        if self.kind == "bitops":
            return float(sum(macs[n] * w * a for n, (w, a) in bits.items()))
        t = cost.total(bits)
        return float(t["energy_pj"]) if self.kind == "energy" else float(t["latency_s"])

    def config(self, bits: Mapping[str, tuple[int, int]]) -> float:
        """Cost of one inference of one sample at a config."""
        key = tuple(sorted(bits.items()))
        if key not in self._cache:
            macs = {l.name: l.macs for l in self.model.spec.layers}
            self._cache[key] = self._price(self.net, bits, macs)
        return self._cache[key]

    def policy(self, policy: AdaptivePolicy) -> float:
        """Cost of running every head once (one sample)."""
        shapes = policy.layer_shapes()
        bits = {s.name: (POLICY_BITS, POLICY_BITS) for s in shapes}
        cost = NetworkCost(shapes, self.hw) if self.hw is not None else None
        return self._price(cost, bits, {s.name: s.macs for s in shapes})

    def reference(self) -> float:
        """The widest config's cost: rewards are in units of it."""
        return self.config({l.name: (max(l.w_choices), max(l.a_choices)) for l in self.model.spec.layers})
