"""Run the integer-model IR on the numba kernels, for any config, on a batch of input codes.

The executor only orchestrates: each op runs by its kind (hwsim/ops/), which picks weights and requant
entries for the checked config and calls hwsim.kernels; the run context here checks the accumulator
width. Overflow of `acc + B` outside the signed acc_bits range raises AccumulatorOverflow naming the layer and value (overflow="raise") or is recorded in
ExecResult.overflows (overflow="report"; values are computed wide, so they stay exact). A value that
int32 cannot hold (acc + B, an unclamped intermediate, a logit) always raises: it cannot be represented.

An untraced run without conv_impl takes the fast path: tensors between convs and residual adds stay zero
padded NHWC buffers (kernels.PaddedNHWC, recycled after their last reader), a shortcut's rescale and an
unclamped conv whose only reader is an add are deferred to that add (which runs them in one kernel), and the
same checks run in the same order. A traced run stores every tensor as an NCHW array.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from . import kernels as K
from .bits import BitConfig
from .errors import UserError
from .ir import IntModel, IRError
from .ops import op_kind
from .ops.prepared import prepared
from .kernels.buffers import release_buffer
from .ops.conv import fusable
from .ops.rescale import deferrable

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
    seconds: dict[str, float] = field(default_factory=dict)   # part -> wall seconds, when timed (execute(timed=True))


class _Run:
    """One execution's context: the checked config and the width checks every op kind's execute shares."""
    INT32 = INT32

    def __init__(self, ir: IntModel, bits: dict, acc_bits: int, overflow: str, conv_impl: ConvImpl | None,
                 timed: bool = False, deferred: frozenset = frozenset(), pad: int | None = None):
        self.ir, self.bits, self.acc_bits, self.overflow, self.conv_impl = ir, bits, acc_bits, overflow, conv_impl
        self.deferred = deferred      # rescale ops that their add applies (ops/rescale.py: DeferredRescale)
        self.pad = pad                # convs write PaddedNHWC outputs with this padding where they can; None: NCHW
        self.lim = (-(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1)
        self.result = ExecResult(np.zeros(0, np.int32))
        self.timed = timed

    @contextmanager
    def part(self, name: str):
        """Adds the wall time of the block to result.seconds[name] when the run is timed (off by default)."""
        if not self.timed:
            yield
            return
        t0 = time.perf_counter()
        try:
            yield
        finally:
            sec = self.result.seconds
            sec[name] = sec.get(name, 0.0) + time.perf_counter() - t0

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
        self.check_acc_range(layer, lo, hi)
        return lo, hi

    def check_acc_range(self, layer: str, lo: np.ndarray, hi: np.ndarray) -> None:
        """Records and checks the range of acc + B from its per-channel (min, max)."""
        rng = (int(lo.min()), int(hi.max()))
        self.result.acc_ranges[layer] = rng
        self.check(layer, *rng, self.lim, self.acc_bits)

    def requant(self, layer: str, acc: np.ndarray, r, out_bits: int, clamp: bool) -> np.ndarray:
        """rq(acc + B) of a conv (uint8 codes when clamped to at most 8 bits, else int32), its acc + B range
        checked; an unclamped result is checked against int32. The range comes out of the requant pass itself
        (no separate scan of acc)."""
        return K.requantize_ranged(acc, prepared(r), 0, 2**out_bits - 1, clamp, self.requant_checks(layer, r, clamp),
                                   narrow=True)[0]

    def requant_checks(self, layer: str, r, clamp: bool):
        """The on_range callback of a requant pass (kernels.requantize_ranged, conv2d_requant): records and
        checks the per-channel range of acc + B and bounds an unclamped result by int32."""
        def checked(lo, hi):
            if lo.size == 0:
                return
            self.check_acc_range(layer, lo, hi)
            if not clamp:  # the unclamped result is an int32 tensor: bound it from the acc + B range
                p = prepared(r)
                self.check(f"{layer} (unclamped output)", *K.rq_bounds(lo, hi, p.m0, p.shift, p.frac), INT32, 32)
        return checked

    def check_rescaled(self, name: str, lo: int, hi: int, r) -> None:
        """A rescaled shortcut is an int32 intermediate: bound it from the codes' range [lo, hi]."""
        self.check(f"{name} (rescaled shortcut)", *K.rq_bounds([lo], [hi], r.m0, r.shift), INT32, 32)


