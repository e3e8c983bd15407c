"""The residual add: out = clamp((a + b + 2^(F-1)) >> F, lo, hi), the sum exact in int64, rounded half up
once (F = 0: plain clamp(a + b)); one pass that also reports the sum's range for the caller's int32 check."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar, value_range
from .nhwc import PaddedNHWC, as_nchw, new_padded, storage
from .requant import _rq, byte_or_int32

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FRAC_BITS_MAX = 62
SUM_LO, SUM_HI = -(2**62), 2**62 - 1    # a, b in [-2^62, 2^62 - 1]: a + b fits int64


@njit(inline="always")
def _round_clamp(s, f, lo, hi):
    """clamp((s + 2^(f-1)) >> f, lo, hi) of an int64 sum s (f = 0: clamp(s)): round half up."""
    y = (s + ((np.int64(1) << (f - 1)) if f > 0 else np.int64(0))) >> f
    return lo if y < lo else (hi if y > hi else y)


@njit(parallel=True, cache=True)
def _add_round_clamp(a, b, win, f, lo, hi, out, rng):
    """out[r, y, i] = clamp((a + b + 2^(f-1)) >> f, lo, hi) (f = 0: clamp(a + b)) over the window win =
    (y0, Y, i0, S) of rows y0..y0+Y-1, columns i0..i0+S-1 (a, b, out: C-contiguous (R, rows, columns)), the
    sum in int64 (the caller keeps a, b in [-2^62, 2^62 - 1], so it cannot wrap); rng[r] = (min, max) of
    a + b over image r's window."""
    y0, Y, i0, S = win
    for r in prange(a.shape[0]):
        smin = np.int64(9223372036854775807)
        smax = np.int64(-9223372036854775807 - 1)
        for y in range(y0, y0 + Y):
            ar, br, orow = a[r, y, i0:i0 + S], b[r, y, i0:i0 + S], out[r, y, i0:i0 + S]
            for i in range(S):
                s = np.int64(ar[i]) + np.int64(br[i])
                smin = min(smin, s)
                smax = max(smax, s)
                orow[i] = _round_clamp(s, f, lo, hi)
        rng[r, 0] = smin
        rng[r, 1] = smax


