"""Run the integer-model IR on the numba kernels, for any config, on a batch of input codes.

The executor only orchestrates: it resolves the config's bit-widths, picks weights and requant entries,
calls hwsim.kernels and checks the accumulator width. Overflow of `acc + B` outside the signed acc_bits
range raises AccumulatorOverflow naming the layer and value (overflow="raise") or is recorded in
ExecResult.overflows (overflow="report"; values are computed wide, so they stay exact). A value that
int32 cannot hold (acc + B, an unclamped intermediate, a logit) always raises: it cannot be represented.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from . import kernels as K
from .errors import UserError
from .bits import BitConfig
from .ir import IntModel, IRError, Op

ConvImpl = Callable[..., np.ndarray]   # (x, w, stride, padding, groups, layer_name, w_bits, a_bits) -> acc
INT32 = (-(2**31), 2**31 - 1)


class AccumulatorOverflow(UserError):
    """acc + B (or an unclamped intermediate) left the accumulator's signed range."""


@dataclass(frozen=True)
class Overflow:
    layer: str
    value: int
    acc_bits: int


@dataclass
class ExecResult:
    logits: np.ndarray                                            # int32 (N, classes)
    codes: dict[str, np.ndarray] = field(default_factory=dict)    # tensor -> values, when traced
    acc_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)   # layer -> (min, max) of acc + B
    overflows: list[Overflow] = field(default_factory=list)


