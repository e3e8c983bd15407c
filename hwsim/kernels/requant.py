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

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar

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
def _requant(acc, bias, m0, shift, frac, xlim, lo, hi, clamp, out, bad, rng):
    """out[r, c, s] = rq(acc[r, c, s] + bias[c]; m0[c], shift[c], frac[c]) (clamped to [lo, hi] if clamp);
    acc viewed as (R, C, S); rng[r*C + c] = (min, max) of acc + bias over s (the executor's range check
    reads it, so no second pass over acc is needed).

    Each row is checked from its range before it is computed (rq is monotone in x for a fixed M0, so the
    extremes bound every value), which leaves the computing loop without branches (LLVM vectorises it).
    bad[r*C + c] records one offending value: flag 3 when acc + bias would leave int64, flag 1 when
    |x| > xlim[c] (the product would overflow int64), flag 2 for an unclamped result outside int32; out is
    then unspecified for that row."""
    R, C, S = acc.shape
    for t in prange(R * C):
        r = t // C
        c = t % C
        row = acc[r, c]
        if S == 0:
            continue
        amin = row.min()
        amax = row.max()
        b = bias[c]
        if (b > 0 and np.int64(amax) > 9223372036854775807 - b) or \
                (b < 0 and np.int64(amin) < -9223372036854775807 - 1 - b):
            bad[t, 0] = 3
            bad[t, 1] = np.int64(amax) if b > 0 else np.int64(amin)
            continue
        xmin = np.int64(amin) + b
        xmax = np.int64(amax) + b
        rng[t, 0] = xmin
        rng[t, 1] = xmax
        m = m0[c]
        sh = shift[c]
        f = frac[c]
        lim = xlim[c]
        if xmax > lim or xmin < -lim:
            bad[t, 0] = 1
            bad[t, 1] = xmax if xmax > lim else xmin
            continue
        if not clamp:
            for y in (_rq(xmin, m, sh, f), _rq(xmax, m, sh, f)):
                if y < -2147483648 or y > 2147483647:
                    bad[t, 0] = 2
                    bad[t, 1] = y
            if bad[t, 0]:
                continue
        dst = out[r, c]
        lo_c = lo if clamp else -2147483648
        hi_c = hi if clamp else 2147483647
        if xmin >= -2147483648 and xmax <= 2147483647:
            # x and M0 fit int32: the same rq with a 32x32 -> 64-bit product (vpmuldq on AVX2, 4 lanes)
            m32 = np.int64(np.int32(m))
            add = (np.int64(1) << (sh - 1)) + f
            for s in range(S):
                y = (np.int64(np.int32(np.int64(row[s]) + b)) * m32 + add) >> sh
                dst[s] = min(max(y, lo_c), hi_c)
        else:
            for s in range(S):
                y = _rq(np.int64(row[s]) + b, m, sh, f)
                dst[s] = min(max(y, lo_c), hi_c)


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


@dataclass(frozen=True)
class RequantParams:
    """Per-channel int64 (C,) arrays of one requant entry, validated once (`requant_params`): bias, m0,
    shift, frac and xlim, the largest |acc + bias| whose rq cannot wrap int64."""
    bias: np.ndarray
    m0: np.ndarray
    shift: np.ndarray
    frac: np.ndarray
    xlim: np.ndarray


def requant_params(c: int, bias, m0, shift, frac=None) -> RequantParams:
    """Validated RequantParams of `c` channels (scalars are broadcast; bias / frac None = 0); ranges as in
    the module docstring, each violation a KernelInputError naming the array and index."""
    bias = _per_channel("bias", 0 if bias is None else bias, c, INT64_MIN, INT64_MAX)
    m0 = _per_channel("m0", m0, c, M0_MIN, M0_LIMIT - 1, allow_zero=True)
    shift = _per_channel("shift", shift, c, SHIFT_MIN, SHIFT_MAX)
    frac = _per_channel("frac", 0 if frac is None else frac, c, -FRAC_MAX, FRAC_MAX)
    # largest |x| with |x*M0| + 2^(shift-1) + |frac| inside int64, so rq cannot wrap (Python ints: exact)
    xlim = np.array([INT64_MAX if m == 0 else (INT64_MAX - (1 << (s - 1)) - abs(f)) // abs(m)
                     for m, s, f in zip(m0.tolist(), shift.tolist(), frac.tolist())], np.int64)
    return RequantParams(bias, m0, shift, frac, xlim)


