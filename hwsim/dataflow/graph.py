"""The dataflow graph (networkx): nodes are layers with shapes and MACs, edges are the tensors between them.

Built from the integer-model IR by propagating tensor shapes through its ops; the non-layer ops
(add, rescale, pools, flatten) are folded into edges, so an edge joins a layer to the next layers that
read its (possibly added / pooled) output, labelled with the bits variable of the tensor they read.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from ..bits import ActOf, BitsVar
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


# ---- the op graph: every op a node, every tensor an edge ------------------------------------------
INPUT = "input"            # the producer name of the network input tensor
NODE_KINDS = ("conv", "linear", "add", "maxpool", "avgpool", "rescale")


@dataclass(frozen=True)
class OpNode:
    """One op of a network, in execution order. A conv or linear carries its LayerShape; an add, a pool or a
    requantisation (rescale) works element-wise on the tensors it reads."""
    name: str
    kind: str                  # one of NODE_KINDS
    inputs: tuple[str, ...]    # the nodes whose output tensors it reads (INPUT: the network input)
    out_elems: int             # elements of its output tensor, whole batch
    out_bits: BitsVar          # width of its output tensor
    shape: LayerShape | None = None
    window: int = 1            # input elements one output element reads, all inputs together (add: 2, kxk pool: k^2)

    @property
    def is_layer(self) -> bool:
        return self.shape is not None


@dataclass(frozen=True)
class OpGraph:
    """A network as ops in execution order; the tensors between them are the edges. `input_bits` is the
    width of the network input, which comes from DRAM and never stays on chip."""
    nodes: tuple[OpNode, ...]
    input_bits: BitsVar

    def __post_init__(self):
        seen = {INPUT}
        for n in self.nodes:
            if n.kind not in NODE_KINDS:
                raise ValueError(f"node {n.name!r}: kind {n.kind!r} is not one of {NODE_KINDS}")
            if (n.kind in ("conv", "linear")) != n.is_layer:
                raise ValueError(f"node {n.name!r}: a {n.kind} node {'needs' if n.is_layer else 'has'} no shape")
            missing = [i for i in n.inputs if i not in seen]
            if n.name in seen or missing or not n.inputs:
                raise ValueError(f"node {n.name!r}: repeated, or reads {missing or 'nothing'} before it is made")
            seen.add(n.name)

    @property
    def shapes(self) -> list[LayerShape]:
        return [n.shape for n in self.nodes if n.is_layer]

    def consumers(self) -> dict[str, list[str]]:
        """Producer (or INPUT) -> the nodes that read its tensor, in execution order."""
        out: dict[str, list[str]] = {INPUT: []}
        for n in self.nodes:
            out[n.name] = []
            for i in n.inputs:
                out[i].append(n.name)
        return out

    def layer_producers(self) -> dict[str, list[str]]:
        """For each layer, the layers whose outputs reach its input through non-layer ops (build_graph's form)."""
        made_by: dict[str, set[str]] = {INPUT: set()}
        out: dict[str, list[str]] = {}
        for n in self.nodes:
            src = set().union(*(made_by[i] for i in n.inputs))
            if n.is_layer:
                out[n.name] = sorted(src)
                made_by[n.name] = {n.name}
            else:
                made_by[n.name] = src
        return out

    @classmethod
    def chain(cls, shapes) -> "OpGraph":
        """The layers of a plain shape list, each reading the one before it. A layer's input is that layer's
        output tensor only where the two agree (same elements, quantised at the reader's a_bits); elsewhere
        something not in the list lies between them, and the layer reads its input from the network side."""
        nodes, prev = [], None
        for s in shapes:
            same = prev is not None and prev.output_elems == s.input_elems and prev.out_bits_var == ActOf(s.name)
            nodes.append(OpNode(s.name, s.kind, (prev.name if same else INPUT,), s.output_elems, s.out_bits_var, s))
            prev = s
        first = shapes[0].name if shapes else ""
        return cls(tuple(nodes), ActOf(first))


# input elements one output element of an IR op reads (OpNode.window); 1 for the others
_WINDOW = {"maxpool": lambda op, ins: op.attrs["kernel"] ** 2, "avgpool": lambda op, ins: ins[0][1] * ins[0][2],
           "add": lambda op, ins: len(op.inputs)}


def op_graph_from_ir(ir, batch: int = 1) -> OpGraph:
    """Every op of the IR as a node (a layer named by its layer, any other op by its op name); a flatten
    is a view, so its readers read its input's producer."""
    shape = {ir.input_name: tuple(ir.input_shape)}
    made_by = {ir.input_name: INPUT}
    nodes = []
    for op in ir.ops:
        kind = op_kind(op.kind)
        ins = [shape[t] for t in op.inputs]
        out = kind.out_shape(ir, op, ins)
        shape[op.output] = out
        if op.kind == "flatten":
            made_by[op.output] = made_by[op.inputs[0]]
            continue
        ls = replace(kind.layer_shape(ir, op, ins), batch=batch) if kind.costed else None
        name = op.attrs["layer"] if kind.costed else op.name
        window = _WINDOW.get(op.kind, lambda op, ins: 1)(op, ins)
        nodes.append(OpNode(name, op.kind, tuple(made_by[t] for t in op.inputs), batch * int(np.prod(out)),
                            ir.tensors[op.output], ls, window))
        made_by[op.output] = name
    return OpGraph(tuple(nodes), ir.tensors[ir.input_name])
