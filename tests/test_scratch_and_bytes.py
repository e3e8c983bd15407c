"""Per-layer savings of the executor path: reused scratch buffers stay exact, and clamped codes come out as
bytes with the same values."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import kernels as K
from tests import naive

RNG = np.random.default_rng(99)


@pytest.mark.parametrize("method", ["auto", "madd", "direct", "int8", "int64"])   # int8 adds into its output
def test_scratch_results_are_exact_and_reused(method):
    """A scratch result is overwritten by the next scratch call of its shape; each is exact when returned,
    also for methods that need a zeroed output (the kept buffer is cleared for them)."""
    first = None
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 16, (2, 8, 6, 6)).astype(np.uint8)
        w = rng.integers(-7, 8, (16, 8, 3, 3)).astype(np.int8)
        got = K.conv2d_acc(x, w, 1, 1, 1, method, scratch=True)
        np.testing.assert_array_equal(got, naive.conv2d(x, w, 1, 1, 1))
        if first is None:
            first = got
        assert got is first                      # one buffer
    fresh = K.conv2d_acc(x, w, 1, 1, 1, method)
    assert fresh is not first


def test_madd_input_buffers_are_keyed_by_geometry():
    """Two layers whose padded inputs have one shape (6x6 padded by 1, 8x8 unpadded) but write different
    cells: neither leaves codes where the other reads zero padding."""
    w = RNG.integers(-7, 8, (16, 8, 3, 3)).astype(np.int8)
    for _ in range(2):
        for h, p in ((6, 1), (8, 0)):
            x = RNG.integers(1, 16, (2, 8, h, h)).astype(np.uint8)
            np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, p, 1, "madd"), naive.conv2d(x, w, 1, p, 1))


@pytest.mark.parametrize("lo,hi,clamp,want", [(0, 255, True, np.uint8), (0, 15, True, np.uint8),
                                              (0, 256, True, np.int32), (-1, 15, True, np.int32),
                                              (0, 255, False, np.int32)])
def test_narrow_requant_gives_bytes_only_when_the_codes_fit(lo, hi, clamp, want):
    acc = RNG.integers(-5000, 5000, (3, 4, 5, 5))
    p = K.requant_params(4, RNG.integers(-100, 100, 4), 2**30 + 12345, 33)    # codes spread over -600..600
    got, glo, ghi = K.requantize_ranged(acc, p, lo, hi, clamp, narrow=True)
    ref, rlo, rhi = K.requantize_ranged(acc, p, lo, hi, clamp)
    assert got.dtype == want and ref.dtype == np.int32
    np.testing.assert_array_equal(got.astype(np.int64), ref)
    np.testing.assert_array_equal(glo, rlo)
    np.testing.assert_array_equal(ghi, rhi)


@pytest.mark.parametrize("hi,want", [(255, np.uint8), (3, np.uint8), (256, np.int32)])
def test_narrow_add_gives_bytes_only_when_the_codes_fit(hi, want):
    a = RNG.integers(0, 300, (2, 3, 4, 4)).astype(np.int32)
    b = RNG.integers(-20, 300, (2, 3, 4, 4)).astype(np.int32)
    got, lo_s, hi_s = K.add_round_clamp(a, b, 1, 0, hi, narrow=True)
    assert got.dtype == want
    np.testing.assert_array_equal(got, naive.add_round_clamp(a, b, 1, 0, hi))
    assert (lo_s, hi_s) == (int((a.astype(np.int64) + b).min()), int((a.astype(np.int64) + b).max()))
