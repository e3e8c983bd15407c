"""Analytic estimates of whole configs on one accelerator: per-op costs from the dataflow cost model, the
network totals, and the bits every tensor travels at between ops.

The network is an op graph: from an integer-model IR (`estimate_configs`), or from the zoo or a
SCALE-Sim / ONNX file (`estimate_network`, anything with `.graph` and `.table`)."""
from __future__ import annotations

from typing import Sequence

from ..bits import BitConfig
from ..hwconfig import HwConfig
from .costmodel import NetworkCost
from .graph import INPUT, OpGraph, op_graph_from_ir


def tensor_edges(graph: OpGraph, bits, acc_bits: int) -> list[dict]:
    """(from, to, bits) of every tensor an op reads; `from` is INPUT for the network input."""
    width = {INPUT: graph.input_bits.resolve(bits, acc_bits), **{n.name: n.out_bits.resolve(bits, acc_bits)
                                                                 for n in graph.nodes}}
    return [{"from": i, "to": n.name, "bits": int(width[i])} for n in graph.nodes for i in n.inputs]


def estimate_graph(graph: OpGraph, hw: HwConfig, configs: Sequence[tuple[str, BitConfig]]) -> list[dict]:
    """One plain dict per (name, checked config): its bits, `layers` (NetworkCost.layers: every costed op),
    `total` (cycles, energy_pj, latency_s for the graph's batch) and `edges` (tensor_edges)."""
    cost = NetworkCost(graph, hw)
    results = []
    for name, cfg in configs:
        rows = cost.layers(cfg.bits)
        results.append({"config": name, "bits": {k: list(v) for k, v in cfg.bits.items()}, "layers": rows,
                        "total": cost.total_of(rows),
                        "edges": tensor_edges(graph, cfg.bits, hw.pe.accumulator_bits)})
    return results


def estimate_configs(ir, hw: HwConfig, configs: Sequence[tuple[str, BitConfig]], batch: int = 1) -> list[dict]:
    """estimate_graph on the IR's op graph, each config checked against the IR first."""
    return estimate_graph(op_graph_from_ir(ir, batch), hw, [(name, ir.config(cfg, name)) for name, cfg in configs])


def estimate_network(net, hw: HwConfig, configs: Sequence[tuple[str, BitConfig]]) -> list[dict]:
    """estimate_graph on a zoo or imported network, each config checked against its layer table."""
    return estimate_graph(net.graph, hw, [(name, net.table.validate(cfg, name)) for name, cfg in configs])
