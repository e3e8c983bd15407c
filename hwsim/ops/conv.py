"""conv: int conv, then rq(acc + B) per output channel; clamped to [0, 2^b_out - 1] or left unclamped."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from .. import kernels as K
from ..bits import ACC, Const, WeightOf
from ..dataflow.layers import LayerShape
from ..ir import IntModel, IRError, Op
from .checks import check_requant, check_weights, domain, layer_of, need, plain_int, tensor_bits
from .kind import OpKind
from .prepared import prepared


def check(ir: IntModel, op: Op, where: str) -> None:
    need(op, where, "stride", "padding", "groups", "clamp", "out_bits", "prev_bits")
    if len(op.inputs) != 1:
        raise IRError(f"{where}: conv takes one input")
    layer = layer_of(ir, op, "conv", where)
    s, p, g = (op.attrs[k] for k in ("stride", "padding", "groups"))
    if not all(plain_int(v) for v in (s, p, g)) or s < 1 or p < 0 or g < 1:
        raise IRError(f"{where}: stride {s}, padding {p}, groups {g} must be ints >= 1, >= 0, >= 1")
    n_out = check_weights(ir, op, layer, None, where)
    w = next(iter(op.weights.values()))
    if w.ndim != 4 or n_out % g or min(w.shape) < 1:
        raise IRError(f"{where}: weights {w.shape} are not (O, C/groups, kh, kw) with O divisible by groups {g}")
    if p > max(w.shape[2:]):
        raise IRError(f"{where}: padding {p} is wider than the {w.shape[2]}x{w.shape[3]} kernel")
    out_var = op.attrs["out_bits"]
    if op.attrs["clamp"] is True:
        if tensor_bits(ir, op.output, where) != out_var:
            raise IRError(f"{where}: clamped output {op.output!r} must carry bits '{out_var}'")
    elif op.attrs["clamp"] is False:
        if tensor_bits(ir, op.output, where) != ACC:
            raise IRError(f"{where}: unclamped output {op.output!r} must be an 'acc' tensor")
    else:
        raise IRError(f"{where}: clamp must be true or false")
    domain(ir, out_var, f"{where}: out_bits")
    producers = [k for k in ("prev_bits", "prev_shortcut_bits") if k in op.attrs]
    for k in producers:
        if not isinstance(op.attrs[k], (WeightOf, Const)):
            raise IRError(f"{where}: {k} must be 'w:LAYER' or 'const:B', got '{op.attrs[k]}'")
        domain(ir, op.attrs[k], f"{where}: {k}")
    names = ", ".join(["w", "a", "out", "prev", "prev_shortcut"][:2 + 1 + len(producers)])
    for key in ir.conv_keys(op):
        if key not in op.requant:
            raise IRError(f"{where}: no requant entry for ({names}) = {key}")
        check_requant(op.requant[key], n_out, f"{where} requant {key}")


def layer_shape(ir: IntModel, op: Op, ins) -> LayerShape:
    w = next(iter(op.weights.values()))
    c, h, wd = ins[0]
    a = op.attrs
    return LayerShape(a["layer"], "conv", c, w.shape[0], w.shape[2], w.shape[3], int(a["stride"]), int(a["padding"]),
                      int(a["groups"]), h, wd, ir.tensors[op.output])


def out_shape(ir: IntModel, op: Op, ins) -> tuple[int, ...]:
    """The output shape; IRError when the weights do not fit the input they read (the kernels index by
    the weights' shape, so a mismatch would read outside the arrays)."""
    w = next(iter(op.weights.values()))
    c, g = ins[0][0], op.attrs["groups"]
    if c % g or w.shape[1] != c // g:
        raise IRError(f"weights {w.shape} read {w.shape[1]} channels per group, but the input {ins[0]} has {c} "
                      f"channels in {g} groups")
    ls = layer_shape(ir, op, ins)
    return ls.out_ch, ls.out_h, ls.out_w


def execute(run, op: Op, x):
    if op.name in run.deferred:
        return DeferredConv(x, op)
    layer = op.attrs["layer"]
    w_bits, a_bits = run.bits[layer]
    w = op.weights_at(w_bits)
    s, p, g = op.attrs["stride"], op.attrs["padding"], op.attrs["groups"]
    key = run.ir.conv_key(op, run.bits)
    r, clamp = op.requant[key], op.attrs["clamp"]
    if run.conv_impl is None:       # requantised in the conv's tile loop where that is proven exact
        with run.part("conv: kernel and requant"):
            return K.conv2d_requant(x, w, s, p, g, prepared(r), 0, 2 ** key[2] - 1, clamp,
                                    run.requant_checks(layer, r, clamp), narrow=True, out_pad=run.pad)[0]
    with run.part("conv: kernel"):
        acc = run.conv_impl(K.as_nchw(x), w, s, p, g, layer, w_bits, a_bits)
    with run.part("conv: requant and checks"):
        return run.requant(layer, acc, r, key[2], clamp)


@dataclass(frozen=True)
class DeferredConv:
    """An unclamped conv left to its only reader, the residual add, which runs the add inside the conv's tiles
    (kernels.conv2d_requant_add) where it can, so the conv's int32 output is never stored."""
    x: object
    op: Op

    def materialize(self, run):
        return execute(_Undeferred(run), self.op, self.x)

    def add_into(self, run, add_op: Op, other, frac_bits: int, hi: int):
        """The add's result with `other` (a tensor or a DeferredRescale) added in the conv's tiles, the conv's
        and the add's checks made as when they run apart; None where the fused kernel does not apply."""
        from .rescale import DeferredRescale
        layer = self.op.attrs["layer"]
        key = run.ir.conv_key(self.op, run.bits)
        r = self.op.requant[key]
        if isinstance(other, DeferredRescale):
            e = other.entry(run)
            sc, m0, sh = other.codes, int(e.m0[0]), int(e.shift[0])
        else:
            sc, m0, sh = other, None, 1
        a = self.op.attrs
        res = K.conv2d_requant_add(self.x, self.op.weights_at(run.bits[layer][0]), a["stride"], a["padding"],
                                   prepared(r), sc, m0, sh, frac_bits, 0, hi, run.requant_checks(layer, r, False),
                                   narrow=True) if a["groups"] == 1 else None
        if res is None:
            return None
        out, (lo_s, hi_s) = res
        if m0 is not None and sc.size:
            run.check_rescaled(other.op.name, *K.value_range_of(sc), e)
        if frac_bits:
            run.check(f"{add_op.name} (sum)", lo_s, hi_s, run.INT32, 32)
        return out


class _Undeferred:
    """The run as a conv sees it when its deferral is undone (inside the add, which times it)."""
    def __init__(self, run):
        self._run = run
        self.deferred = frozenset()

    def part(self, name: str):
        return nullcontext()

    def __getattr__(self, name):
        return getattr(self._run, name)


def fusable(ir: IntModel, deferred_rescales) -> set[str]:
    """Names of the ungrouped unclamped convs whose output only one add reads (not the IR's output), with only
    deferred ops between them (so that deferring the conv to the add keeps the order of every check)."""
    readers: dict[str, list[int]] = {}
    for i, o in enumerate(ir.ops):
        for t in o.inputs:
            readers.setdefault(t, []).append(i)
    cands = {}
    for i, o in enumerate(ir.ops):
        rd = readers.get(o.output, [])
        if (o.kind == "conv" and o.attrs["clamp"] is False and o.attrs["groups"] == 1 and o.output != ir.output_name
                and len(rd) == 1 and ir.ops[rd[0]].kind == "add"):
            cands[o.name] = (i, rd[0])
    ok = set(deferred_rescales) | set(cands)
    return {n for n, (i, j) in cands.items() if all(o.name in ok for o in ir.ops[i + 1:j])}


def acc_bound(op: Op, key: tuple) -> np.ndarray:
    """(2^a_bits - 1) * sum |w| per output channel: the accumulator when every input code is at its maximum."""
    w_bits, a_bits = key[0], key[1]
    w = op.weights_at(w_bits).astype(np.int64)
    return (2**a_bits - 1) * np.abs(w).reshape(len(w), -1).sum(1)


KIND = OpKind("conv", check, out_shape, execute, layer_shape,
              attrs=("layer", "stride", "padding", "groups", "clamp", "out_bits", "prev_bits"), acc_bound=acc_bound,
              optional_attrs=("prev_shortcut_bits",))   # a conv reading a block's output (hwsim/ir.py)
