"""The "packed" conv method (two output channels per float32 weight) against tests/naive.py, at its packing
bound and one beyond it, and the planner's proof checked by brute force on data shaped to make it tight."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import kernels as K
from hwsim.kernels import direct
from hwsim.kernels.conv_plan import (PACK_FIELD_MAX, PACK_SHIFT, OperandBounds, auto_method, direct_packing,
                                     operand_bounds)
from tests import naive
from tests.test_kernels import CONV_CASES

RNG = np.random.default_rng(77)


def _twos(rng, shape, bits):
    """Signed codes over the whole two's-complement range of `bits` (the contract's symmetric range and -2^(b-1))."""
    return rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), shape)


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("wb", [1, 2, 3, 4])
@pytest.mark.parametrize("ab", [1, 2, 3, 4])
def test_packed_matches_naive(case, wb, ab):
    n, c, h, w_, o, k, s, p, g = case
    x = RNG.integers(0, 2**ab, (n, c, h, w_)).astype(np.uint8)            # unsigned activation codes
    w = _twos(RNG, (o, c // g, k, k), wb).astype(np.int8)                   # signed weight codes
    b = operand_bounds(int(x.min()), int(x.max()), int(w.min()), int(w.max()), c // g * k * k, k * k, "t")
    if direct_packing(b) is None:
        pytest.skip("no exact packing at these widths and this kernel size")
    np.testing.assert_array_equal(K.conv2d_acc(x, w, s, p, g, "packed"), naive.conv2d(x, w, s, p, g))


@pytest.mark.parametrize("case", CONV_CASES[:4])
@pytest.mark.parametrize("bits", [2, 4])
def test_packed_signed_activations(case, bits):
    n, c, h, w_, o, k, s, p, g = case
    x = _twos(RNG, (n, c, h, w_), bits).astype(np.int8)
    w = _twos(RNG, (o, c // g, k, k), bits).astype(np.int8)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, s, p, g, "packed"), naive.conv2d(x, w, s, p, g))


def _bound_case(xv: int, wv: int, c: int, o: int = 6):
    """1x1 conv of c channels, all activations xv, weights +wv / -wv alternating per output channel (the
    two fields of a packed weight then carry opposite signs), one image of 3x3 pixels."""
    x = np.full((1, c, 3, 3), xv, np.uint8)
    w = np.empty((o, c, 1, 1), np.int8)
    w[0::2], w[1::2] = wv, -wv
    return x, w


def test_packed_at_its_bound_is_exact_and_the_bound_is_tight():
    # |x*w| = 1*89 and 23*89 = 2047 = 2^11 - 1: a flush interval of 23 channels fills a field exactly
    x, w = _bound_case(1, 89, 46)
    b = operand_bounds(1, 1, -89, 89, 46, 1, "t")
    pk = direct_packing(b)
    assert (pk.fields, pk.shift, pk.channels) == (2, 12, 23)
    ref = naive.conv2d(x, w, 1, 0, 1)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 0, 1, "packed"), ref)
    # brute force: the largest |field partial sum| over the plan's flush intervals reaches the bound exactly
    prods = (x[0, :, 0, 0].astype(np.int64)[None, :] * w[:, :, 0, 0].astype(np.int64))       # (O, C)
    worst = max(np.abs(np.cumsum(prods[:, c0:c0 + pk.channels], axis=1)).max() for c0 in range(0, 46, pk.channels))
    assert worst == PACK_FIELD_MAX
    # one channel beyond the plan's interval: the field overflows into its neighbour and the result is wrong
    out = np.empty(ref.shape, np.int32)
    direct._run_direct(x, w, 1, 0, 1, pk.channels + 1, pk.fields, pk.shift, out)
    assert not np.array_equal(out, ref)


def test_packed_refuses_one_beyond_its_bound_and_auto_falls_back():
    # kh*kw*max|x|*max|w| = 2048 > 2047: no flush interval is exact; forcing it is an error, auto takes direct
    x, w = _bound_case(32, 64, 4)
    b = operand_bounds(32, 32, -64, 64, 4, 1, "t")
    assert direct_packing(b) is None
    with pytest.raises(K.KernelInputError, match="method 'packed' needs"):
        K.conv2d_acc(x, w, 1, 0, 1, "packed")
    assert auto_method(b, True) == "direct"
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 0, 1), naive.conv2d(x, w, 1, 0, 1))


@pytest.mark.parametrize("xmax,wmax,taps", [(3, 1, 9), (7, 3, 9), (15, 7, 9), (15, 7, 1), (255, 1, 1), (1, 127, 9)])
def test_packing_proof_by_brute_force(xmax, wmax, taps):
    """Every partial sum of a flush interval at the worst case (all products at +-pmax in both fields):
    each field within +-(2^(S-1) - 1) and the packed float32 value an exact integer below 2^24."""
    b = OperandBounds(0, xmax, -wmax, wmax, 64 * taps, taps)
    pk = direct_packing(b)
    if pk is None:
        assert taps * xmax * wmax > PACK_FIELD_MAX
        return
    n = pk.channels * taps
    for s0, s1 in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        f0 = np.cumsum(np.full(n, s0 * xmax * wmax, np.int64))
        f1 = np.cumsum(np.full(n, s1 * xmax * wmax, np.int64))
        assert np.abs(f0).max() <= PACK_FIELD_MAX and np.abs(f1).max() <= PACK_FIELD_MAX
        packed = f0 + (f1 << PACK_SHIFT)
        assert np.abs(packed).max() < 2**24
        assert np.array_equal(packed.astype(np.float32).astype(np.int64), packed)
        decoded1 = (packed + (1 << (PACK_SHIFT - 1))) >> PACK_SHIFT
        assert np.array_equal(decoded1, f1) and np.array_equal(packed - (decoded1 << PACK_SHIFT), f0)


@pytest.mark.parametrize("bits,want", [(2, "packed"), (3, "packed"), (4, "direct"), (8, "direct")])
def test_auto_takes_packed_for_sub_byte_codes(bits, want):
    q = 2 ** (bits - 1) - 1
    assert auto_method(OperandBounds(0, 2**bits - 1, -q, q, 16 * 9, 9), True) == want
    assert auto_method(OperandBounds(0, 2**bits - 1, -q, q, 64 * 9, 9), False) == "fp32"    # big layers: the GEMM


@pytest.mark.parametrize("method", ["direct", "packed"])
@pytest.mark.parametrize("stride", [1, 2])
def test_direct_plane_buffers_are_reused_exactly(method, stride):
    """Calls of one shape share a phase-plane buffer: a second call with other codes is still exact."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 4, (2, 5, 9, 7)).astype(np.uint8)
        w = _twos(rng, (6, 5, 3, 3), 2).astype(np.int8)
        np.testing.assert_array_equal(K.conv2d_acc(x, w, stride, 1, 1, method), naive.conv2d(x, w, stride, 1, 1))
