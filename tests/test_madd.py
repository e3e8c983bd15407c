"""The "madd" conv method (byte multiply-adds, int16 lanes flushed into int32) against tests/naive.py, at its
bounds and one beyond them, its x86 and portable tiles against each other, and the planner's proof by
brute force on data shaped to make it tight."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from hwsim import kernels as K
from hwsim.kernels import conv_madd, madd_tile
from hwsim.kernels.conv_plan import I16_MAX, OperandBounds, auto_method, madd_flush_steps, madd_steps, operand_bounds
from hwsim.kernels.madd_tile import MR, NR, tile_madd, tile_portable
from tests import naive
from tests.test_kernels import CONV_CASES

RNG = np.random.default_rng(2024)


def _twos(rng, shape, bits):
    return rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), shape)


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("wb,ab", [(1, 1), (2, 2), (3, 3), (4, 4), (2, 4), (4, 2), (3, 8), (6, 5), (7, 7), (8, 1)])
def test_madd_matches_naive(case, wb, ab):
    n, c, h, w_, o, k, s, p, g = case
    x = RNG.integers(0, 2**ab, (n, c, h, w_)).astype(np.uint8)
    w = _twos(RNG, (o, c // g, k, k), wb).astype(np.int8)
    b = operand_bounds(int(x.min()), int(x.max()), int(w.min()), int(w.max()), c // g * k * k, k * k, "t")
    if madd_steps(b) is None:
        assert 2 * b.pmax > I16_MAX
        return
    got = K.conv2d_acc(x, w, s, p, g, "madd")
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, naive.conv2d(x, w, s, p, g))


@pytest.mark.parametrize("shape", [(3, 16, 8, 8, 16, 3, 1, 1), (2, 5, 9, 7, 33, 3, 2, 1), (1, 4, 3, 5, 10, 1, 1, 0),
                                   (5, 20, 6, 6, 48, 3, 1, 1), (2, 64, 4, 4, 64, 3, 1, 1)])
def test_madd_odd_shapes(shape):
    """Pixel counts and channels that do not fill the 4-row x 16-channel tile; a ragged last tile."""
    n, c, h, w_, o, k, s, p = shape
    x = RNG.integers(0, 16, (n, c, h, w_)).astype(np.int32)          # wider dtypes are taken too
    w = _twos(RNG, (o, c, k, k), 4)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, s, p, 1, "madd"), naive.conv2d(x, w, s, p, 1))


def _all_max(xv: int, wv: int, c: int, o: int = 20):
    """1x1 conv of c channels, activations all xv, weights all wv (every int16 lane grows as fast as it can)."""
    return np.full((2, c, 3, 3), xv, np.uint8), np.full((o, c, 1, 1), wv, np.int8)


def test_madd_at_its_flush_bound_and_one_beyond():
    # 43 * 127 = 5461: a step adds 2 * 5461 = 10922 per int16 lane, 3 steps reach 32766 <= 2^15 - 1
    x, w = _all_max(43, 127, 64)
    b = operand_bounds(43, 43, 127, 127, 64, 1, "t")
    assert madd_steps(b) == 3
    ref = naive.conv2d(x, w, 1, 0, 1)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 0, 1, "madd"), ref)
    # one step more per flush: the lane reaches 43688, wraps, and the result is wrong
    out = np.empty(ref.shape, np.int32)
    _run_tiles(x, w, 4, out)
    assert not np.array_equal(out, ref)
    _run_tiles(x, w, 3, out)
    np.testing.assert_array_equal(out, ref)


def _run_tiles(x, w, nflush, out):
    """conv_madd's tile loop with a chosen flush interval (1x1, stride 1, no padding)."""
    n, c, h, w_ = x.shape
    cp = -(-c // 4) * 4
    xp = np.zeros((n, h, w_, cp), np.uint8)
    xp[..., :c] = x.transpose(0, 2, 3, 1)
    koff = np.arange(cp // 4, dtype=np.int64) * 4
    rowbase = np.arange(n * h * w_, dtype=np.int64) * cp
    madd_tile.conv_tiles(xp.reshape(-1), rowbase, koff, conv_madd.pack_weights(w, cp), nflush, w.shape[0],
                          h * w_, out.reshape(n, w.shape[0], h * w_))


def test_madd_refuses_a_saturating_pair_and_auto_falls_back():
    # 2 * 255 * 64 = 32640 fits int16: exact with a flush every step; 2 * 255 * 65 = 33150 would saturate
    x, w = _all_max(255, 64, 300)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 0, 1, "madd"), naive.conv2d(x, w, 1, 0, 1))
    x, w = _all_max(255, 65, 8)
    with pytest.raises(K.KernelInputError, match="method 'madd' needs 2"):
        K.conv2d_acc(x, w, 1, 0, 1, "madd")
    assert auto_method(operand_bounds(255, 255, 65, 65, 8, 1, "t"), False, True) == "fp32"
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 0, 1), naive.conv2d(x, w, 1, 0, 1))