def requantize(acc: np.ndarray, bias, m0, shift, lo: int, hi: int, clamp: bool, frac=None) -> np.ndarray:
    """int32 out = rq(acc + bias; m0, shift, frac) per channel (axis 1), clamped to [lo, hi] when `clamp`
    (ReLU = lo 0).

    acc: integer (N, C, ...) accumulators; bias: int64 (C,) in accumulator units (or a scalar / None = 0);
    m0, shift, frac: (C,) or scalars (frac None = 0). acc + bias is formed in int64; see the module
    docstring for ranges."""
    acc = int_array("acc", acc, (2, 3, 4))
    return requantize_ranged(acc, requant_params(acc.shape[1], bias, m0, shift, frac), lo, hi, clamp)[0]


def requantize_ranged(acc: np.ndarray, p: RequantParams, lo: int, hi: int, clamp: bool,
                      on_range=None, narrow: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int32 rq(acc + bias) as `requantize`, per-channel int64 min and max of acc + bias) in one pass.

    `p`: the entry's validated parameters (built once per entry, not per call). `on_range(lo, hi)`, when
    given, sees the per-channel ranges before any value the kernel refused raises, so that a caller's
    own width check (naming its layer) comes first. Empty channels report (0, 0). `narrow`: the same
    values as uint8 when clamped into [0, 255] (a quarter of the bytes for the next layer to read)."""
    acc = int_array("acc", acc, (2, 3, 4))
    lo, hi = requant_limits(p, acc.shape[1], lo, hi, clamp)
    c = acc.shape[1]
    a3 = np.ascontiguousarray(acc).reshape(acc.shape[0], c, -1)
    out = np.empty(a3.shape, byte_or_int32(narrow and clamp, lo, hi))
    bad = np.zeros((a3.shape[0] * c, 2), np.int64)
    rng = np.zeros((a3.shape[0] * c, 2), np.int64)
    if a3.size:
        _requant(a3, p.bias, p.m0, p.shift, p.frac, p.xlim, lo, hi, bool(clamp), out, bad, rng)
    if a3.shape[0] and a3.shape[2]:
        r3 = rng.reshape(a3.shape[0], c, 2)
        ch_lo, ch_hi = r3[:, :, 0].min(axis=0), r3[:, :, 1].max(axis=0)
    else:
        ch_lo = ch_hi = np.zeros(c, np.int64)
    if on_range is not None:
        on_range(ch_lo, ch_hi)
    flagged = np.flatnonzero(bad[:, 0])
    if flagged.size:
        t = int(flagged[0])
        kind, v = int(bad[t, 0]), int(bad[t, 1])
        ch = t % c
        if kind == 3:
            raise KernelInputError(f"requantize: acc {v} + bias {int(p.bias[ch])} at channel {ch} leaves int64")
        if kind == 1:
            raise KernelInputError(f"requantize: acc + bias = {v} at channel {ch} overflows int64 when multiplied "
                                   f"by m0 = {int(p.m0[ch])}")
        raise KernelInputError(f"requantize: unclamped result {v} at channel {ch} does not fit int32")
    return out.reshape(acc.shape), ch_lo, ch_hi


def requant_limits(p: RequantParams, c: int, lo, hi, clamp) -> tuple[int, int]:
    """(lo, hi) as ints once clamp, lo <= hi (int32) and p's channel count (c) are checked."""
    if not isinstance(clamp, (bool, np.bool_)):
        raise KernelInputError(f"clamp must be a bool, got {clamp!r}")
    lo = int_scalar("lo", lo, INT32_MIN, INT32_MAX)
    hi = int_scalar("hi", hi, lo, INT32_MAX)
    if p.m0.shape != (c,):
        raise KernelInputError(f"requant parameters have {p.m0.shape[0]} channels, acc has {c}")
    return lo, hi


