"""Analytic estimates of whole configs on one accelerator: per-layer costs from the dataflow cost model,
the network totals, and the bits every tensor travels at between layers."""
from __future__ import annotations

from typing import Sequence

from ..bits import BitConfig
from ..hwconfig import HwConfig
from .costmodel import NetworkCost
from .graph import annotate_bits, graph_from_ir, shapes_from_ir


def estimate_configs(ir, hw: HwConfig, configs: Sequence[tuple[str, BitConfig]]) -> list[dict]:
    """One plain dict per (name, checked config): its bits, `layers` (NetworkCost.layers),
    `total` (cycles, energy_pj, latency_s per sample) and `edges` (from, to, bits of the tensor between)."""
    cost = NetworkCost(shapes_from_ir(ir), hw)
    graph = graph_from_ir(ir)
    results = []
    for name, cfg in configs:
        bits = ir.config(cfg, name).bits   # a checked config passes unchanged
        g = annotate_bits(graph, bits, hw.pe.accumulator_bits)
        edges = [{"from": u, "to": v, "bits": d["tensor_bits"]} for u, v, d in g.edges(data=True)]
        results.append({"config": name, "bits": {k: list(v) for k, v in bits.items()}, "layers": cost.layers(bits),
                        "total": cost.total(bits), "edges": edges})
    return results