@pytest.mark.parametrize("bounds,match", [
    ((-1, 3, -1, 1, 9), r"activations in \[0, 255\]"),     # signed activations
    ((0, 256, -1, 1, 9), r"activations in \[0, 255\]"),    # beyond a byte
    ((0, 3, -129, 1, 9), r"weights in \[-128, 127\]"),
    ((0, 15, -7, 7, 2**31 // 105 + 1), "int32 accumulators"),   # K * 15 * 7 past 2^31 - 1
])
def test_madd_refuses_operands_it_cannot_hold(bounds, match):
    with pytest.raises(K.KernelInputError, match=match):
        madd_flush_steps(OperandBounds(*bounds), "t")


def test_madd_int32_bound_is_tight():
    assert madd_steps(OperandBounds(0, 15, -7, 7, 2**31 // 105)) is not None


@pytest.mark.parametrize("xmax,wmax", [(1, 1), (3, 1), (3, 2), (7, 4), (15, 7), (15, 8), (255, 1), (43, 127),
                                       (255, 64), (100, 100), (127, 128)])
def test_flush_interval_by_brute_force(xmax, wmax):
    """Every int16 lane partial sum over a flush interval at the worst case (all pair sums +-2*pmax) stays
    within int16, and one step more would leave it (or the interval already covers any K)."""
    for w_lo, w_hi in [(-wmax, 0)] + ([(0, wmax)] if wmax <= 127 else []):
        n = madd_steps(OperandBounds(0, xmax, w_lo, w_hi, 16))
        if 2 * xmax * wmax > I16_MAX:
            assert n is None
            continue
        for sign in (1, -1):
            lane = np.cumsum(np.full(n + 1, sign * 2 * xmax * wmax, np.int64))
            assert np.abs(lane[:n]).max() <= I16_MAX
            assert abs(lane[n]) > I16_MAX


@njit
def _tiles_both(xflat, rows, koff, wpk, nflush, acc_a, acc_b):
    tile_madd(xflat, rows, koff, np.int64(koff.shape[0]), wpk, np.int64(0), np.int64(nflush), acc_a, acc_a,
              np.int64(-1), np.int64(1))
    tile_portable(xflat, rows, koff, np.int64(koff.shape[0]), wpk, np.int64(0), np.int64(nflush), acc_b, acc_b,
                  np.int64(-1), np.int64(1))


@pytest.mark.parametrize("xmax,wlo,whi", [(255, -64, 64), (15, -8, 7), (3, -2, 1), (200, -81, 0)])
def test_x86_and_portable_tiles_agree_with_numpy(xmax, wlo, whi):
    """The tile on vpmaddubsw (where the CPU has AVX2) and in plain vector IR give the exact int32 dot products."""
    nkq = 37
    a = RNG.integers(0, xmax + 1, (MR, nkq * 4))
    a[0] = xmax                                          # one row at the bound
    wm = RNG.integers(wlo, whi + 1, (NR, nkq * 4))
    wm[0] = wlo if -wlo >= whi else whi
    n = madd_steps(OperandBounds(0, xmax, wlo, whi, nkq * 4))
    xflat = a.astype(np.uint8).reshape(-1)
    rows = np.arange(MR, dtype=np.int64) * nkq * 4
    koff = np.arange(nkq, dtype=np.int64) * 4
    wpk = np.ascontiguousarray(wm.astype(np.int8).reshape(NR, nkq, 4).transpose(1, 0, 2)).reshape(-1)
    acc_a, acc_b = np.empty(MR * NR, np.int32), np.empty(MR * NR, np.int32)
    _tiles_both(xflat, rows, koff, wpk, n, acc_a, acc_b)
    want = (a.astype(np.int64) @ wm.T.astype(np.int64)).reshape(-1)
    np.testing.assert_array_equal(acc_a, want)
    np.testing.assert_array_equal(acc_b, want)


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_auto_takes_madd_for_sub_byte_codes_with_avx2(bits):
    q = 2 ** (bits - 1) - 1
    b = OperandBounds(0, 2**bits - 1, -q, q, 16 * 9, 9)
    assert auto_method(b, True, True) == "madd"
    assert auto_method(b, True, False) in ("direct", "packed")     # without AVX2 or grouped: as before
    x = RNG.integers(0, 2**bits, (2, 16, 6, 6)).astype(np.uint8)
    w = RNG.integers(-q, q + 1, (16, 16, 3, 3)).astype(np.int8)
    assert K.conv2d_acc(x, w, 1, 1, 1).dtype == np.int32
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 1, 1), naive.conv2d(x, w, 1, 1, 1))


@pytest.mark.parametrize("dtype,k", [(np.uint8, 64), (np.int8, 64), (np.int8, 30), (np.int32, 64)])
def test_madd_matmul_reads_byte_rows_in_place(dtype, k):
    """A matmul of byte codes with K a multiple of 4 reads the rows where they are (no padded copy); other
    dtypes and K are copied first. Both exact."""
    a = RNG.integers(0, 4, (37, k)).astype(dtype)
    b = _twos(RNG, (20, k), 4)
    np.testing.assert_array_equal(K.matmul_acc(a, b, "madd"), naive.linear(a, b))
