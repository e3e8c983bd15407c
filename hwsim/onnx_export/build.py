"""Lower each IR op at one checked config to ONNX integer ops; see the package docstring."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..bits import BitConfig
from ..errors import UserError
from ..ir import IntModel, Op
from ..ops import op_kind
from .graph import GraphBuilder

OPSET = 17
I32, I64, U8 = TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8


class OnnxExportError(UserError):
    """An IR op or config the ONNX exporter cannot express (names the op)."""


def _chan(v, ndim: int) -> np.ndarray:
    """A per-channel int64 constant shaped to broadcast along axis 1 of an ndim tensor."""
    v = np.asarray(v, np.int64).reshape(-1)
    return v.reshape((1, -1) + (1,) * (ndim - 2)) if v.size > 1 else v.reshape(())


def _floor_shift(g: GraphBuilder, v: str, shift, ndim: int, hint: str) -> str:
    """floor(v / 2^shift) on int64, exact: (v - Mod(v, d)) / d with Mod's sign taken from d > 0."""
    d = g.const(f"{hint}/pow2", _chan([1 << int(s) for s in np.asarray(shift).reshape(-1)], ndim))
    r = g.node("Mod", [v, d], hint, fmod=0)
    return g.node("Div", [g.node("Sub", [v, r], hint), d], hint)


def _clamp(g: GraphBuilder, v: str, lo: int, hi: int, hint: str) -> str:
    v = g.node("Max", [v, g.const(f"{hint}/lo", np.array(lo, np.int64))], hint)
    return g.node("Min", [v, g.const(f"{hint}/hi", np.array(hi, np.int64))], hint)


def _rq(g: GraphBuilder, x64: str, ndim: int, r, hint: str, clamp_hi: int | None, bias=None) -> str:
    """int32 rq(x + bias; m0, shift, frac) per channel, clamped to [0, clamp_hi] unless None."""
    if bias is not None and np.any(bias):
        x64 = g.node("Add", [x64, g.const(f"{hint}/bias", _chan(bias, ndim))], hint)
    p = g.node("Mul", [x64, g.const(f"{hint}/m0", _chan(r.m0, ndim))], hint)
    rnd = [(1 << (int(s) - 1)) + int(f) for s, f in zip(r.shift.tolist(), r.frac.tolist())]
    v = _floor_shift(g, g.node("Add", [p, g.const(f"{hint}/round", _chan(rnd, ndim))], hint), r.shift, ndim, hint)
    if clamp_hi is not None:
        v = _clamp(g, v, 0, clamp_hi, hint)
    return g.cast(v, I32)


