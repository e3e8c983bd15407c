"""Write a network down op by op: NetBuilder tracks every tensor's (channels, height, width), so a zoo table
names only what a paper's table gives (channels, kernel, stride), and turns the ops into an OpGraph whose
tensor widths follow the project's rule: a tensor is quantised once, at the a_bits of the first layer that
reads it (through pools); what feeds a residual add, a rescale's output and the logits are accumulators."""
from __future__ import annotations

from dataclasses import dataclass

from ..bits import ACC, ActOf, Layer, LayerTable
from ..dataflow.graph import INPUT, OpGraph, OpNode
from ..dataflow.layers import LayerShape

CHOICES = tuple(range(1, 17))     # widths a config may give any zoo layer; the PE kind bounds them further
CANDIDATES = (2, 4, 8)            # what `--config uniform` sweeps


@dataclass(frozen=True)
class _Op:
    name: str
    kind: str
    inputs: tuple[str, ...]
    out: tuple[int, int, int]          # (channels, height, width) per sample
    layer: tuple | None = None         # LayerShape fields after name/kind, before out_bits
    window: int = 1


class NetBuilder:
    """Ops in execution order; each method returns the name of the tensor (= the op) it makes."""

    def __init__(self, in_ch: int, size: int | tuple[int, int], batch: int = 1):
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        h, w = (size, size) if isinstance(size, int) else size
        self.batch = batch
        self._shape = {INPUT: (in_ch, h, w)}
        self._ops: list[_Op] = []
        self._external: set[str] = set()     # tensors no op makes: read from DRAM like the network input
        self._feeds: dict[str, str] = {}      # a tensor read by no op here -> the layer it is quantised for

    def _put(self, op: _Op) -> str:
        if op.name in self._shape:
            raise ValueError(f"op {op.name!r} is defined twice")
        self._shape[op.name] = op.out
        self._ops.append(op)
        return op.name

    def shape(self, t: str) -> tuple[int, int, int]:
        return self._shape[t]

    def fresh_input(self, name: str, shape: tuple[int, int, int], after: str | tuple[str, ...] | None = None) -> str:
        """A tensor from outside the network (a layer whose producer is not described); `after`: the tensor(s)
        it was made from by ops left out (a reshape; a concatenation), each then quantised for the layer
        reading this one."""
        if name in self._shape:
            raise ValueError(f"tensor {name!r} is defined twice")
        self._shape[name] = shape
        self._external.add(name)
        for t in (after,) if isinstance(after, str) else after or ():
            self._feeds[t] = name
        return name

    def concat(self, name: str, srcs: tuple[str, ...]) -> str:
        """Channel concatenation, a layout the next layer reads from DRAM: no op of its own (fresh_input)."""
        shapes = [self._shape[t] for t in srcs]
        if len({s[1:] for s in shapes}) != 1:
            raise ValueError(f"concat {name!r}: spatial sizes {[s[1:] for s in shapes]} differ")
        return self.fresh_input(name, (sum(s[0] for s in shapes), *shapes[0][1:]), tuple(srcs))

    def conv(self, name: str, src: str, out_ch: int, k: int | tuple[int, int], stride: int = 1, pad: int = 0,
             groups: int = 1) -> str:
        c, h, w = self._shape[src]
        kh, kw = (k, k) if isinstance(k, int) else k
        oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
        return self._put(_Op(name, "conv", (src,), (out_ch, oh, ow), (c, out_ch, kh, kw, stride, pad, groups, h, w)))

    def linear(self, name: str, src: str, out_features: int) -> str:
        c, h, w = self._shape[src]        # a conv tensor is flattened first, at no cost
        return self._put(_Op(name, "linear", (src,), (out_features, 1, 1),
                             (c * h * w, out_features, 1, 1, 1, 0, 1, 1, 1)))

    def maxpool(self, name: str, src: str, k: int, stride: int, pad: int = 0) -> str:
        c, h, w = self._shape[src]
        out = (c, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
        return self._put(_Op(name, "maxpool", (src,), out, window=k * k))

    def avgpool(self, name: str, src: str) -> str:
        """Global average pool."""
        c, h, w = self._shape[src]
        return self._put(_Op(name, "avgpool", (src,), (c, 1, 1), window=h * w))

    def add(self, name: str, a: str, b: str) -> str:
        if self._shape[a] != self._shape[b]:
            raise ValueError(f"add {name!r}: shapes {self._shape[a]} and {self._shape[b]} differ")
        return self._put(_Op(name, "add", (a, b), self._shape[a], window=2))

    def rescale(self, name: str, src: str) -> str:
        """An identity shortcut's codes brought to the add's scale (one multiply per element)."""
        return self._put(_Op(name, "rescale", (src,), self._shape[src]))

    # ---- what the ops become -------------------------------------------------------------------
    def _consumers(self) -> dict[str, list[_Op]]:
        out: dict[str, list[_Op]] = {t: [] for t in self._shape}
        for op in self._ops:
            for i in op.inputs:
                out[i].append(op)
        return out

    def _bits(self, t: str, cons: dict[str, list[_Op]]):
        """The width of tensor `t`: see the module docstring."""
        for u in cons[t]:
            if u.layer is not None:
                return ActOf(u.name)
            if u.kind in ("maxpool", "avgpool"):
                return self._bits(u.name, cons)
        if t in self._feeds:
            return self._bits(self._feeds[t], cons)
        return ACC          # read by an add or a rescale only, or by nothing (the logits)

    def graph(self) -> OpGraph:
        cons = self._consumers()
        b, nodes = self.batch, []
        for op in self._ops:
            bits = ACC if op.kind == "rescale" else self._bits(op.name, cons)
            shape = LayerShape(op.name, op.kind, *op.layer, bits, b) if op.layer is not None else None
            c, h, w = op.out
            inputs = tuple(INPUT if i in self._external else i for i in op.inputs)
            nodes.append(OpNode(op.name, op.kind, inputs, b * c * h * w, bits, shape, op.window))
        return OpGraph(tuple(nodes), self._bits(INPUT, cons))

    def table(self) -> LayerTable:
        """Every layer free to take any width in CHOICES; a layer reading a tensor an earlier layer reads
        shares that layer's a_bits (the tensor is quantised once)."""
        first_reader: dict[str, str] = {}
        layers = []
        for op in self._ops:
            if op.layer is None:
                continue
            src = op.inputs[0]
            tied = first_reader.setdefault(src, op.name)
            layers.append(Layer(op.name, op.kind, CHOICES, CHOICES, None if tied == op.name else tied,
                                macs=0, params=op.layer[0] * op.layer[1] * op.layer[2] * op.layer[3] // op.layer[6]))
        return LayerTable(tuple(layers), CANDIDATES)
