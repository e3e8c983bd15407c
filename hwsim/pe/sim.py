"""The PE-faithful functional simulator: a layer's conv computed through its PE kind's decomposition,
with the design's partial-sum and accumulator widths checked and the array cycles counted.

`PESimulator(hw).conv_impl` plugs into `hwsim.executor.execute(..., conv_impl=...)`.
Cycle counting walks the activation data the array actually receives: every step feeds one block of
the im2col matrix (its extent along m and k is the array organisation's step plan), and a design with
zero-plane skipping spends on that step only the activation digit-planes that are non-zero somewhere
in the block.

Every digit pair's product is computed (exact statistics). `PESimulator(hw, exact_stats=False)` takes a
shortcut where the operands' actual code ranges prove (bounds.py) that no partial sum or running sum can
leave the design's widths: the layer is then the direct conv (the decomposition is linear, so the sums are
the same) with no overflow, exactly; but max_psum / max_acc are then the proven bounds, not the largest
values reached (LayerCount.stats_exact says which). Cycles are counted the same way either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import UserError
from ..hwconfig import HwConfig
from ..dataflow.layers import LayerShape
from ..dataflow.mapping import ceil_div
from ..dataflow.organisations import get_organisation
from ..kernels import conv2d_acc
from . import get_pe_kind
from .bounds import PEBounds, pe_bounds
from .cycles import padded_nhwc, skipped_block_steps
from .digits import (code_stats, count_outside, digit_planes_nhwc, digit_products,
                     nonzero_digits, shift_accumulate, split_digits, stacked_weight_digits)

_CHUNK_ELEMS = 1 << 23     # bound on the stacked digit products held at once (elements)
_INT32_MAX = 2**31 - 1


class PEOverflow(UserError):
    """A partial sum or accumulator exceeded the width the hardware config gives it."""


@dataclass
class LayerCount:
    samples: int = 0
    cycles: int = 0               # counted, with the config's data-dependent savings
    cycles_no_skip: int = 0       # counted with every digit-plane processed
    psum_overflows: int = 0
    acc_overflows: int = 0
    max_psum: int = 0
    max_acc: int = 0
    stats_exact: bool = True      # False: max_psum / max_acc are upper bounds (PESimulator(exact_stats=False))


@dataclass
class PESimulator:
    hw: HwConfig
    skipping: bool | None = None           # None: the config's zero_plane_skipping
    overflow: str = "report"               # "report" counts; "raise" raises PEOverflow
    exact_stats: bool = True               # False: the proven shortcut where it applies (module docstring)
    counts: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.overflow not in ("report", "raise"):
            raise UserError(f"overflow must be 'report' or 'raise', got {self.overflow!r}")
        self.kind = get_pe_kind(self.hw.pe.kind)
        self.org = get_organisation(self.hw.array.organisation)
        if self.skipping is None:
            self.skipping = self.hw.pe.zero_plane_skipping
        if self.skipping and not self.kind.supports_skipping:
            raise UserError(f"PE kind {self.kind.name!r} has no zero-plane skipping")

    def conv_impl(self, x, w, stride, padding, groups, layer_name, w_bits, a_bits):
        """(x (N,C,H,W) codes, w (O,C/g,kh,kw) codes, ...) -> exact accumulators (N, O, Ho, Wo): int32 where the
        bounds prove that every running sum fits it, else int64."""
        pe = self.hw.pe
        self.kind.check_bits(pe, int(w_bits), int(a_bits))
        N, C, H, W = x.shape
        O, Cg, kh, kw = w.shape
        da, dw = self.kind.digits(pe, w_bits, a_bits)
        rec = self.counts.setdefault(layer_name, LayerCount())
        x_stats = code_stats(x)
        wdig = weight_digits(w, w_bits, dw, groups)
        b = pe_bounds(x_stats[:2], wdig.code_range, Cg * kh * kw, a_bits, w_bits, da, dw)
        if not self.exact_stats and b.psum < 1 << (pe.partial_sum_bits - 1) and b.acc < 1 << (pe.accumulator_bits - 1):
            out = conv2d_acc(x, w, stride, padding, groups)
            rec.max_psum, rec.max_acc, rec.stats_exact = max(rec.max_psum, b.psum), max(rec.max_acc, b.acc), False
        else:
            out = self._digit_convs(x, x_stats, wdig, w.shape, stride, padding, groups, a_bits, da, dw, b, rec)
            if self.overflow == "raise" and (rec.psum_overflows or rec.acc_overflows):
                raise PEOverflow(f"layer {layer_name!r} on {self.hw.name}: {rec.psum_overflows} partial sums exceed "
                                 f"{pe.partial_sum_bits} bits (largest |psum| {rec.max_psum}), {rec.acc_overflows} "
                                 f"running sums exceed the {pe.accumulator_bits}-bit accumulator (largest "
                                 f"{rec.max_acc})")
        shape = LayerShape(layer_name, "conv", C, O, kh, kw, stride, padding, groups, H, W, "acc")
        c, c0 = self.count_cycles(x, shape, w_bits, a_bits)
        rec.cycles += c
        rec.cycles_no_skip += c0
        rec.samples += N
        return out

    def _digit_convs(self, x, x_stats, wdig: WeightDigits, w_shape, stride, padding, groups, a_bits, da, dw,
                     b: PEBounds, rec):
        """The layer through every digit pair's conv, shift-accumulated in the PE's order; ranges and overflow
        counts into rec. A digit that is 0 in every code of the layer makes all its pairs' products 0:
        their convs are skipped (their steps add nothing and repeat a running sum, which count_outside counts
        again). Ungrouped layers of byte codes get their kept activation digits written straight into
        the madd conv's padded NHWC input; others go through NCHW digit arrays. Samples go in chunks that bound
        the stacked products held at once."""
        N, C, H, W = x.shape
        O, _, kh, kw = w_shape
        Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
        acc_type = np.int32 if b.acc <= _INT32_MAX else np.int64     # b.acc bounds every product and sum
        lo, hi, bits_or = x_stats
        x_keep, w_keep, wds = nonzero_digits(lo, hi, bits_or, a_bits, da), wdig.keep, wdig.stacked
        if not (x_keep and w_keep and N * O * Ho * Wo):
            return np.zeros((N, O, Ho, Wo), acc_type)                  # every product 0: nothing to check
        out = np.empty((N, O, Ho, Wo), acc_type)                        # shift_accumulate writes every value
        na, nw = -(-a_bits // da), wdig.n_digits
        planes = groups == 1 and 0 <= lo and hi <= 255              # byte codes: every digit a byte
        if planes:
            wds = wdig.stacked_c4                                       # madd reads channels in runs of 4
            cp = wds.shape[1]
        else:
            xd = split_digits(x, a_bits, da)[x_keep]                    # (kept, N, C, H, W)
        x_sh, w_sh = np.array(x_keep, np.int64) * da, np.array(w_keep, np.int64) * dw
        og = O // groups
        step = max(1, _CHUNK_ELEMS // (len(x_keep) * len(w_keep) * O * Ho * Wo))     # samples per chunk
        p_top, a_top = 1 << (self.hw.pe.partial_sum_bits - 1), 1 << (self.hw.pe.accumulator_bits - 1)
        for n0 in range(0, N, step):
            n1 = min(N, n0 + step)
            if planes:
                prods = conv2d_acc(digit_planes_nhwc(x[n0:n1], x_keep, a_bits, da, padding, cp), wds, stride,
                                   padding, 1)
            else:
                prods = digit_products(xd[:, n0:n1], wds, stride, padding, groups)
            prods = prods.reshape(prods.shape[0], prods.shape[1], Ho * Wo)
            p_lo, p_hi, s_lo, s_hi = (int(v) for v in shift_accumulate(prods, n1 - n0, x_sh, w_sh, og,
                                                                       out[n0:n1].reshape(n1 - n0, O, Ho * Wo), acc_type))
            rec.max_psum = max(rec.max_psum, p_hi, -p_lo)
            rec.max_acc = max(rec.max_acc, s_hi, -s_lo)
            if not (-p_top <= p_lo and p_hi < p_top and -a_top <= s_lo and s_hi < a_top):   # else none outside
                n_p, n_a = count_outside(prods, n1 - n0, x_keep, w_keep, na, nw, da, dw, og, groups,
                                         self.hw.pe.partial_sum_bits, self.hw.pe.accumulator_bits)
                rec.psum_overflows += n_p
                rec.acc_overflows += n_a
        return out

    def count_cycles(self, x: np.ndarray, shape: LayerShape, w_bits: int, a_bits: int) -> tuple[int, int]:
        """Cycles of all samples and groups of a layer (x: (N, C, H, W) codes of `shape`): (with savings,
        without). The organisation's step plan says which block of each sample's im2col matrix a step feeds;
        without skipping only the number of blocks matters, so the data is walked only with it."""
        pe, array = self.hw.pe, self.hw.array
        lanes, step = self.kind.lanes(pe, w_bits, a_bits), self.kind.steps(pe, w_bits, a_bits)
        plan = self.org.step_plan(shape, array, lanes)
        runs = x.shape[0] * shape.groups                         # (sample, group) GEMMs
        if plan is None:
            if self.skipping:
                raise UserError(f"{self.hw.name}: organisation {self.org.name!r} does not say which data a step "
                                f"feeds, so zero-plane skipping cannot be counted on it")
            c = runs * int(self.org.group_cycles(shape, array, lanes, step))
            return c, c
        segment = shape.in_ch // shape.groups * shape.kh * shape.kw // plan.segments
        blocks = plan.segments * ceil_div(shape.out_h * shape.out_w, plan.bm) * ceil_div(segment, plan.bk)
        fill = runs * plan.overhead_steps * step
        no_skip = fill + plan.reps * runs * blocks * step
        if not self.skipping or not blocks:
            return no_skip, no_skip
        da, _ = self.kind.digits(pe, w_bits, a_bits)
        nd = ceil_div(a_bits, da)
        table = np.array([self.kind.skipped_steps(pe, w_bits, a_bits, z) for z in range(nd + 1)], np.int64)
        saved = skipped_block_steps(padded_nhwc(x, shape.padding), shape.groups, shape.kh, shape.kw, shape.stride,
                                    shape.out_h, shape.out_w, plan.segments, plan.bm, plan.bk, da, nd, table)
        return fill + plan.reps * int(saved), no_skip


@dataclass(frozen=True)
class WeightDigits:
    code_range: tuple[int, int]
    n_digits: int
    keep: list[int]           # the digit positions non-zero in some weight code
    stacked: np.ndarray       # those digits as one conv's weights (`stacked_weight_digits`)

    @cached_property
    def stacked_c4(self) -> np.ndarray:
        """`stacked` with input channels zero-padded to a multiple of 4 (madd's channel runs; zero channels add
        nothing). Made on first use, once per network: only ungrouped layers of byte codes read it."""
        K, C, kh, kw = self.stacked.shape
        if C % 4 == 0:
            return self.stacked
        padded = np.concatenate([self.stacked, np.zeros((K, -C % 4, kh, kw), self.stacked.dtype)], axis=1)
        padded.flags.writeable = False       # shared like `stacked`
        return padded


_WEIGHT_DIGITS: dict = {}     # id(w) -> (a copy of w, (w_bits, dw, groups), WeightDigits)
_MAX_WEIGHTS = 256


def weight_digits(w: np.ndarray, w_bits: int, dw: int, groups: int) -> WeightDigits:
    """The digits of a layer's weight codes w, derived once per network rather than once per call: a later call
    with equal codes (compared in full, so an array changed in place is split again) takes them back."""
    key = (int(w_bits), int(dw), int(groups))
    hit = _WEIGHT_DIGITS.get(id(w))
    if hit is not None and hit[1] == key and hit[0].dtype == w.dtype and np.array_equal(hit[0], w):
        return hit[2]
    wd = split_digits(w, w_bits, dw)                                    # (nw, O, C/g, kh, kw)
    keep = [j for j in range(len(wd)) if wd[j].any()]
    stacked = stacked_weight_digits(wd[keep], groups).copy()
    stacked.flags.writeable = False          # shared by every later call; read-only and owning: packed once
    out = WeightDigits(code_stats(w)[:2], len(wd), keep, stacked)
    if len(_WEIGHT_DIGITS) >= _MAX_WEIGHTS:
        _WEIGHT_DIGITS.clear()
    _WEIGHT_DIGITS[id(w)] = (w.copy(), key, out)
    return out