def _rows_and_limits(a, b, frac_bits, lo, hi, narrow):
    """(F, lo, hi) checked; a, b and the output (a PaddedNHWC when both inputs are, else NCHW) as
    C-contiguous (images, rows, columns) arrays, and the window (y0, rows, i0, columns) of their values:
    a PaddedNHWC's interior, one run per image row; an array's whole image as one run."""
    f = int_scalar("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
    lo = int_scalar("lo", lo, INT32_MIN, INT32_MAX)
    hi = int_scalar("hi", hi, lo, INT32_MAX)
    dtype = byte_or_int32(narrow, lo, hi)
    if isinstance(a, PaddedNHWC) and isinstance(b, PaddedNHWC) and a.buf.shape == b.buf.shape and a.pad == b.pad:
        out = new_padded(a.shape, a.pad, dtype)
        N, C, H, W = a.shape
        p = a.pad
        views = [v.buf.reshape(N, H + 2 * p, -1) for v in (a, b, out)]
        return f, lo, hi, views, out, (p, H, p * C, W * C)
    a, b = as_nchw(a), as_nchw(b)
    rows = a.shape[0] if a.ndim > 1 else 1
    out = np.empty(a.shape, dtype)
    views = [np.ascontiguousarray(v).reshape(rows, 1, -1) for v in (a, b, out)]
    return f, lo, hi, views, out, (0, 1, 0, views[0].shape[2])


def with_sum_range(out, smin: int, smax: int, f: int, lo: int, hi: int):
    """out, a PaddedNHWC given its values' exact range: the rounding and clamp are monotone in the sum, whose
    extremes smin, smax are sums it holds."""
    if not isinstance(out, PaddedNHWC):
        return out
    g = [int(_round_clamp(np.int64(s), f, lo, hi)) for s in (smin, smax)]
    return replace(out, value_range=(g[0], g[1]))


def _values(name, v, ranks):
    """An int_array, or a PaddedNHWC whose buffer is one."""
    if isinstance(v, PaddedNHWC):
        int_array(name, v.buf, 4)
        return v
    return int_array(name, v, ranks)


def add_round_clamp(a: np.ndarray, b: np.ndarray, frac_bits: int, lo: int, hi: int,
                    narrow: bool = False) -> tuple[np.ndarray, int, int]:
    """(int32 clamp((a + b + 2^(F-1)) >> F, lo, hi), min and max of a + b) for integer arrays a, b of one
    shape (64-bit ones with values in [-2^62, 2^62 - 1], so the int64 sum cannot wrap); F = frac_bits in [0, 62];
    (0, 0) as the range when empty. `narrow`: uint8 instead of int32 when [lo, hi] lies inside [0, 255]."""
    a = _values("a", a, (1, 2, 3, 4))
    b = _values("b", b, (1, 2, 3, 4))
    if a.shape != b.shape:
        raise KernelInputError(f"add: shapes differ, a {a.shape} vs b {b.shape}")
    for name, v in (("a", a), ("b", b)):
        if v.dtype.itemsize > 4:        # 64-bit operands: the int64 sum must not wrap
            lo_v, hi_v = value_range(storage(v))
            if lo_v < SUM_LO or hi_v > SUM_HI:
                raise KernelInputError(f"add: {name} holds values in [{lo_v}, {hi_v}], outside [-2^62, 2^62 - 1] "
                                       f"(the int64 sum could wrap)")
    f, lo, hi, (a3, b3, o3), out, win = _rows_and_limits(a, b, frac_bits, lo, hi, narrow)
    rng = np.zeros((len(a3), 2), np.int64)
    if out.size == 0:
        return out, 0, 0
    _add_round_clamp(a3, b3, win, f, lo, hi, o3, rng)
    smin, smax = int(rng[:, 0].min()), int(rng[:, 1].max())
    return with_sum_range(out, smin, smax, f, lo, hi), smin, smax


@njit(parallel=True, cache=True)
def _add_rescaled(a, codes, win, m0, shift, f, lo, hi, out, rng, crng):
    """out[r, y, i] = clamp((a + rq(codes; m0, shift) + 2^(f-1)) >> f, lo, hi) (f = 0: no shift) over the
    window win (as `_add_round_clamp`), rq's product and the sum in int64 (the caller bounds a by int32 and
    codes by 2^31, so neither wraps); rng[r] = (min, max) of the sum, crng[r] = (min, max) of the codes over
    image r's window."""
    y0, Y, i0, S = win
    for r in prange(a.shape[0]):
        smin = np.int64(9223372036854775807)
        smax = np.int64(-9223372036854775807 - 1)
        cmin = np.int64(9223372036854775807)
        cmax = np.int64(-9223372036854775807 - 1)
        for y in range(y0, y0 + Y):
            ar, cr, orow = a[r, y, i0:i0 + S], codes[r, y, i0:i0 + S], out[r, y, i0:i0 + S]
            for i in range(S):
                c = np.int64(cr[i])
                cmin = min(cmin, c)
                cmax = max(cmax, c)
                s = np.int64(ar[i]) + _rq(c, m0, shift, np.int64(0))
                smin = min(smin, s)
                smax = max(smax, s)
                orow[i] = _round_clamp(s, f, lo, hi)
        rng[r, 0] = smin
        rng[r, 1] = smax
        crng[r, 0] = cmin
        crng[r, 1] = cmax


def add_rescaled(a: np.ndarray, codes: np.ndarray, m0: int, shift: int, frac_bits: int, lo: int, hi: int,
                 narrow: bool = False) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """`add_round_clamp(a, rescale(codes, m0, shift), frac_bits, lo, hi, narrow)` in one pass, the rescaled
    codes never stored: (result, (min, max) of the sum, (min, max) of the codes). a: int32 or narrower
    (N, ...); codes: non-negative codes of a's shape, at most 32 bits; m0 an int32 value, shift in [1, 62]
    (so |codes * m0| < 2^63 - 2^61 and nothing wraps int64); (0, 0) ranges when empty. The caller checks
    that rescale's results fit int32 from the codes' range (`rq_bounds`), as after `rescale`."""
    a = _values("a", a, (1, 2, 3, 4))
    codes = _values("codes", codes, (1, 2, 3, 4))
    if a.shape != codes.shape:
        raise KernelInputError(f"add: shapes differ, a {a.shape} vs codes {codes.shape}")
    if a.dtype.itemsize > 4:
        lo_v, hi_v = value_range(storage(a))
        if lo_v < INT32_MIN or hi_v > INT32_MAX:
            raise KernelInputError(f"add_rescaled: a holds values in [{lo_v}, {hi_v}], outside int32")
    if codes.dtype.itemsize >= 4 or codes.dtype.kind == "i":
        lo_v, hi_v = value_range(storage(codes))
        if lo_v < 0 or hi_v >= 2**31:
            raise KernelInputError(f"add_rescaled: codes hold values in [{lo_v}, {hi_v}], outside [0, 2^31 - 1]")
    m0 = int_scalar("m0", m0, -(2**31 - 1), 2**31 - 1)
    shift = int_scalar("shift", shift, 1, 62)
    f, lo, hi, (a3, c3, o3), out, win = _rows_and_limits(a, codes, frac_bits, lo, hi, narrow)
    rng, crng = np.zeros((len(a3), 2), np.int64), np.zeros((len(a3), 2), np.int64)
    if out.size == 0:
        return out, (0, 0), (0, 0)
    _add_rescaled(a3, c3, win, m0, shift, f, lo, hi, o3, rng, crng)
    smin, smax = int(rng[:, 0].min()), int(rng[:, 1].max())
    return (with_sum_range(out, smin, smax, f, lo, hi), (smin, smax),
            (int(crng[:, 0].min()), int(crng[:, 1].max())))


def add_clamp(a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """int32 clamp(a + b, lo, hi), the sum formed in int64 (saturating, no wrap); a and b of one shape."""
    return add_round_clamp(a, b, 0, lo, hi)[0]