def execute(ir: IntModel, config: BitConfig | Mapping[str, tuple[int, int]], x_codes: np.ndarray, acc_bits: int = 32,
            overflow: str = "raise", trace: bool = False, conv_impl: ConvImpl | None = None,
            timed: bool = False) -> ExecResult:
    """Logits (int32) of the IR at a config on input codes (N, C, H, W); see the module docstring.

    `config`: a BitConfig checked against the IR's layer table (trusted), or a plain mapping
    layer -> (w_bits, a_bits), checked here (IRError naming the layer and value). `timed`: record wall
    seconds per op kind (and the conv kernel and its requantisation apart) in ExecResult.seconds; a conv
    deferred to its residual add is timed with the add."""
    if overflow not in ("raise", "report"):
        raise IRError(f"overflow must be 'raise' or 'report', got {overflow!r}")
    if isinstance(acc_bits, bool) or not isinstance(acc_bits, (int, np.integer)) or not 2 <= acc_bits <= 32:
        raise IRError(f"acc_bits must be an integer in [2, 32], got {acc_bits!r}")
    bits = ir.config(config).bits
    ir.check_input(x_codes)
    direct = not trace and conv_impl is None     # the fast path: deferred rescales, tensors kept as PaddedNHWC
    deferred = frozenset(deferrable(ir)) if direct else frozenset()
    deferred |= fusable(ir, deferred) if direct else frozenset()
    run = _Run(ir, bits, int(acc_bits), overflow, conv_impl, timed, deferred, nhwc_padding(ir) if direct else None)
    env = {ir.input_name: np.ascontiguousarray(x_codes.astype(np.uint8, copy=False)) if ir.input_bits <= 8
           else x_codes.astype(np.int32)}
    done_after = _last_reads(ir, deferred) if direct else {}
    for i, op in enumerate(ir.ops):
        ins = [env[t] for t in op.inputs]
        if op.kind not in NHWC_READERS:
            ins = [K.as_nchw(v) for v in ins]
        with run.part(op.kind):
            env[op.output] = op_kind(op.kind).execute(run, op, *ins)
        for t in done_after.get(i, ()):
            v = env.pop(t)
            if isinstance(v, K.PaddedNHWC):
                release_buffer(v.buf, v.pad)
    run.result.logits = K.as_nchw(env[ir.output_name]).astype(np.int32, copy=False)
    if trace:
        run.result.codes = dict(env)
    return run.result


NHWC_READERS = frozenset({"conv", "add", "rescale"})   # op kinds that take PaddedNHWC inputs (others get NCHW)


def nhwc_padding(ir: IntModel) -> int:
    """The padding of every PaddedNHWC tensor of a run: the widest any conv reads with (one geometry for all,
    so that elementwise ops meet equal layouts)."""
    return max((int(op.attrs["padding"]) for op in ir.ops if op.kind == "conv"), default=0)


def _last_reads(ir: IntModel, deferred) -> dict[int, list[str]]:
    """Op index -> the tensors nothing reads after it (never the IR's output); a deferred rescale's codes
    live until its add has read them."""
    last = {}
    for i, op in enumerate(ir.ops):
        for t in op.inputs:
            last[t] = i
    for op in ir.ops:
        if op.name in deferred and op.output in last:
            last[op.inputs[0]] = max(last[op.inputs[0]], last[op.output])
    out: dict[int, list[str]] = {}
    for t, i in last.items():
        if t != ir.output_name:
            out.setdefault(i, []).append(t)
    return out
