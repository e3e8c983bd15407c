"""The "madd" back-end: implicit-GEMM conv on byte multiply-adds (madd_tile.py), exact int32 out.

Layout. Activations are copied once into a zero padded NHWC byte buffer with channels padded to a
multiple of 4, so each output pixel's receptive field is kh*kw runs of whole 4-byte words: K position
4i..4i+3 of pixel m sits at byte rowbase[m] + koff[i]. No im2col panel is written; the tile reads each
word straight from the padded image. Weights are packed as (16-channel block, step i, channel, 4 bytes),
zero beyond the real channels and K. Groups run one after another on their channel slices.

Exactness is the planner's (conv_plan.madd_flush_steps); padding and alignment bytes are zeros and add
nothing.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from .buffers import zeroed_buffer
from .conv_plan import ConvPlan
from .im2col import _pad_nhwc, round_up
from .nhwc import PaddedNHWC, value_range_of
from .requant import INT32_MAX, rq_bounds
from .madd_tile import KSTEP, MR, NR, TILES_PER_TASK, conv_tiles, conv_tiles_rq, conv_tiles_rq_add

def pack_weights(w: np.ndarray, cp: int) -> np.ndarray:
    """w (O, C, kh, kw) as flat int8 (16-channel block, step, channel, 4): K in (ky, kx, c) order with c padded
    to cp, zeros beyond O and K."""
    O, C, kh, kw = w.shape
    nb, taps = -(-O // NR), kh * kw
    wk = np.zeros((nb * NR, taps, cp), np.int8)
    wk[:O, :, :C] = w.transpose(0, 2, 3, 1).reshape(O, taps, C)
    return np.ascontiguousarray(wk.reshape(nb, NR, taps * cp // KSTEP, KSTEP).transpose(0, 2, 1, 3)).reshape(-1)


_PACKED: dict = {}       # id(w) -> (w, cp, packed weights) of immutable weights (`packed_weights`)
_MAX_PACKED = 64


def packed_weights(w: np.ndarray, cp: int) -> np.ndarray:
    """pack_weights(w, cp), packed once for weights that cannot change under it: a read-only array owning its
    memory (e.g. the PE simulator's digit weights, split once per network); any other array is packed anew."""
    if w.flags.writeable or w.base is not None:
        return pack_weights(w, cp)
    hit = _PACKED.get(id(w))
    if hit is not None and hit[0] is w and hit[1] == cp:
        return hit[2]
    if len(_PACKED) >= _MAX_PACKED:
        _PACKED.clear()
    packed = pack_weights(w, cp)
    _PACKED[id(w)] = (w, cp, packed)       # holding w keeps its id from being reused while cached
    return packed


def reads_in_place(x, padding: int) -> bool:
    """Whether x is a PaddedNHWC that the madd conv reads as it is: bytes, channels a multiple of 4, a ring at
    least the conv's padding."""
    return isinstance(x, PaddedNHWC) and x.dtype == np.uint8 and x.shape[1] % KSTEP == 0 and x.pad >= padding


@lru_cache(maxsize=64)     # a network's few geometries, each rebuilt per layer per call otherwise (~0.2 ms)
def _offsets(shape, kh, kw, stride, d, Ho, Wo):
    """(rowbase, koff), read-only, of a conv reading the NHWC byte buffer of `shape` (N, Hp, Wp, cp) from d
    cells inside its padding ring (the buffer's padding minus the conv's)."""
    N, Hp, Wp, cp = shape
    koff = np.array([(ky * Wp + kx) * cp + KSTEP * q for ky in range(kh) for kx in range(kw)
                     for q in range(cp // KSTEP)], np.int64)
    rowbase = ((np.arange(N)[:, None, None] * Hp + np.arange(Ho)[None, :, None] * stride + d) * Wp
               + np.arange(Wo)[None, None, :] * stride + d).reshape(-1) * cp
    rowbase.flags.writeable = koff.flags.writeable = False
    return rowbase, koff


def _layout(x, w, stride, padding, g, Ho, Wo):
    """(padded NHWC bytes of group g's channels, flattened; rowbase; koff; packed weights of group g). x: NCHW
    codes, or a PaddedNHWC of bytes with channels a multiple of 4 and padding >= the conv's (read in place)."""
    O, Cg, kh, kw = w.shape
    og = O // (x.shape[1] // Cg)
    cp = round_up(Cg, KSTEP)
    if isinstance(x, PaddedNHWC):
        xp, d = x.buf, x.pad - padding
    elif (x.shape[2] == x.shape[3] == 1 and not padding and cp == Cg == x.shape[1] and x.dtype.itemsize == 1
          and x.flags.c_contiguous):      # a matmul of byte codes (>= 0, the plan's bound): already (N, K)
        xp, d = x.view(np.uint8).reshape(x.shape[0], 1, 1, cp), 0
    else:
        N, C, H, W = x.shape
        xp, d = zeroed_buffer((N, H + 2 * padding, W + 2 * padding, cp), np.uint8, (H, W, padding, Cg)), 0
        _pad_nhwc(np.ascontiguousarray(x[:, g * Cg:(g + 1) * Cg]), padding, 0, xp)   # _pad_nhwc: all but padding
    rowbase, koff = _offsets(tuple(xp.shape), kh, kw, stride, d, Ho, Wo)
    return xp.reshape(-1), rowbase, koff, packed_weights(w if og == O else w[g * og:(g + 1) * og], cp)


def conv_madd(x, w, stride, padding, groups, plan: ConvPlan, out) -> None:
    """Fill out (int32, (N, O, Ho, Wo)) with the exact conv of validated codes x (bytes 0..255) and w (-128..127),
    int16 sums flushed every plan.param steps (conv_plan.madd_flush_steps)."""
    N, O, Ho, Wo = out.shape
    og = O // groups
    for g in range(groups):
        xp, rowbase, koff, wpk = _layout(x, w, stride, padding, g, Ho, Wo)
        dst = out.reshape(N, O, Ho * Wo) if groups == 1 else np.empty((N, og, Ho * Wo), np.int32)
        conv_tiles(xp, rowbase, koff, wpk, plan.param, og, Ho * Wo, dst)
        if groups > 1:
            out[:, g * og:(g + 1) * og] = dst.reshape(N, og, Ho, Wo)


def rq_reach(plan: ConvPlan, p) -> int:
    """The largest |rq(acc + bias)| over the accumulators' bound |acc| <= K*max|x|*max|w|."""
    span = plan.bounds.k * plan.bounds.pmax
    y_lo, y_hi = rq_bounds(p.bias - span, p.bias + span, p.m0, p.shift, p.frac)
    return max(-y_lo, y_hi)


def tile_shifts(shift: np.ndarray, rq_int32: Callable[[], bool]) -> np.ndarray:
    """The shifts as the requantising tiles read them: int32 shift - 32 (their cheaper high-word form,
    madd_tile._requant_tile) where every shift >= 32 or every rq value is proven int32 (`rq_int32()`, asked
    only when some shift is below 32), else the int64 shifts."""
    return (shift - 32).astype(np.int32) if shift.size and (int(shift.min()) >= 32 or rq_int32()) else shift


def _rq_operands(x, w, stride, padding, p, O, Ho, Wo):
    """The layout (`_layout`), the per-task range arrays filled with the int32 extremes, rq's 2^(shift-1) + frac."""
    xp, rowbase, koff, wpk = _layout(x, w, stride, padding, 0, Ho, Wo)
    ntiles = -(-rowbase.shape[0] // MR)
    ntasks = -(-ntiles // TILES_PER_TASK)
    cmin = np.full((ntasks, O), np.iinfo(np.int32).max, np.int32)
    cmax = np.full((ntasks, O), np.iinfo(np.int32).min, np.int32)
    return xp, rowbase, koff, wpk, cmin, cmax, (np.int64(1) << (p.shift - 1)) + p.frac


def conv_madd_requant(x, w, stride, padding, plan: ConvPlan, p, lo: int, hi: int, out) -> tuple[np.ndarray, np.ndarray]:
    """Fill out ((N, O, Ho, Wo), uint8 or int32; or a PaddedNHWC of that shape, its interior) with
    clamp(rq(acc + bias), lo, hi) of the ungrouped madd conv, requantised tile by tile (`conv_tiles_rq`);
    returns the per-channel int64 (min, max) of acc + bias. x: as `_layout` takes it. The caller has checked
    `fused_requant_fits` (conv_requant.py) for the requant parameters p."""
    N, O, Ho, Wo = out.shape
    xp, rowbase, koff, wpk, cmin, cmax, add = _rq_operands(x, w, stride, padding, p, O, Ho, Wo)
    if isinstance(out, PaddedNHWC):       # pixel m's channels start at obase[m], inside the padding ring
        dst, obase = out.buf, _offsets(tuple(out.buf.shape), 1, 1, 1, out.pad, Ho, Wo)[0]
    else:
        dst, obase = out.reshape(N, O, Ho * Wo), np.zeros(0, np.int64)
    conv_tiles_rq(xp, rowbase, koff, wpk, plan.param, O, Ho * Wo, p.bias.astype(np.int32), p.m0.astype(np.int32),
                  add, p.shift, tile_shifts(p.shift, lambda: rq_reach(plan, p) <= INT32_MAX), lo, hi, dst, cmin, cmax,
                  obase)
    return cmin.min(axis=0).astype(np.int64), cmax.max(axis=0).astype(np.int64)


def sums_fit_int32(reach: int, sc: PaddedNHWC, sc_m0: int, sc_shift: int, frac_bits: int) -> bool:
    """Whether every sum y + v of the fused residual add, plus its rounding 2^(F-1), is provably an int32 value, so
    the tiles add, round and clamp in int32 lanes: |y| <= reach (`rq_reach`) and v the shortcut's values (rescaled
    codes: rq is monotone, so between the rescaled ends of the codes' range)."""
    v_lo, v_hi = value_range_of(sc)
    if sc.dtype == np.uint8:
        v_lo, v_hi = rq_bounds([v_lo], [v_hi], sc_m0, sc_shift)
    rounding = (1 << (frac_bits - 1)) if frac_bits else 0
    return reach + max(-v_lo, v_hi) + rounding <= INT32_MAX


def conv_madd_requant_add(x, w, stride, padding, plan: ConvPlan, p, sc: PaddedNHWC, sc_m0: int, sc_shift: int,
                          frac_bits: int, lo: int, hi: int, out: PaddedNHWC):
    """Fill out's interior with the residual add of the unclamped madd conv and the shortcut sc (out's geometry):
    clamp((rq(acc + bias) + v + 2^(F-1)) >> F, lo, hi), v = rq(sc; sc_m0, sc_shift) for byte codes, else sc's
    int32 values (`conv_tiles_rq_add`). Returns (per-channel min and max of acc + bias, min and max of the sums).
    The caller has checked `fused_requant_fits`, O % 16 == 0 and N*Ho*Wo % 4 == 0."""
    N, O, Ho, Wo = out.shape
    xp, rowbase, koff, wpk, cmin, cmax, add = _rq_operands(x, w, stride, padding, p, O, Ho, Wo)
    reach = rq_reach(plan, p)
    wide = np.int32 if sums_fit_int32(reach, sc, sc_m0, sc_shift, frac_bits) else np.int64
    smin = np.full(cmin.shape, np.iinfo(wide).max, wide)
    smax = np.full(cmin.shape, np.iinfo(wide).min, wide)
    obase = _offsets(tuple(out.buf.shape), 1, 1, 1, out.pad, Ho, Wo)[0]
    conv_tiles_rq_add(xp, rowbase, koff, wpk, plan.param, O, p.bias.astype(np.int32), p.m0.astype(np.int32), add,
                      tile_shifts(p.shift, lambda: reach <= INT32_MAX), obase, cmin, cmax, sc.buf, sc_m0, sc_shift,
                      frac_bits, lo, hi, out.buf, smin, smax)
    return (cmin.min(axis=0).astype(np.int64), cmax.max(axis=0).astype(np.int64)), (int(smin.min()), int(smax.max()))
