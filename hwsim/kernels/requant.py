"""Requantisation: rq(x; M0, shift, frac) = (x * M0 + 2^(shift-1) + frac) >> shift, arithmetic shift.

Rounding: half up (toward +inf) of the exact (x*M0 + frac) / 2^shift (the >> floors). Widths: x = acc + B
in int64, M0 a signed int32 with |M0| in [2^30, 2^31) or exactly 0, shift in [1, 62], frac an int64 with
|frac| <= 2^30. No intermediate may wrap: an x whose |x*M0| + 2^(shift-1) + |frac| would leave int64 is
refused (KernelInputError naming it), as is an unclamped result outside int32. Saturation happens only
where asked: clamp=True clips to [lo, hi].

`rq` is the one written form of the formula: the numba kernel compiles it for int64 (where the wrapper has
proved that nothing wraps), and `rq_bounds` runs it on unbounded Python ints.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar, value_range

M0_MIN, M0_LIMIT = 2**30, 2**31
SHIFT_MIN, SHIFT_MAX = 1, 62
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
FRAC_MAX = 2**30


def rq(x, m0, shift, frac):
    """(x * m0 + 2^(shift-1) + frac) >> shift: round half up of (x*m0 + frac) / 2^shift. Exact on Python
    ints; compiled as `_rq` for int64, where the caller guarantees no wrap."""
    return (x * m0 + (1 << (shift - 1)) + frac) >> shift


_rq = njit(inline="always")(rq)


@njit(parallel=True, cache=True)
def _requant(acc, bias, m0, shift, frac, xlim, lo, hi, clamp, out, bad):
    """out[r, c, s] = rq(acc[r, c, s] + bias[c]; m0[c], shift[c], frac[c]) (clamped to [lo, hi] if clamp);
    acc viewed as (R, C, S).

    bad[r*C + c] records one offending x (|x| > xlim[c]: the product would overflow int64) with flag 1,
    or one unclamped result outside int32 with flag 2; out is then unspecified for that row."""
    R, C, S = acc.shape
    for t in prange(R * C):
        r = t // C
        c = t % C
        b = bias[c]
        m = m0[c]
        sh = shift[c]
        f = frac[c]
        lim = xlim[c]
        for s in range(S):
            x = np.int64(acc[r, c, s]) + b
            if x > lim or x < -lim:
                bad[t, 0] = 1
                bad[t, 1] = x
                continue
            y = _rq(x, m, sh, f)
            if clamp:
                if y < lo:
                    y = lo
                elif y > hi:
                    y = hi
            elif y < -2147483648 or y > 2147483647:
                bad[t, 0] = 2
                bad[t, 1] = y
                continue
            out[r, c, s] = y


def _per_channel(name: str, v, c: int, lo: int, hi: int, allow_zero: bool = False) -> np.ndarray:
    """A scalar or (C,) integer array as int64 (C,), each value in [lo, hi] (or 0 if allow_zero) by magnitude."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        v = np.full(c, int(v), np.int64)
    a = int_array(name, v, 1)
    if a.shape[0] != c:
        raise KernelInputError(f"{name} has {a.shape[0]} entries for {c} channels")
    a = a.astype(np.int64)
    mag = np.abs(a) if allow_zero else a
    ok = (mag >= lo) & (mag <= hi)
    if allow_zero:
        ok |= a == 0
    if not ok.all():
        i = int(np.argmin(ok))
        want = f"|{name}| in [{lo}, {hi}] or 0" if allow_zero else f"{name} in [{lo}, {hi}]"
        raise KernelInputError(f"{name}[{i}] = {int(a[i])}: need {want}")
    return a


