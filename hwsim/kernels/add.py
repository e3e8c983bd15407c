"""The residual add: out = clamp((a + b + 2^(F-1)) >> F, lo, hi), the sum exact in int64, rounded half up
once (F = 0: plain clamp(a + b)); one pass that also reports the sum's range for the caller's int32 check."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar, value_range
from .requant import byte_or_int32

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FRAC_BITS_MAX = 62
SUM_LO, SUM_HI = -(2**62), 2**62 - 1    # a, b in [-2^62, 2^62 - 1]: a + b fits int64


@njit(parallel=True, cache=True)
def _add_round_clamp(a, b, f, lo, hi, out, rng):
    """out[r, i] = clamp((a + b + 2^(f-1)) >> f, lo, hi) (f = 0: clamp(a + b)), the sum in int64 (the
    caller keeps a, b in [-2^62, 2^62 - 1], so it cannot wrap); rng[r] = (min, max) of a + b over row r."""
    R, S = a.shape
    half = np.int64(1) << (f - 1) if f > 0 else np.int64(0)
    for r in prange(R):
        smin = np.int64(9223372036854775807)
        smax = np.int64(-9223372036854775807 - 1)
        for i in range(S):
            s = np.int64(a[r, i]) + np.int64(b[r, i])
            smin = min(smin, s)
            smax = max(smax, s)
            y = (s + half) >> f
            out[r, i] = lo if y < lo else (hi if y > hi else y)
        rng[r, 0] = smin
        rng[r, 1] = smax


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
    f = int_scalar("frac_bits", frac_bits, 0, FRAC_BITS_MAX)
    lo = int_scalar("lo", lo, INT32_MIN, INT32_MAX)
    hi = int_scalar("hi", hi, lo, INT32_MAX)
    rows = a.shape[0] if a.ndim > 1 else 1
    a2, b2 = np.ascontiguousarray(a).reshape(rows, -1), np.ascontiguousarray(b).reshape(rows, -1)
    out = np.empty(a2.shape, byte_or_int32(narrow, lo, hi))
    rng = np.zeros((rows, 2), np.int64)
    if a2.size == 0:
        return out.reshape(a.shape), 0, 0
    _add_round_clamp(a2, b2, f, lo, hi, out, rng)
    return out.reshape(a.shape), int(rng[:, 0].min()), int(rng[:, 1].max())


def add_clamp(a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """int32 clamp(a + b, lo, hi), the sum formed in int64 (saturating, no wrap); a and b of one shape."""
    return add_round_clamp(a, b, 0, lo, hi)[0]
