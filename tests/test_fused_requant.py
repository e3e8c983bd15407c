"""The executor's one-pass kernels against tests/naive.py: requantisation that also reports acc + B's
per-channel range, and the residual add with its rounding shift, at the boundaries of their widths."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import kernels as K
from tests import naive

RNG = np.random.default_rng(4321)


@pytest.mark.parametrize("clamp", [True, False])
def test_requantize_ranged_matches_naive_and_reports_ranges(clamp):
    acc = RNG.integers(-(2**20), 2**20, (3, 5, 4, 6)).astype(np.int32)
    acc[1, 2, 3, 5] = 2**31 - 1 - 2**20                     # near the top of int32, the bias adds to it
    bias = RNG.integers(-(2**20), 2**20, 5)
    m0 = RNG.integers(2**30, 2**31, 5) * RNG.choice([-1, 1], 5)
    shift = RNG.integers(31, 45, 5)
    frac = RNG.integers(-(2**30), 2**30, 5)
    p = K.requant_params(5, bias, m0, shift, frac)
    seen = []
    out, lo, hi = K.requantize_ranged(acc, p, -7, 300, clamp, lambda a, b: seen.append((a.copy(), b.copy())))
    np.testing.assert_array_equal(out, naive.requantize(acc, bias, m0, shift, -7, 300, clamp, frac))
    x = acc.astype(np.int64) + bias[None, :, None, None]
    np.testing.assert_array_equal(lo, x.min(axis=(0, 2, 3)))
    np.testing.assert_array_equal(hi, x.max(axis=(0, 2, 3)))
    assert len(seen) == 1 and np.array_equal(seen[0][0], lo) and np.array_equal(seen[0][1], hi)


def test_requantize_ranged_shows_the_range_before_refusing():
    """A value the kernel refuses (an unclamped result beyond int32) raises only after on_range has seen
    the range, so the executor's own check, which names the layer, speaks first."""
    acc = np.array([[2**31 - 1]], np.int64)
    p = K.requant_params(1, 2**31, 2**30, 1)          # (2^32 - 1) * 2^30 / 2: beyond int32
    seen = []
    with pytest.raises(K.KernelInputError, match="does not fit int32"):
        K.requantize_ranged(acc, p, 0, 1, False, lambda a, b: seen.append((int(a[0]), int(b[0]))))
    assert seen == [(2**32 - 1, 2**32 - 1)]


@pytest.mark.parametrize("f", [0, 1, 5, 12, 24])
def test_add_round_clamp_matches_naive_at_boundaries(f):
    edges = [v for k in range(0, 31) for v in (2**k - 2, 2**k - 1, 2**k, 2**k + 1)]
    vals = np.array(sorted({e * s for e in edges for s in (1, -1)} | {2**31 - 1, -(2**31)}), np.int64)
    a = RNG.choice(vals, (4, 3, 50)).astype(np.int32)
    b = RNG.choice(vals, (4, 3, 50)).astype(np.int32)
    for lo, hi in ((0, 15), (0, 255), (-(2**31), 2**31 - 1)):
        out, smin, smax = K.add_round_clamp(a, b, f, lo, hi)
        np.testing.assert_array_equal(out, naive.add_round_clamp(a, b, f, lo, hi))
        s = a.astype(np.int64) + b
        assert (smin, smax) == (int(s.min()), int(s.max()))


def test_add_round_clamp_64_bit_operands_at_the_int64_limit():
    """64-bit operands in [-2^62, 2^62 - 1] sum inside int64 (both extremes reached); one beyond is refused."""
    a = np.array([2**62 - 1, -(2**62), 5], np.int64)
    out, smin, smax = K.add_round_clamp(a, a, 0, -(2**31), 2**31 - 1)
    assert out.tolist() == [2**31 - 1, -(2**31), 10] and (smin, smax) == (-(2**63), 2**63 - 2)
    for v in (2**62, -(2**62) - 1):
        with pytest.raises(K.KernelInputError, match="outside"):
            K.add_round_clamp(np.array([v], np.int64), np.zeros(1, np.int32), 0, 0, 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.int64, np.uint64])
def test_value_range_one_pass_matches_numpy(dtype):
    from hwsim.kernels._check import value_range
    info = np.iinfo(dtype)
    a = RNG.integers(max(info.min, -(2**62)), min(info.max, 2**62), 1 << 15).astype(dtype)
    a[123], a[-1] = info.min, min(info.max, 2**63 - 1)
    assert value_range(a) == (int(a.min()), int(a.max()))
    assert value_range(a[::2]) == (int(a[::2].min()), int(a[::2].max()))     # strided: the numpy route
