"""PE arithmetic as exact convs over operand digits, shift-accumulated in the PE's order (numba).

An integer v of `bits` bits splits into n = ceil(bits/d) digits of d bits, low first:
  digit_j = (v >> d*j) & (2^d - 1) for j < n-1,   digit_{n-1} = v >> d*(n-1)  (arithmetic: keeps the sign)
so v = sum_j digit_j << d*j exactly, for signed two's complement and unsigned codes alike.
A PE kind's dot product is then  sum_{i,j} (X_i * W_j) << (da*i + dw*j): the activation planes
(Stripes), both operands' planes (Loom), 2x2-bit bricks (Bit Fusion) or one digit each (bit-parallel).
Every digit pair's product X_i * W_j is one exact conv of hwsim.kernels (small digit codes: the planner's
proven methods); the pairs are stacked into a single conv call.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels import conv2d_acc
from ..kernels.buffers import zeroed_buffer
from ..kernels.nhwc import PaddedNHWC


@njit(cache=True)
def _split_into(v, d, zero, out):
    """out[j, i] = digit j of v[i] (see the module docstring), computed in the type of v[i] + zero (int32 for
    codes of up to 16 bits, else int64), one contiguous pass per digit (vectorised)."""
    n = out.shape[0]
    mask = (1 << d) - 1
    for j in range(n - 1):
        o = out[j]
        sh = d * j
        for i in range(v.shape[0]):
            o[i] = ((v[i] + zero) >> sh) & mask
    o = out[n - 1]
    sh = d * (n - 1)
    for i in range(v.shape[0]):
        o[i] = (v[i] + zero) >> sh


def split_digits(v: np.ndarray, bits: int, d: int) -> np.ndarray:
    """(n, *v.shape) digits of v (codes that fit `bits` bits, signed or unsigned): int8 when a digit has
    <= 7 bits (the signed top digit included), else int16 for <= 15-bit codes, else int64."""
    v = np.ascontiguousarray(v)
    n = -(-bits // d)
    dtype = np.int8 if d <= 7 else np.int16 if bits <= 15 else np.int64
    out = np.empty((n,) + v.shape, dtype=dtype)
    if v.size:
        zero = np.int32(0) if v.dtype.itemsize <= 2 else np.int64(0)
        _split_into(v.reshape(-1), d, zero, out.reshape(n, -1))
    return out


@njit(cache=True)
def _range_or(v):
    """(min, max, bitwise OR) of the non-empty flat integer array v, as int64."""
    lo = np.int64(v[0])
    hi = lo
    bits = np.int64(0)
    for i in range(v.shape[0]):
        e = np.int64(v[i])
        lo = min(lo, e)
        hi = max(hi, e)
        bits |= e
    return lo, hi, bits


def code_stats(v: np.ndarray) -> tuple[int, int, int]:
    """(min, max, bitwise OR of every code) of v in one pass; (0, 0, 0) when empty."""
    if not v.size:
        return 0, 0, 0
    return tuple(int(e) for e in _range_or(np.ascontiguousarray(v).reshape(-1)))


def nonzero_digits(lo: int, hi: int, bits_or: int, bits: int, d: int) -> list[int]:
    """The digit positions j (module docstring) non-zero in some code of a tensor whose codes lie in [lo, hi]
    and OR to bits_or: a low digit masks the OR's bits d*j.. (masking and shifting commute with OR); the top
    digit, v >> d*(n-1), is monotone in v, so it is non-zero somewhere iff it is at lo or at hi."""
    n = -(-bits // d)
    top = d * (n - 1)
    low = [j for j in range(n - 1) if (bits_or >> (d * j)) & ((1 << d) - 1)]
    return low + ([n - 1] if (lo >> top) or (hi >> top) else [])


@njit(cache=True)
def _split_nhwc(x, shifts, masks, pad, out):
    """out[k*N + n, y + pad, x + pad, c] = (x[n, c, y, x] >> shifts[k]) & masks[k] (all bytes; c < C, the other
    channels of out written 0); returns the (min, max) of the digits written. Each image row is gathered
    into NHWC order once, then every digit is one contiguous run per row (vectorised)."""
    N, C, H, W = x.shape
    cp = out.shape[3]
    row = np.zeros(W * cp, np.uint8)
    lo = np.uint8(255)
    hi = np.uint8(0)
    for n in range(N):
        for y in range(H):
            for xx in range(W):
                for c in range(C):
                    row[xx * cp + c] = x[n, c, y, xx]
            for k in range(shifts.shape[0]):
                sh = shifts[k]
                m = masks[k]
                dst = out[k * N + n, y + pad].reshape(-1)[pad * cp:(pad + W) * cp]
                for i in range(W * cp):
                    v = np.uint8((row[i] >> sh) & m)
                    dst[i] = v
                    lo = min(lo, v)
                    hi = max(hi, v)
    return lo, hi


def digit_planes_nhwc(x: np.ndarray, keep: list[int], bits: int, d: int, pad: int, cp: int) -> PaddedNHWC:
    """The digits `keep` of the NCHW byte codes x (0..255), stacked along the batch (row k*N + n holds digit
    keep[k] of sample n) as the madd conv's input layout: a zero padded NHWC byte buffer with `pad` cells of
    ring and cp >= C channels (a kept per-thread buffer: the next call of the same shape overwrites it)."""
    N, C, H, W = x.shape
    n = -(-bits // d)
    # sized for every digit, so that layers keeping different digits share one kept buffer per geometry
    buf = zeroed_buffer((n * N, H + 2 * pad, W + 2 * pad, cp), np.uint8, ("pe digit planes", H, W, pad, C))
    buf = buf[:len(keep) * N]
    shifts = np.array([d * j for j in keep], np.uint8)
    masks = np.array([(1 << d) - 1 if j < n - 1 else 255 for j in keep], np.uint8)    # a byte's top digit: >> only
    rng = _split_nhwc(x.astype(np.uint8, copy=False), shifts, masks, pad, buf) if x.size else (0, 0)
    return PaddedNHWC(buf, pad, (int(rng[0]), int(rng[1])))


def stacked_weight_digits(wd: np.ndarray, groups: int) -> np.ndarray:
    """Weight digits wd (nw, O, C/g, kh, kw) stacked as output channels (g*nw*O/g, ...) so that each group
    keeps its own channel slice: channel (g*nw + j)*(O/g) + o holds wd[j, g*O/g + o]."""
    nw, o_all = wd.shape[:2]
    og = o_all // groups
    return wd.reshape(nw, groups, og, *wd.shape[2:]).swapaxes(0, 1).reshape(groups * nw * og, *wd.shape[2:])


def digit_products(xd: np.ndarray, wds: np.ndarray, stride: int, padding: int, groups: int) -> np.ndarray:
    """Every (activation digit i, weight digit j) conv in one exact conv call: xd (na, N, C, H, W) digits,
    wds from `stacked_weight_digits` -> (na*N, g*nw*O/g, Ho, Wo), row i*N + n, channel (g*nw + j)*(O/g) + o."""
    na, n = xd.shape[:2]
    return conv2d_acc(xd.reshape(na * n, *xd.shape[2:]), wds, stride, padding, groups)


def shift_accumulate(prods, n_samples, x_shifts, w_shifts, og, acc, wide):
    """`_shift_accumulate` in `wide` (np.int32 or np.int64), each compiled as its own entry (a type passed
    from Python would be typed anew on every call)."""
    kernel = _shift_accumulate32 if wide is np.int32 else _shift_accumulate64
    return kernel(prods, n_samples, x_shifts, w_shifts, og, acc)


@njit(inline="always")
def _shift_accumulate(prods, n_samples, x_shifts, w_shifts, og, acc, wide):
    """acc[n, o] = sum_{i,j} prods[i*N + n, (g*nw + j)*og + o'] << (x_shifts[i] + w_shifts[j]), summed in the
    order i, then j (the PE's order); prods (na*N, g*nw*og, P) from `digit_products`, acc (N, g*og, P), written.
    `wide`: the integer type of the sums, np.int64, or np.int32 where the bounds (bounds.py) prove that every
    product, shifted term and running sum fits it (twice the lanes per vector, native min / max on AVX2).

    Returns (min, max) of every digit-pair product and of every running sum (int64): the caller compares
    them with the design's widths and counts overflows only when a range exceeds one (`count_outside`).
    The innermost loop runs along contiguous output pixels with the ranges as reductions, so it vectorises."""
    o_all = acc.shape[1]
    npix = acc.shape[2]
    na, nw = x_shifts.shape[0], w_shifts.shape[0]
    p_lo = wide(0)
    p_hi = wide(0)
    s_lo = wide(0)
    s_hi = wide(0)
    for n in range(n_samples):
        for o in range(o_all):
            g = o // og
            oo = o - g * og
            a = acc[n, o]
            for q in range(npix):
                a[q] = 0
            for i in range(na):
                for j in range(nw):
                    src = prods[i * n_samples + n, (g * nw + j) * og + oo]
                    sh = wide(x_shifts[i] + w_shifts[j])
                    for q in range(npix):
                        p = wide(src[q])
                        s = wide(a[q] + wide(p << sh))
                        a[q] = s
                        p_lo = min(p_lo, p)
                        p_hi = max(p_hi, p)
                        s_lo = min(s_lo, s)
                        s_hi = max(s_hi, s)
    return np.int64(p_lo), np.int64(p_hi), np.int64(s_lo), np.int64(s_hi)


@njit(cache=True)
def _shift_accumulate32(prods, n_samples, x_shifts, w_shifts, og, acc):
    return _shift_accumulate(prods, n_samples, x_shifts, w_shifts, og, acc, np.int32)


@njit(cache=True)
def _shift_accumulate64(prods, n_samples, x_shifts, w_shifts, og, acc):
    return _shift_accumulate(prods, n_samples, x_shifts, w_shifts, og, acc, np.int64)


def count_outside(prods, n_samples, x_keep, w_keep, na, nw, da, dw, og, groups, psum_bits,
                  acc_bits) -> tuple[int, int]:
    """(digit-pair products outside a signed `psum_bits` adder, running sums outside a signed `acc_bits`
    accumulator) over every step (i, j) of the PE's order, i < na, j < nw: prods holds the pairs of the kept
    digits x_keep x w_keep (`shift_accumulate`'s layout); any other pair's product is 0, its step repeats
    the running sum, counted again. Recomputed here; runs only where a range says some value is outside."""
    p = prods.reshape(len(x_keep), n_samples, groups, len(w_keep), og, prods.shape[-1])
    p_lim, a_lim = 1 << (psum_bits - 1), 1 << (acc_bits - 1)
    s = np.zeros((n_samples, groups, og, prods.shape[-1]), np.int64)
    n_p = n_a = 0
    for i in range(na):
        for j in range(nw):
            if i in x_keep and j in w_keep:
                pij = p[x_keep.index(i), :, :, w_keep.index(j)].astype(np.int64)
                s += pij << (da * i + dw * j)
                n_p += int(np.count_nonzero((pij >= p_lim) | (pij < -p_lim)))
            n_a += int(np.count_nonzero((s >= a_lim) | (s < -a_lim)))
    return n_p, n_a
