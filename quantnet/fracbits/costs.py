"""The resources a FracBits search can pay in, each as a per-layer table over integer widths
(hwsim.dataflow.cost_table): BitOps and model size from the layer table, energy and latency from the
dataflow cost model of one accelerator, priced on the exported integer model's layer shapes (as
`bitmixer estimate` prices them)."""
from __future__ import annotations

from hwsim.dataflow.cost_table import CostTable, from_cost_model, from_function
from hwsim.errors import UserError

from hwsim.bits import BitConfig, LayerTable

COSTS = ("bitops", "size", "energy", "latency")
HW_COSTS = ("energy", "latency")


def choices_of(spec: LayerTable) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    return {l.name: (l.w_choices, l.a_choices) for l in spec.layers}


def check_cost_name(cost: str, hw) -> None:
    if cost not in COSTS:
        raise UserError(f"unknown cost {cost!r}; known: {', '.join(COSTS)}")
    if cost in HW_COSTS and hw is None:
        raise UserError(f"cost {cost!r} is priced on an accelerator: name one with --hw (e.g. hw_configs/stripes.yaml)")
    if cost not in HW_COSTS and hw is not None:
        raise UserError(f"cost {cost!r} does not depend on an accelerator; drop --hw or use energy / latency")


def cost_table(cost: str, spec: LayerTable, hw=None, shapes=None) -> CostTable:
    """bitops (BitOps per sample), size (weight bits), or energy (pJ) / latency (cycles) on `hw`
    (an HwConfig), for which `shapes` are the integer model's layer shapes."""
    check_cost_name(cost, hw)
    layers = {l.name: l for l in spec.layers}
    if cost == "bitops":
        return from_function("bitops", "BitOps", choices_of(spec), lambda n, w, a: float(layers[n].macs * w * a))
    if cost == "size":
        return from_function("size", "bit", choices_of(spec), lambda n, w, a: float(layers[n].params * w))
    from hwsim.dataflow.costmodel import NetworkCost
    return from_cost_model(NetworkCost(shapes, hw), choices_of(spec), cost)


def extreme_configs(spec: LayerTable) -> tuple[BitConfig, BitConfig]:
    """The all-lowest and all-highest uniform configs, the ends of a fractional budget."""
    return (BitConfig.uniform(spec, min(spec.candidate_bits)), BitConfig.uniform(spec, max(spec.candidate_bits)))


def network_table(model, cost: str, hw_path=None) -> tuple[CostTable, float | None]:
    """(table, clock in Hz or None) of a meta-network: accelerator costs price the layer shapes of its
    exported integer model, as `bitmixer estimate` does."""
    hw = None
    if hw_path is not None:
        from hwsim.hwconfig import load_hw_config
        hw = load_hw_config(hw_path)
    check_cost_name(cost, hw)
    shapes = None
    if hw is not None:
        from hwsim.dataflow.graph import shapes_from_ir
        from ..export import export_model
        shapes = shapes_from_ir(export_model(model))
    return cost_table(cost, model.spec, hw, shapes), (hw.clock_hz if hw is not None else None)
