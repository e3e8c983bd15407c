"""The dataflow graph (networkx): nodes are layers with shapes and MACs, edges are the tensors between them.

Built from the integer-model IR by propagating tensor shapes through its ops; the non-layer ops
(add, rescale, pools, flatten) are folded into edges, so an edge joins a layer to the next layers that
read its (possibly added / pooled) output, labelled with the bits variable of the tensor they read.
"""
from __future__ import annotations

import networkx as nx

from ..bits import ActOf
from ..ops import op_kind
from .layers import LayerShape


def shapes_from_ir(ir) -> list[LayerShape]:
    """Layer shapes in op order, from the IR's weights and attributes (per sample)."""
    shape = {ir.input_name: tuple(ir.input_shape)}
    out: list[LayerShape] = []
    for op in ir.ops:
        kind = op_kind(op.kind)
        ins = [shape[t] for t in op.inputs]
        if kind.costed:
            out.append(kind.layer_shape(ir, op, ins))
        shape[op.output] = kind.out_shape(ir, op, ins)
    return out


def build_graph(shapes: list[LayerShape], producers: dict[str, list[str]] | None = None) -> nx.DiGraph:
    """Nodes: layers (shape, MACs, tensor sizes in elements). Edges: producer -> consumer layers.

    `producers` maps a layer to the layers whose outputs it reads (through adds and pools); without it
    the layers are chained in order.
    """
    g = nx.DiGraph()
    for s in shapes:
        g.add_node(s.name, shape=s, macs=s.macs, weight_elems=s.weight_elems, input_elems=s.input_elems,
                   output_elems=s.output_elems, out_bits=s.out_bits_var)
    if producers is None:
        producers = {b.name: [a.name] for a, b in zip(shapes, shapes[1:])}
    for cons, prods in producers.items():
        for p in prods:
            g.add_edge(p, cons, bits=ActOf(cons))
    return g


def producers_from_ir(ir) -> dict[str, list[str]]:
    """For each layer, the layers whose outputs reach its input through non-layer ops."""
    made_by: dict[str, set[str]] = {ir.input_name: set()}
    out: dict[str, list[str]] = {}
    for op in ir.ops:
        src = set().union(*(made_by.get(t, set()) for t in op.inputs))
        if op_kind(op.kind).costed:
            out[op.attrs["layer"]] = sorted(src)
            made_by[op.output] = {op.attrs["layer"]}
        else:
            made_by[op.output] = src
    return out


def graph_from_ir(ir) -> nx.DiGraph:
    return build_graph(shapes_from_ir(ir), producers_from_ir(ir))


def annotate_bits(g: nx.DiGraph, bits, acc_bits: int) -> nx.DiGraph:
    """A copy of the graph with tensor sizes in bits at one config (layer -> (w_bits, a_bits)):
    nodes get weight/input/output bits, edges the width of the tensor the consumer reads."""
    h = g.copy()
    for n, d in h.nodes(data=True):
        w, a = bits[n]
        o = d["out_bits"].resolve(bits, acc_bits)
        d.update(w_bits=w, a_bits=a, out_tensor_bits=o, weight_bits=d["weight_elems"] * w,
                 input_bits=d["input_elems"] * a, output_bits=d["output_elems"] * o)
    for u, v, d in h.edges(data=True):
        d["tensor_bits"] = bits[v][1]
    return h
