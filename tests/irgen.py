"""Random small integer-model IRs for tests, built directly (no torch): a stem conv, an optional max pool,
one residual block (identity or 1x1-conv shortcut), global average pool and a classifier.

Shapes, strides, padding, groups (incl. depthwise), bit choices, weights, signed multipliers (tiny to huge)
and biases are drawn from `rng`; biases and multipliers are bounded so that acc + B fits int32 and the
unclamped branch outputs fit int32 (the contract's preconditions), so both integer paths must agree exactly.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from hwsim.bits import ACC, BitConfig, Layer, LayerTable
from hwsim.ir import IntModel, Op, Requant
from hwsim.ir_validate import validate

BITS = (2, 3, 4, 5, 6, 7, 8)


@dataclass(frozen=True)
class GenParams:
    seed: int
    channels: int = 2
    size: int = 5
    width: int = 4
    stem_kernel: int = 3
    stem_stride: int = 1
    stem_padding: int = 1
    maxpool: bool = False
    block_stride: int = 1
    identity: bool = True
    groups: str = "one"             # "one" | "depthwise" | "some"
    weights: str = "random"         # "random" | "max" | "min" | "zero"
    classes: int = 3
    hidden: int | None = None       # the blocks' channels (None: random 1..4)


def _choices(rng, k_max=3) -> tuple[int, ...]:
    return tuple(sorted(rng.choice(BITS, size=int(rng.integers(1, k_max + 1)), replace=False).tolist()))


def _weights(rng, shape, bits, mode) -> np.ndarray:
    qp = 2 ** (bits - 1) - 1
    if mode == "max":
        return np.full(shape, qp, np.int8)
    if mode == "min":
        return np.full(shape, -qp, np.int8)
    if mode == "zero":
        return np.zeros(shape, np.int8)
    return rng.integers(-qp, qp + 1, size=shape).astype(np.int8)


def _requant(rng, bound: np.ndarray, clamp: bool, qmax: int) -> Requant:
    """Per channel: M0 0 or +-[2^30, 2^31); shift from tiny to huge multipliers, or (60%) one that maps the
    accumulator range onto ~[0, qmax] so that codes vary; |B| + bound < 2^31."""
    n = len(bound)
    m0 = np.zeros(n, np.int32)
    shift = np.zeros(n, np.int32)
    bias = np.zeros(n, np.int64)
    frac = np.zeros(n, np.int64)
    for c in range(n):
        room = 2**31 - 1 - int(bound[c])
        bias[c] = int(rng.integers(-min(room, 2 ** int(rng.integers(0, 31))), min(room, 2 ** int(rng.integers(0, 31))) + 1))
        kind = rng.random()
        if kind < 0.08:
            m0[c], shift[c] = 0, int(rng.integers(1, 63))
            continue
        mag = int(rng.choice([2**30, 2**31 - 1, int(rng.integers(2**30, 2**31))]))
        m0[c] = mag if rng.random() < 0.7 else -mag
        if rng.random() < 0.6:
            frac[c] = int(rng.choice([-(2**30), 2**30, int(rng.integers(-(2**30), 2**30 + 1))]))
        worst = int(bound[c]) + abs(int(bias[c]))
        # unclamped: |rq| <= worst * 2^31 / 2^shift must stay below 2^31
        lo = 1 if clamp else max(1, worst.bit_length() + 1)
        if rng.random() < 0.6:   # sensible: M ~ qmax / (bound / 4), bias within the accumulator range
            bias[c] = int(rng.integers(-(int(bound[c]) // 2) - 1, int(bound[c]) // 2 + 1))
            want = 31 + (int(bound[c]) // 4 + 1).bit_length() - qmax.bit_length() + int(rng.integers(-2, 3))
            shift[c] = min(62, max(lo, want))
        else:
            shift[c] = int(rng.integers(lo, 63)) if rng.random() < 0.5 else int(rng.integers(lo, min(62, lo + 12) + 1))
    return Requant(m0, shift, bias, frac)


def _conv_op(rng, ir_layers, name, src, out, out_var, clamp, cin, cout, k, s, p, g, layer, in_choices, out_choices,
             wmode, prev: str | None) -> Op:
    """prev: the layer whose w_bits also key the requant table (None: the 8-bit input)."""
    prev_var, prev_choices = ("const:8", (8,)) if prev is None else (f"w:{prev}", ir_layers[prev].w_choices)
    op = Op(name, "conv", (src,), out, {"layer": name, "stride": s, "padding": p, "groups": g, "clamp": clamp,
                                       "out_bits": out_var, "prev_bits": prev_var})
    for b in layer.w_choices:
        op.weights[b] = _weights(rng, (cout, cin // g, k, k), b, wmode)
    for w, a, o, pb in itertools.product(layer.w_choices, in_choices, out_choices, prev_choices):
        bound = (2**a - 1) * np.abs(op.weights[w].astype(np.int64)).reshape(cout, -1).sum(1)
        op.requant[(w, a, o, pb)] = _requant(rng, bound, clamp, 2**o - 1)
    return op


def _groups(rng, cin, cout, mode) -> int:
    if mode == "depthwise" and cin == cout:
        return cin
    if mode == "some":
        common = [g for g in range(1, min(cin, cout) + 1) if cin % g == 0 and cout % g == 0]
        return int(rng.choice(common))
    return 1


def random_ir(p: GenParams) -> IntModel:
    rng = np.random.default_rng(p.seed)
    C, H, W = p.channels, p.size, p.width
    ch1 = int(rng.integers(1, 5)) if p.groups != "depthwise" else C
    ch1 = p.hidden or ch1
    a_c1 = _choices(rng)
    layers = {
        "c0": Layer("c0", "conv", _choices(rng), (8,)),
        "c1": Layer("c1", "conv", _choices(rng), a_c1),
        "c2": Layer("c2", "conv", _choices(rng), _choices(rng)),
        "fc": Layer("fc", "linear", _choices(rng, 2), _choices(rng, 2)),
    }
    if not p.identity:
        layers["sc"] = Layer("sc", "conv", _choices(rng), a_c1, a_tied_to="c1")
    tensors = {"input": "const:8", "t0": "a:c1"}
    ops = []
    g0 = _groups(rng, C, ch1, p.groups)
    ops.append(_conv_op(rng, layers, "c0", "input", "t0", "a:c1", True, C, ch1, p.stem_kernel, p.stem_stride,
                        p.stem_padding, g0, layers["c0"], (8,), a_c1, p.weights, None))
    h = (H + 2 * p.stem_padding - p.stem_kernel) // p.stem_stride + 1
    w = (W + 2 * p.stem_padding - p.stem_kernel) // p.stem_stride + 1
    src = "t0"
    if p.maxpool and h >= 2 and w >= 2:
        tensors["t0p"] = "a:c1"
        ops.append(Op("pool0", "maxpool", ("t0",), "t0p", {"kernel": 2 + (h >= 3 and w >= 3), "stride": 2,
                                                           "padding": int(rng.integers(0, 2))}))
        k = ops[-1].attrs["kernel"]
        pp = ops[-1].attrs["padding"]
        h, w = (h + 2 * pp - k) // 2 + 1, (w + 2 * pp - k) // 2 + 1
        src = "t0p"
    s1 = 1 if p.identity else p.block_stride
    ch2 = ch1 if p.identity else int(rng.integers(1, 5))
    ch2 = ch1 if p.hidden else ch2
    if p.groups == "depthwise":
        ch2 = ch1
    k1 = int(rng.choice([1, 3]))
    tensors.update({"t1": "a:c2", "t2": ACC, "t3": ACC, "t4": "a:fc", "t5": "a:fc", "t6": "a:fc", "logits": ACC})
    ops.append(_conv_op(rng, layers, "c1", src, "t1", "a:c2", True, ch1, ch2, k1, s1, k1 // 2,
                        _groups(rng, ch1, ch2, p.groups), layers["c1"], a_c1, layers["c2"].a_choices, p.weights, "c0"))
    k2 = int(rng.choice([1, 3]))
    fc_a = layers["fc"].a_choices
    ops.append(_conv_op(rng, layers, "c2", "t1", "t2", "a:fc", False, ch2, ch2, k2, 1, k2 // 2,
                        _groups(rng, ch2, ch2, p.groups), layers["c2"], layers["c2"].a_choices, fc_a, p.weights, "c1"))
    if p.identity:
        op = Op("sc", "rescale", (src,), "t3", {"out_bits": "a:fc"})
        for i, o in itertools.product(a_c1, fc_a):
            mag = int(rng.integers(2**30, 2**31))
            op.requant[(i, o)] = Requant(np.array([mag], np.int32), np.array([int(rng.integers(9, 63))], np.int32),
                                         np.zeros(1, np.int64))
        ops.append(op)
    else:
        ops.append(_conv_op(rng, layers, "sc", src, "t3", "a:fc", False, ch1, ch2, 1, s1, 0,
                            _groups(rng, ch1, ch2, p.groups), layers["sc"], a_c1, fc_a, p.weights, "c0"))
    ops.append(Op("add", "add", ("t2", "t3"), "t4", {"frac_bits": int(rng.choice([0, 1, 4, 8, 24]))}))
    hh, ww = (h - 1) // s1 + 1, (w - 1) // s1 + 1
    avg = Op("avg", "avgpool", ("t4",), "t5", {})
    n = hh * ww
    shift = 31 + (n - 1).bit_length()
    avg.requant[()] = Requant(np.array([min(-(-(1 << shift) // n), 2**31 - 1)], np.int32), np.array([shift], np.int32),
                              np.zeros(1, np.int64))
    ops.append(avg)
    ops.append(Op("flat", "flatten", ("t5",), "t6", {}))
    fc = Op("fc", "linear", ("t6",), "logits", {"layer": "fc"})
    for b in layers["fc"].w_choices:
        fc.weights[b] = _weights(rng, (p.classes, ch2), b, p.weights)
    for wb, a in itertools.product(layers["fc"].w_choices, fc_a):
        fc.bias[(wb, a)] = rng.integers(-2**20, 2**20, size=p.classes).astype(np.int64)
    ops.append(fc)
    order = ["c0", "c1", "c2"] + ([] if p.identity else ["sc"]) + ["fc"]
    return validate(IntModel(LayerTable(tuple(layers[n] for n in order), tuple(BITS)), tensors, ops, "input",
                             (C, H, W), p.classes, 8))


def random_bits(ir: IntModel, rng: np.random.Generator) -> dict[str, tuple[int, int]]:
    return ir.table.tie({l.name: (int(rng.choice(l.w_choices)), int(rng.choice(l.a_choices))) for l in ir.table})


def uniform_bits(ir: IntModel, b: int) -> dict[str, tuple[int, int]]:
    """Every layer at b where its choices allow, else at its last choice (ties applied)."""
    return dict(BitConfig.uniform_where_allowed(ir.table, b).bits)


def random_input(ir: IntModel, rng: np.random.Generator, n: int, mode: str = "random") -> np.ndarray:
    shape = (n,) + tuple(ir.input_shape)
    if mode == "zero":
        return np.zeros(shape, np.uint8)
    if mode == "max":
        return np.full(shape, 255, np.uint8)
    return rng.integers(0, 256, size=shape).astype(np.uint8)
