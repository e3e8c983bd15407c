"""A conv and its requantisation in one call: clamp(rq(conv(x, w) + bias), lo, hi) per output channel.

Where the planner runs the madd conv and can prove the fused store exact, each tile's int32 sums are
requantised in the tile loop (madd_tile.conv_tiles_rq) and the layer's int32 accumulators are never
written or read back; otherwise the conv's accumulators go through `requantize_ranged`. Both give the
same integers (requant.py's contract: round half up, clamp only where asked) and the same ranges.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._check import KernelInputError, int_scalar
from .conv import conv2d_acc, planned_conv
from .conv_madd import conv_madd_requant, conv_madd_requant_add, reads_in_place
from .add import with_sum_range
from .madd_tile import KSTEP, MR, NR
from .nhwc import PaddedNHWC, as_nchw, new_padded
from .conv_plan import INT32_MAX, ConvPlan
from .requant import INT32_MIN, RequantParams, byte_or_int32, requant_limits, requantize_ranged, rq


def fused_requant_fits(plan: ConvPlan, groups: int, p: RequantParams) -> bool:
    """Whether the fused store is exact: an ungrouped madd conv (whose accumulators hold |acc| <= K*max|x|*max|w|)
    with K*max|x|*max|w| + |bias| <= 2^31 - 1 on every channel, so acc + bias and M0 (|M0| < 2^31) are int32
    values and rq's 32x32 -> 64-bit product plus 2^(shift-1) + frac (< 2^62 + 2^61 + 2^30) cannot wrap int64."""
    if plan.method != "madd" or groups != 1 or p.bias.size == 0:
        return False
    b = plan.bounds
    return b.k * b.pmax + max(-int(p.bias.min()), int(p.bias.max())) <= INT32_MAX


def _codes_range(p, ch_lo, ch_hi, c_lo, c_hi, clamp):
    """The exact (min, max) of clamp(rq(v)) over a tensor whose channels' acc + bias extremes are ch_lo, ch_hi
    (rq is monotone in v and each extreme is a value the channel holds; |v * M0| < 2^62 by the fused proof: int64
    is exact); an unclamped result outside int32 raises."""
    ys = np.stack([rq(e, p.m0, p.shift, p.frac) for e in (ch_lo, ch_hi)])
    if not clamp:
        bad = np.flatnonzero(((ys < INT32_MIN) | (ys > INT32_MAX)).any(axis=0))
        if bad.size:
            c = int(bad[0])
            v = int(ys[0, c]) if not INT32_MIN <= ys[0, c] <= INT32_MAX else int(ys[1, c])
            raise KernelInputError(f"requantize: unclamped result {v} at channel {c} does not fit int32")
    return min(max(int(ys.min()), c_lo), c_hi), min(max(int(ys.max()), c_lo), c_hi)


def conv2d_requant(x, w: np.ndarray, stride: int, padding: int, groups: int, p: RequantParams,
                   lo: int, hi: int, clamp: bool, on_range=None, narrow: bool = False,
                   out_pad: int | None = None) -> tuple[np.ndarray | PaddedNHWC, np.ndarray, np.ndarray]:
    """The same as `requantize_ranged(conv2d_acc(x, w, stride, padding, groups), p, lo, hi, clamp, on_range,
    narrow)`: (codes, per-channel int64 min and max of acc + bias), fused where `fused_requant_fits`.
    x: NCHW codes or a PaddedNHWC (read in place where the fused conv can, else converted). `out_pad`: where
    the conv is fused and its output channels are a multiple of 4, the codes come back as a PaddedNHWC with
    that padding (the next conv's input layout); otherwise, and when None, as an NCHW array."""
    x, w, shape, plan = planned_conv(x, w, stride, padding, groups, "auto", "conv2d_requant")
    lo, hi = requant_limits(p, shape[1], lo, hi, clamp)
    if not (fused_requant_fits(plan, groups, p) and np.prod(shape) and plan.bounds.k):
        acc = conv2d_acc(as_nchw(x), w, stride, padding, groups, scratch=True)
        return requantize_ranged(acc, p, lo, hi, clamp, on_range, narrow)
    if isinstance(x, PaddedNHWC) and not reads_in_place(x, padding):
        x = x.nchw()
    c_lo, c_hi = (lo, hi) if clamp else (INT32_MIN, INT32_MAX)
    dtype = byte_or_int32(narrow and clamp, lo, hi)
    if out_pad is not None and shape[1] % KSTEP == 0:
        out = new_padded(shape, out_pad, dtype)
    else:
        out = np.empty(shape, dtype)
    ch_lo, ch_hi = conv_madd_requant(x, w, stride, padding, plan, p, c_lo, c_hi, out)
    if on_range is not None:
        on_range(ch_lo, ch_hi)
    rng = _codes_range(p, ch_lo, ch_hi, c_lo, c_hi, clamp)
    return (replace(out, value_range=rng) if isinstance(out, PaddedNHWC) else out), ch_lo, ch_hi


def conv2d_requant_add(x, w: np.ndarray, stride: int, padding: int, p: RequantParams, sc, sc_m0: int | None,
                       sc_shift: int, frac_bits: int, lo: int, hi: int, on_range=None, narrow: bool = False):
    """The residual add `add_round_clamp(conv2d_requant(x, w, stride, padding, 1, p, ..., clamp=False), v,
    frac_bits, lo, hi, narrow)` with v = rescale(sc, sc_m0, sc_shift) (sc: byte codes) or v = sc (int32, sc_m0
    None), in the conv's tiles: neither the conv's int32 output nor v is stored. Returns (result, (min, max) of
    the sums), on_range called with the conv's per-channel ranges of acc + bias as conv2d_requant does; None
    where it does not apply (the caller then runs the two apart): x and sc must be PaddedNHWC (sc in the output's
    geometry), the conv madd with `fused_requant_fits`, O % 16 == 0, N*Ho*Wo % 4 == 0."""
    if not (isinstance(sc, PaddedNHWC) and reads_in_place(x, padding)):
        return None
    if not ((sc.dtype == np.uint8 and sc_m0 is not None) or (sc.dtype == np.int32 and sc_m0 is None)):
        return None
    x, w, shape, plan = planned_conv(x, w, stride, padding, 1, "auto", "conv2d_requant_add")
    N, O, Ho, Wo = shape
    if sc.shape != shape or O % NR or (N * Ho * Wo) % MR or not (fused_requant_fits(plan, 1, p) and plan.bounds.k):
        return None
    requant_limits(p, O, INT32_MIN, INT32_MAX, False)
    f = int_scalar("frac_bits", frac_bits, 0, 24)
    lo = int_scalar("lo", lo, INT32_MIN, INT32_MAX)
    hi = int_scalar("hi", hi, lo, INT32_MAX)
    m0 = int_scalar("sc_m0", sc_m0, -(2**31 - 1), 2**31 - 1) if sc_m0 is not None else 0
    sh = int_scalar("sc_shift", sc_shift, 1, 62) if sc_m0 is not None else 1
    out = new_padded(shape, sc.pad, byte_or_int32(narrow, lo, hi))
    (ch_lo, ch_hi), (smin, smax) = conv_madd_requant_add(x, w, stride, padding, plan, p, sc, m0, sh, f, lo, hi, out)
    if on_range is not None:
        on_range(ch_lo, ch_hi)
    _codes_range(p, ch_lo, ch_hi, INT32_MIN, INT32_MAX, False)
    return with_sum_range(out, smin, smax, f, lo, hi), (smin, smax)
