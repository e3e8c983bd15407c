"""The residual add: out = clamp((a + b + 2^(F-1)) >> F, lo, hi), the sum exact in int64, rounded half up
once (F = 0: plain clamp(a + b)); one pass that also reports the sum's range for the caller's int32 check."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar, value_range
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
def _add_round_clamp(a, b, f, lo, hi, out, rng):
    """out[r, i] = clamp((a + b + 2^(f-1)) >> f, lo, hi) (f = 0: clamp(a + b)), the sum in int64 (the
    caller keeps a, b in [-2^62, 2^62 - 1], so it cannot wrap); rng[r] = (min, max) of a + b over row r."""
    R, S = a.shape
    for r in prange(R):
        smin = np.int64(9223372036854775807)
        smax = np.int64(-9223372036854775807 - 1)
        for i in range(S):
            s = np.int64(a[r, i]) + np.int64(b[r, i])
            smin = min(smin, s)
            smax = max(smax, s)
            out[r, i] = _round_clamp(s, f, lo, hi)
        rng[r, 0] = smin
        rng[r, 1] = smax


def _rows_and_limits(a, b, frac_bits, lo, hi, narrow):
    """(F, lo, hi) checked, a and b as (rows, -1) views (one task per image), and the output of their shape."""
    f = int_scalar("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
    lo = int_scalar("lo", lo, INT32_MIN, INT32_MAX)
    hi = int_scalar("hi", hi, lo, INT32_MAX)
    rows = a.shape[0] if a.ndim > 1 else 1
    a2, b2 = np.ascontiguousarray(a).reshape(rows, -1), np.ascontiguousarray(b).reshape(rows, -1)
    return f, lo, hi, a2, b2, np.empty(a2.shape, byte_or_int32(narrow, lo, hi))


def add_round_clamp(a: np.ndarray, b: np.ndarray, frac_bits: int, lo: int, hi: int,
                    narrow: bool = False) -> tuple[np.ndarray, int, int]:
    """(int32 clamp((a + b + 2^(F-1)) >> F, lo, hi), min and max of a + b) for integer arrays a, b of one
    shape (64-bit ones with values in [-2^62, 2^62 - 1], so the int64 sum cannot wrap); F = frac_bits in [0, 62];
    (0, 0) as the range when empty. `narrow`: uint8 instead of int32 when [lo, hi] lies inside [0, 255]."""
    a = int_array("a", a, (1, 2, 3, 4))
    b = int_array("b", b, (1, 2, 3, 4))
    if a.shape != b.shape:
        raise KernelInputError(f"add: shapes differ, a {a.shape} vs b {b.shape}")
    for name, v in (("a", a), ("b", b)):
        if v.dtype.itemsize > 4:        # 64-bit operands: the int64 sum must not wrap
            lo_v, hi_v = value_range(v)
            if lo_v < SUM_LO or hi_v > SUM_HI:
                raise KernelInputError(f"add: {name} holds values in [{lo_v}, {hi_v}], outside [-2^62, 2^62 - 1] "
                                       f"(the int64 sum could wrap)")
    f, lo, hi, a2, b2, out = _rows_and_limits(a, b, frac_bits, lo, hi, narrow)
    rng = np.zeros((len(a2), 2), np.int64)
    if a2.size == 0:
        return out.reshape(a.shape), 0, 0
    _add_round_clamp(a2, b2, f, lo, hi, out, rng)
    return out.reshape(a.shape), int(rng[:, 0].min()), int(rng[:, 1].max())


@njit(parallel=True, cache=True)
def _add_rescaled(a, codes, m0, shift, f, lo, hi, out, rng, crng):
    """out[r, i] = clamp((a + rq(codes; m0, shift) + 2^(f-1)) >> f, lo, hi) (f = 0: no shift), rq's product
    and the sum in int64 (the caller bounds a by int32 and codes by 2^31, so neither wraps); rng[r] = (min,
    max) of the sum, crng[r] = (min, max) of the codes over row r."""
    R, S = a.shape
    for r in prange(R):
        smin = np.int64(9223372036854775807)
        smax = np.int64(-9223372036854775807 - 1)
        cmin = np.int64(9223372036854775807)
        cmax = np.int64(-9223372036854775807 - 1)
        for i in range(S):
            c = np.int64(codes[r, i])
            cmin = min(cmin, c)
            cmax = max(cmax, c)
            s = np.int64(a[r, i]) + _rq(c, m0, shift, np.int64(0))
            smin = min(smin, s)
            smax = max(smax, s)
            out[r, i] = _round_clamp(s, f, lo, hi)
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
    a = int_array("a", a, (1, 2, 3, 4))
    codes = int_array("codes", codes, (1, 2, 3, 4))
    if a.shape != codes.shape:
        raise KernelInputError(f"add: shapes differ, a {a.shape} vs codes {codes.shape}")
    if a.dtype.itemsize > 4:
        lo_v, hi_v = value_range(a)
        if lo_v < INT32_MIN or hi_v > INT32_MAX:
            raise KernelInputError(f"add_rescaled: a holds values in [{lo_v}, {hi_v}], outside int32")
    if codes.dtype.itemsize >= 4 or codes.dtype.kind == "i":
        lo_v, hi_v = value_range(codes)
        if lo_v < 0 or hi_v >= 2**31:
            raise KernelInputError(f"add_rescaled: codes hold values in [{lo_v}, {hi_v}], outside [0, 2^31 - 1]")
    m0 = int_scalar("m0", m0, -(2**31 - 1), 2**31 - 1)
    shift = int_scalar("shift", shift, 1, 62)
    f, lo, hi, a2, c2, out = _rows_and_limits(a, codes, frac_bits, lo, hi, narrow)
    rng, crng = np.zeros((len(a2), 2), np.int64), np.zeros((len(a2), 2), np.int64)
    if a2.size == 0:
        return out.reshape(a.shape), (0, 0), (0, 0)
    _add_rescaled(a2, c2, m0, shift, f, lo, hi, out, rng, crng)
    return (out.reshape(a.shape), (int(rng[:, 0].min()), int(rng[:, 1].max())),
            (int(crng[:, 0].min()), int(crng[:, 1].max())))


def add_clamp(a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """int32 clamp(a + b, lo, hi), the sum formed in int64 (saturating, no wrap); a and b of one shape."""
    return add_round_clamp(a, b, 0, lo, hi)[0]