def byte_or_int32(narrow: bool, lo: int, hi: int):
    """uint8 when `narrow` and [lo, hi] lies inside [0, 255] (a clamped code fits a byte), else int32."""
    return np.uint8 if narrow and 0 <= lo and hi <= 255 else np.int32


def rq_bounds(lo, hi, m0, shift, frac=None) -> tuple[int, int]:
    """(min, max) of rq over per-channel inputs x in [lo[c], hi[c]], exactly (no range limits): rq is monotone
    in x for a fixed M0, so each channel's extremes sit at lo and hi. All of lo, hi, m0, shift, frac are
    integer sequences or arrays of one length, or scalars (frac None = 0); (0, 0) when empty. Compiled for
    int64 where no channel can wrap (|x| <= 2^31, |M0| < 2^31, shift in [1, 62], |frac| <= 2^30: below 2^63),
    else on Python ints."""
    arrays = [np.asarray(v) for v in (lo, hi, m0, shift, 0 if frac is None else frac)]
    if any(a.shape != arrays[0].shape for a in arrays):
        arrays = np.broadcast_arrays(*arrays)
    if arrays[0].size == 0:
        return 0, 0
    if all(a.dtype.kind == "i" or (a.dtype.kind == "u" and a.dtype.itemsize < 8) for a in arrays):
        ok, y_lo, y_hi = _rq_bounds_int64(*(a.astype(np.int64).ravel() for a in arrays))
        if ok:
            return int(y_lo), int(y_hi)
    lo, hi, m0, shift, frac = (a.ravel().tolist() for a in arrays)
    vals = [rq(x, m, s, f) for l, h, m, s, f in zip(lo, hi, m0, shift, frac) for x in (l, h)]
    return min(vals), max(vals)


@njit(cache=True)
def _rq_bounds_int64(lo, hi, m0, shift, frac):
    """(True, min, max) of rq at every channel's lo and hi, or (False, 0, 0) if some channel's values could
    wrap int64 (the caller then computes on Python ints)."""
    y_lo, y_hi = INT64_MAX, INT64_MIN
    for c in range(lo.shape[0]):
        if not (-(2**31) <= lo[c] <= 2**31 and -(2**31) <= hi[c] <= 2**31 and -M0_LIMIT < m0[c] < M0_LIMIT
                and SHIFT_MIN <= shift[c] <= SHIFT_MAX and -FRAC_MAX <= frac[c] <= FRAC_MAX):
            return False, 0, 0
        for x in (lo[c], hi[c]):
            y = _rq(x, m0[c], shift[c], frac[c])
            y_lo, y_hi = min(y_lo, y), max(y_hi, y)
    return True, y_lo, y_hi


def rescale(codes: np.ndarray, m0: int, shift: int) -> np.ndarray:
    """int32 rq(codes; M0, shift) with one scalar (M0, shift), unclamped (the residual shortcut's rescale)."""
    codes = int_array("codes", codes, (1, 2, 3, 4))
    m0 = int_scalar("m0", m0, -(M0_LIMIT - 1), M0_LIMIT - 1)
    shift = int_scalar("shift", shift, SHIFT_MIN, SHIFT_MAX)
    rows = codes.reshape(codes.shape[0] if codes.ndim > 1 else 1, 1, -1)    # one task per image
    return requantize(rows, None, m0, shift, INT32_MIN, INT32_MAX, False).reshape(codes.shape)