class _Lowering:
    def __init__(self, ir: IntModel, cfg: BitConfig):
        self.ir, self.bits, self.g = ir, cfg.bits, GraphBuilder()
        self.names = {ir.input_name: ir.input_name}     # IR tensor -> ONNX name of its int32 (input: uint8) value

    def value(self, t: str, to: int) -> str:
        name = self.names[t]
        return name if t == self.ir.input_name and to == U8 else self.g.cast(name, to)

    def out_bits(self, op: Op) -> int:
        return self.ir.tensors[op.output].resolve(self.bits)

    def conv(self, op: Op) -> str:
        w_bits, _ = self.bits[op.attrs["layer"]]
        w = op.weights_at(w_bits)
        s, p, gr = (int(op.attrs[k]) for k in ("stride", "padding", "groups"))
        acc = self.g.node("ConvInteger", [self.value(op.inputs[0], U8), self.g.const(f"{op.name}/w", w)], op.name,
                          kernel_shape=list(w.shape[2:]), strides=[s, s], pads=[p] * 4, group=gr)
        key = self.ir.conv_key(op, self.bits)
        r = op.requant[key]
        return _rq(self.g, self.g.cast(acc, I64), 4, r, op.name, 2 ** key[2] - 1 if op.attrs["clamp"] else None, r.bias)

    def linear(self, op: Op) -> str:
        w_bits, a_bits = self.bits[op.attrs["layer"]]
        wt = np.ascontiguousarray(op.weights_at(w_bits).T)
        acc = self.g.node("MatMulInteger", [self.value(op.inputs[0], U8), self.g.const(f"{op.name}/wT", wt)], op.name)
        b = self.g.const(f"{op.name}/bias", op.bias[(w_bits, a_bits)].reshape(1, -1))
        return self.g.cast(self.g.node("Add", [self.g.cast(acc, I64), b], op.name), I32)

    def rescale(self, op: Op) -> str:
        r = op.requant[(self.ir.tensors[op.inputs[0]].resolve(self.bits), op.attrs["out_bits"].resolve(self.bits))]
        return _rq(self.g, self.value(op.inputs[0], I64), 4, r, op.name, None)

    def add(self, op: Op) -> str:
        f = int(op.attrs["frac_bits"])
        s = self.g.node("Add", [self.value(op.inputs[0], I64), self.value(op.inputs[1], I64)], op.name)
        if f:   # round half up once: floor((s + 2^(f-1)) / 2^f)
            s = self.g.node("Add", [s, self.g.const(f"{op.name}/round", np.array(1 << (f - 1), np.int64))], op.name)
            s = _floor_shift(self.g, s, [f], 4, op.name)
        return self.g.cast(_clamp(self.g, s, 0, 2 ** self.out_bits(op) - 1, op.name), I32)

    def maxpool(self, op: Op) -> str:
        k, s, p = (int(op.attrs[x]) for x in ("kernel", "stride", "padding"))
        # ONNX pads ignore padding cells; the contract's zero cells give the same max since codes >= 0
        y = self.g.node("MaxPool", [self.value(op.inputs[0], U8)], op.name, kernel_shape=[k, k], strides=[s, s],
                        pads=[p] * 4)
        return self.g.cast(y, I32)

    def avgpool(self, op: Op) -> str:
        axes = self.g.const(f"{op.name}/axes", np.array([2, 3], np.int64))
        s = self.g.node("ReduceSum", [self.value(op.inputs[0], I64), axes], op.name, keepdims=1)
        return _rq(self.g, s, 4, op.requant[()], op.name, 2 ** self.out_bits(op) - 1)

    def flatten(self, op: Op) -> str:
        return self.g.node("Flatten", [self.value(op.inputs[0], I32)], op.name, axis=1)


def _shapes(ir: IntModel) -> dict[str, tuple[int, ...]]:
    shape = {ir.input_name: tuple(ir.input_shape)}
    for op in ir.ops:
        shape[op.output] = op_kind(op.kind).out_shape(ir, op, [shape[t] for t in op.inputs])
    return shape


def build_onnx(ir: IntModel, config: BitConfig | Mapping[str, tuple[int, int]], all_tensors: bool = False,
               name: str = "bitmixer_int") -> onnx.ModelProto:
    """The IR at `config` as an ONNX model: input uint8 (N, C, H, W) named as the IR's input, output the
    int32 logits; with `all_tensors`, every IR tensor is also an int32 graph output under its IR name."""
    cfg = ir.config(config)
    low = _Lowering(ir, cfg)
    for op in ir.ops:
        lower = getattr(low, op.kind, None)
        if lower is None:
            raise OnnxExportError(f"op {op.name!r}: no ONNX lowering for op kind {op.kind!r}")
        low.names[op.output] = lower(op)
    shapes = _shapes(ir)
    outs = [ir.output_name] + ([t for t in low.names if t not in (ir.input_name, ir.output_name)] if all_tensors else [])
    g = low.g
    for t in outs:   # graph outputs carry the IR tensor's name
        g.node("Identity", [low.names[t]], f"{t}/out", output=t)
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info(ir.input_name, U8, ["N", *shapes[ir.input_name]])],
        [helper.make_tensor_value_info(t, I32, ["N", *shapes[t]]) for t in outs], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bitmixer")
    model.ir_version = 8
    helper.set_model_props(model, {"bitmixer.config": ",".join(f"{k}=w{w}a{a}" for k, (w, a) in cfg.bits.items()),
                                   **{f"bitmixer.source.{k}": str(v) for k, v in ir.source.items()}})
    onnx.checker.check_model(model, full_check=True)
    return model


def save_onnx(model: onnx.ModelProto, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