def requantize(acc: np.ndarray, bias, m0, shift, lo: int, hi: int, clamp: bool, frac=None) -> np.ndarray:
    """int32 out = rq(acc + bias; m0, shift, frac) per channel (axis 1), clamped to [lo, hi] when `clamp`
    (ReLU = lo 0).

    acc: integer (N, C, ...) accumulators; bias: int64 (C,) in accumulator units (or a scalar / None = 0);
    m0, shift, frac: (C,) or scalars (frac None = 0). acc + bias is formed in int64; see the module
    docstring for ranges."""
    acc = int_array("acc", acc, (2, 3, 4))
    if not isinstance(clamp, (bool, np.bool_)):
        raise KernelInputError(f"clamp must be a bool, got {clamp!r}")
    lo = int_scalar("lo", lo, INT32_MIN, INT32_MAX)
    hi = int_scalar("hi", hi, lo, INT32_MAX)
    c = acc.shape[1]
    bias = _per_channel("bias", 0 if bias is None else bias, c, INT64_MIN, INT64_MAX)
    m0 = _per_channel("m0", m0, c, M0_MIN, M0_LIMIT - 1, allow_zero=True)
    shift = _per_channel("shift", shift, c, SHIFT_MIN, SHIFT_MAX)
    frac = _per_channel("frac", 0 if frac is None else frac, c, -FRAC_MAX, FRAC_MAX)
    a_lo, a_hi = value_range(acc)
    b_lo, b_hi = value_range(bias)
    if a_lo + b_lo < INT64_MIN or a_hi + b_hi > INT64_MAX:
        raise KernelInputError(f"acc + bias leaves int64 (acc in [{a_lo}, {a_hi}], bias in [{b_lo}, {b_hi}])")
    # largest |x| with |x*M0| + 2^(shift-1) + |frac| inside int64, so rq cannot wrap (Python ints: exact)
    xlim = np.array([INT64_MAX if m == 0 else (INT64_MAX - (1 << (s - 1)) - abs(f)) // abs(m)
                     for m, s, f in zip(m0.tolist(), shift.tolist(), frac.tolist())], np.int64)
    a3 = np.ascontiguousarray(acc).reshape(acc.shape[0], c, -1)
    out = np.empty(a3.shape, np.int32)
    bad = np.zeros((a3.shape[0] * c, 2), np.int64)
    if a3.size:
        _requant(a3, bias, m0, shift, frac, xlim, lo, hi, bool(clamp), out, bad)
    flagged = np.flatnonzero(bad[:, 0])
    if flagged.size:
        t = int(flagged[0])
        kind, v = int(bad[t, 0]), int(bad[t, 1])
        ch = t % c
        if kind == 1:
            raise KernelInputError(f"requantize: acc + bias = {v} at channel {ch} overflows int64 when multiplied "
                                   f"by m0 = {int(m0[ch])}")
        raise KernelInputError(f"requantize: unclamped result {v} at channel {ch} does not fit int32")
    return out.reshape(acc.shape)


def rq_bounds(lo, hi, m0, shift, frac=None) -> tuple[int, int]:
    """(min, max) of rq over per-channel inputs x in [lo[c], hi[c]], exactly on Python ints (no range
    limits): rq is monotone in x for a fixed M0, so each channel's extremes sit at lo and hi. All of lo, hi,
    m0, shift, frac are integer sequences or arrays of one length (frac None = 0); (0, 0) when empty."""
    lo, hi, m0, shift = (np.asarray(v).tolist() for v in (lo, hi, m0, shift))
    frac = [0] * len(m0) if frac is None else np.asarray(frac).tolist()
    vals = [rq(x, m, s, f) for l, h, m, s, f in zip(lo, hi, m0, shift, frac) for x in (l, h)]
    return (min(vals), max(vals)) if vals else (0, 0)


def rescale(codes: np.ndarray, m0: int, shift: int) -> np.ndarray:
    """int32 rq(codes; M0, shift) with one scalar (M0, shift), unclamped (the residual shortcut's rescale)."""
    codes = int_array("codes", codes, (1, 2, 3, 4))
    m0 = int_scalar("m0", m0, -(M0_LIMIT - 1), M0_LIMIT - 1)
    shift = int_scalar("shift", shift, SHIFT_MIN, SHIFT_MAX)
    return requantize(codes.reshape(1, 1, -1), None, m0, shift, INT32_MIN, INT32_MAX, False).reshape(codes.shape)


def add_clamp(a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """int32 clamp(a + b, lo, hi), the sum formed in int64 (saturating, no wrap); a and b of one shape."""
    a = int_array("a", a, (1, 2, 3, 4))
    b = int_array("b", b, (1, 2, 3, 4))
    if a.shape != b.shape:
        raise KernelInputError(f"add_clamp: shapes differ, a {a.shape} vs b {b.shape}")
    lo = int_scalar("lo", lo, INT32_MIN, INT32_MAX)
    hi = int_scalar("hi", hi, lo, INT32_MAX)
    return np.clip(a.astype(np.int64) + b.astype(np.int64), lo, hi).astype(np.int32)