class _Run:
    def __init__(self, ir: IntModel, bits: dict, acc_bits: int, overflow: str, conv_impl: ConvImpl | None):
        self.ir, self.bits, self.acc_bits, self.overflow, self.conv_impl = ir, bits, acc_bits, overflow, conv_impl
        self.lim = (-(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1)
        self.result = ExecResult(np.zeros(0, np.int32))

    def check(self, layer: str, lo: int, hi: int, lim: tuple[int, int], width: int) -> None:
        for v in (lo, hi):
            if not lim[0] <= v <= lim[1]:
                if self.overflow == "raise" or not INT32[0] <= v <= INT32[1]:
                    raise AccumulatorOverflow(f"layer {layer!r}: value {v} does not fit a signed {width}-bit "
                                              f"accumulator [{lim[0]}, {lim[1]}]")
                self.result.overflows.append(Overflow(layer, int(v), width))

    def acc_plus_bias(self, layer: str, acc: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (min, max) of acc + B, checked against the accumulator width and recorded."""
        if acc.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        axes = (0,) + tuple(range(2, acc.ndim))
        lo = acc.min(axis=axes).astype(np.int64) + bias
        hi = acc.max(axis=axes).astype(np.int64) + bias
        rng = (int(lo.min()), int(hi.max()))
        self.result.acc_ranges[layer] = rng
        self.check(layer, *rng, self.lim, self.acc_bits)
        return lo, hi

    # -- ops
    def conv(self, op: Op, x: np.ndarray) -> np.ndarray:
        layer = op.attrs["layer"]
        w_bits, a_bits = self.bits[layer]
        w = op.weights[w_bits]
        s, p, g = op.attrs["stride"], op.attrs["padding"], op.attrs["groups"]
        if self.conv_impl is None:
            acc = K.conv2d_acc(x, w, s, p, g)
        else:
            acc = self.conv_impl(x, w, s, p, g, layer, w_bits, a_bits)
        key = self.ir.conv_key(op, self.bits)
        out_b = key[2]
        r = op.requant[key]
        lo, hi = self.acc_plus_bias(layer, acc, r.bias)
        clamp = op.attrs["clamp"]
        if not clamp:  # the unclamped result is an int32 tensor: bound it from the acc + B range
            self.check(f"{layer} (unclamped output)", *_rq_range(lo, hi, r.m0, r.shift, r.frac), INT32, 32)
        if r.frac.any():
            return _requantize_frac(acc, r, 0, 2**out_b - 1, clamp)
        return K.requantize(acc, r.bias, r.m0, r.shift, 0, 2**out_b - 1, clamp)

    def linear(self, op: Op, x: np.ndarray) -> np.ndarray:
        layer = op.attrs["layer"]
        w_bits, a_bits = self.bits[layer]
        acc = K.linear_acc(x, op.weights[w_bits])
        bias = op.bias[(w_bits, a_bits)]
        self.acc_plus_bias(layer, acc, bias)
        return (acc.astype(np.int64) + bias[None, :]).astype(np.int32)

    def rescale(self, op: Op, x: np.ndarray) -> np.ndarray:
        key = (self.ir.tensors[op.inputs[0]].resolve(self.bits), op.attrs["out_bits"].resolve(self.bits))
        r = op.requant[key]
        if x.size:
            lo, hi = np.array([int(x.min())]), np.array([int(x.max())])
            self.check(f"{op.name} (rescaled shortcut)", *_rq_range(lo, hi, r.m0, r.shift), INT32, 32)
        return K.rescale(x, int(r.m0[0]), int(r.shift[0]))

    def add(self, op: Op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        hi = 2 ** self.ir.tensors[op.output].resolve(self.bits) - 1
        f = op.attrs["frac_bits"]
        if f == 0:
            return K.add_clamp(a, b, 0, hi)
        if a.size:  # the sum is an int32 intermediate before the rounding shift
            self.check(f"{op.name} (sum)", int(a.min()) + int(b.min()), int(a.max()) + int(b.max()), INT32, 32)
        s = K.add_clamp(a, b, *INT32)
        # round half up of s / 2^f, then clamp: rq with M0 = 2^30, shift = f + 30 is exactly that
        return K.requantize(s, None, 2**30, f + 30, 0, hi, True)

    def maxpool(self, op: Op, x: np.ndarray) -> np.ndarray:
        return K.maxpool2d(x, op.attrs["kernel"], op.attrs["stride"], op.attrs["padding"])

    def avgpool(self, op: Op, x: np.ndarray) -> np.ndarray:
        r = op.requant[()]
        s = K.global_sum(x)
        self.check(op.name, int(s.min(initial=0)), int(s.max(initial=0)), self.lim, self.acc_bits)
        hi = 2 ** self.ir.tensors[op.output].resolve(self.bits) - 1
        y = K.requantize(s, r.bias.repeat(s.shape[1]), r.m0.repeat(s.shape[1]), r.shift.repeat(s.shape[1]), 0, hi, True)
        return y.reshape(s.shape[0], s.shape[1], 1, 1)

    def flatten(self, op: Op, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.reshape(x.shape[0], -1))


def _requantize_frac(acc: np.ndarray, r, lo: int, hi: int, clamp: bool) -> np.ndarray:
    """int32 ((acc + B) * M0 + 2^(shift-1) + frac) >> shift per channel (axis 1), in int64 numpy.

    hwsim.kernels.requantize has no frac term yet; this stays exact because the caller has checked that
    |acc + B| < 2^31, so |product| < 2^62 and the sum with 2^61 + 2^30 cannot leave int64."""
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    sh = r.shift.astype(np.int64).reshape(shape)
    x = acc.astype(np.int64) + r.bias.reshape(shape)
    y = (x * r.m0.astype(np.int64).reshape(shape) + (np.int64(1) << (sh - 1)) + r.frac.reshape(shape)) >> sh
    return (np.clip(y, lo, hi) if clamp else y).astype(np.int32)


def _rq_range(lo: np.ndarray, hi: np.ndarray, m0: np.ndarray, shift: np.ndarray, frac=None) -> tuple[int, int]:
    """Bounds of rq over per-channel input ranges [lo, hi] (rq is monotone in x for a fixed M0), Python ints."""
    vals = []
    fr = [0] * len(lo) if frac is None else frac.tolist()
    for l, h, m, s, f in zip(lo.tolist(), hi.tolist(), m0.tolist(), shift.tolist(), fr):
        vals += [(l * m + (1 << (s - 1)) + f) >> s, (h * m + (1 << (s - 1)) + f) >> s]
    return (min(vals), max(vals)) if vals else (0, 0)


def execute(ir: IntModel, config: BitConfig | Mapping[str, tuple[int, int]], x_codes: np.ndarray, acc_bits: int = 32,
            overflow: str = "raise", trace: bool = False, conv_impl: ConvImpl | None = None) -> ExecResult:
    """Logits (int32) of the IR at a config on input codes (N, C, H, W); see the module docstring.

    `config`: a BitConfig checked against the IR's layer table (trusted), or a plain mapping
    layer -> (w_bits, a_bits), checked here (IRError naming the layer and value)."""
    if overflow not in ("raise", "report"):
        raise IRError(f"overflow must be 'raise' or 'report', got {overflow!r}")
    if isinstance(acc_bits, bool) or not isinstance(acc_bits, (int, np.integer)) or not 2 <= acc_bits <= 32:
        raise IRError(f"acc_bits must be an integer in [2, 32], got {acc_bits!r}")
    bits = ir.config(config).bits
    ir.check_input(x_codes)
    run = _Run(ir, bits, int(acc_bits), overflow, conv_impl)
    env = {ir.input_name: np.ascontiguousarray(x_codes.astype(np.uint8, copy=False)) if ir.input_bits <= 8
           else x_codes.astype(np.int32)}
    for op in ir.ops:
        env[op.output] = getattr(run, op.kind)(op, *(env[t] for t in op.inputs))
    run.result.logits = env[ir.output_name].astype(np.int32, copy=False)
    if trace:
        run.result.codes = dict(env)
    return run.result
