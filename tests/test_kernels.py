"""hwsim.kernels against the slow references in tests/naive.py, at boundary values and on bad input."""
from __future__ import annotations


import numpy as np
import pytest

from hwsim import kernels as K
from hwsim.errors import UserError
from hwsim.kernels.conv_methods import plan_conv
from hwsim.kernels.conv_plan import OperandBounds, fp32_chunks, operand_bounds, prefers_direct
from hwsim.kernels.nhwc import new_padded
from tests import naive

RNG = np.random.default_rng(1234)


def _plan(x_lo, x_hi, w_lo, w_hi, k, method, where, taps=1, direct_ok=False):
    """(method, accumulator dtype, chunk parameter) the planner picks for these operand ranges."""
    p = plan_conv(operand_bounds(x_lo, x_hi, w_lo, w_hi, k, taps, where), method, where, direct_ok)
    return p.method, p.accd, p.param


def _codes(rng, shape, bits, signed):
    """Random codes of the contract: unsigned [0, 2^b - 1] or symmetric signed [-(2^(b-1) - 1), 2^(b-1) - 1]."""
    if signed:
        q = 2 ** (bits - 1) - 1
        return rng.integers(-q, q + 1, shape)
    return rng.integers(0, 2**bits, shape)


# ---------------------------------------------------------------------------------------------- conv / linear
CONV_CASES = [  # (N, C, H, W, O, k, stride, padding, groups)
    (2, 3, 7, 7, 5, 3, 1, 1, 1),
    (1, 4, 8, 6, 6, 3, 2, 1, 2),
    (3, 6, 5, 5, 6, 3, 1, 1, 6),     # depthwise
    (2, 8, 9, 9, 4, 1, 2, 0, 1),     # 1x1 strided (shortcut)
    (1, 16, 6, 6, 17, 3, 1, 0, 1),   # O not a multiple of the register tile
    (2, 2, 4, 4, 3, 5, 1, 2, 1),     # kernel larger than the unpadded input
    (1, 12, 11, 7, 8, 3, 3, 1, 4),
    (1, 96, 4, 4, 5, 3, 1, 1, 1),    # K = 864 > one 512 chunk; channel runs straddle the chunk edge
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("bits", [(2, 2), (3, 4), (4, 8), (8, 8)])
def test_conv_matches_naive(case, bits):
    n, c, h, w_, o, k, s, p, g = case
    wb, ab = bits
    x = _codes(RNG, (n, c, h, w_), ab, False).astype(np.uint8)
    w = _codes(RNG, (o, c // g, k, k), wb, True).astype(np.int8)
    got = K.conv2d_acc(x, w, s, p, g)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, naive.conv2d(x, w, s, p, g))


@pytest.mark.parametrize("method", ["direct", "fp32", "int8", "int64"])
@pytest.mark.parametrize("case", CONV_CASES[:3] + CONV_CASES[-1:])
def test_every_method_matches_naive(case, method):
    n, c, h, w_, o, k, s, p, g = case
    x = _codes(RNG, (n, c, h, w_), 8, False).astype(np.uint8)
    w = _codes(RNG, (o, c // g, k, k), 8, True).astype(np.int8)
    got = K.conv2d_acc(x, w, s, p, g, method)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, naive.conv2d(x, w, s, p, g))


# fp32 chunk length at 8x8-bit codes: floor((2^24 - 1) / (255 * 127)) = 518
KC_8X8 = (2**24 - 1) // (255 * 127)


@pytest.mark.parametrize("k", [KC_8X8 - 1, KC_8X8, KC_8X8 + 1, 2 * KC_8X8, 2 * KC_8X8 + 1, 2304])
def test_fp32_chunks_at_the_2p24_boundary(k):
    """Max-magnitude codes: one chunk's sum is 518 * 255 * 127 = 16774930, the largest below 2^24; one term
    more would pass 2^24 (where float32 starts to round), so K just beyond a multiple of 518 must split."""
    x = np.full((1, k, 1, 2), 255, np.uint8)
    w = np.full((3, k, 1, 1), 127, np.int8)
    w[1] = -127
    w[2, ::2] = -127                        # alternating signs: cancellation inside a chunk
    x[0, ::3, 0, 1] = 254                   # second column: not all equal, so rounding would show
    got = K.conv2d_acc(x, w, 1, 0, 1, "fp32")
    np.testing.assert_array_equal(got, naive.conv2d(x, w, 1, 0, 1))
    assert got[0, 0, 0, 0] == 255 * 127 * k
    np.testing.assert_array_equal(K.linear_acc(x[0, :, 0, :].T.copy(), w[:, :, 0, 0], "fp32"),
                                  naive.linear(x[0, :, 0, :].T, w[:, :, 0, 0]))


@pytest.mark.parametrize("g", [2, 64])
def test_fp32_groups_and_depthwise_beyond_one_chunk(g):
    cg = 288 if g == 2 else 64                     # K = 9 * cg: 2592 (6 chunks) or 576 (2 chunks)
    x = np.full((2, g * cg, 4, 4), 255, np.uint8)
    x[1] = _codes(RNG, (g * cg, 4, 4), 8, False)
    w = np.where(RNG.random((g, cg, 3, 3)) < 0.5, -127, 127).astype(np.int8)
    got = K.conv2d_acc(x, w, 1, 1, g)
    np.testing.assert_array_equal(got, naive.conv2d(x, w, 1, 1, g))
    xd = _codes(RNG, (2, 32, 6, 6), 8, False).astype(np.uint8)   # depthwise: G = C = O, K = 9
    wd = _codes(RNG, (32, 1, 3, 3), 8, True).astype(np.int8)
    np.testing.assert_array_equal(K.conv2d_acc(xd, wd, 2, 1, 32), naive.conv2d(xd, wd, 2, 1, 32))


def _worst_chunk_sum(x, w, groups, stride, padding, center, k0, k1):
    """Brute force: max over outputs of sum |x_k - center| |w_k| over K range [k0, k1) (padding counts 0),
    the bound that exactness of the float32 chunk sums needs."""
    kh, kw = w.shape[2:]
    valid = K.im2col(np.ones_like(x), kh, kw, stride, padding, groups)
    a = np.abs(K.im2col(x, kh, kw, stride, padding, groups) - center * valid)[:, :, k0:k1]   # (G, M, Kc)
    b = np.abs(K.weight_matrix(w, groups))[:, :, k0:k1]                                     # (G, Og, Kc)
    return int(np.einsum("gmk,gok->gmo", a, b).max())


def _shaped_codes(dist, shape, rng):
    if dist == "uniform":
        x = rng.integers(0, 256, shape)
    elif dist == "relu":
        x = np.clip(rng.normal(0, 60, shape), 0, 255)
    elif dist == "sparse_large":
        x = np.where(rng.random(shape) < 0.1, 255, 0)
    elif dist == "high_band":                # all codes in [200, 255]: centring shrinks them most
        x = rng.integers(200, 256, shape)
    else:                                   # all energy in one pixel: the pixel bound is tight there
        x = np.zeros(shape)
        x[-1, :, shape[2] // 2, shape[3] // 2] = 255
    return x.astype(np.uint8)


@pytest.mark.parametrize("dist", ["uniform", "relu", "sparse_large", "high_band", "one_hot_pixel"])
@pytest.mark.parametrize("g,stride,padding,kk", [(1, 1, 1, 3), (2, 1, 1, 3), (1, 2, 2, 5)])
def test_fp32_chunk_plan_is_exact(dist, g, stride, padding, kk):
    """Every chunk the fp32 planner returns tiles K and keeps sum |x - center||w| (hence every partial sum,
    in any order) within 2^24 - 1, checked by brute force on data shaped to make the Cauchy-Schwarz and
    centring bounds tight or loose; the conv itself (with the centring correction at the borders) matches
    the naive reference."""
    rng = np.random.default_rng(7)
    c = 128 * g
    x = _shaped_codes(dist, (2, c, 6, 6), rng)
    w = rng.integers(-127, 128, (32, c // g, kk, kk)).astype(np.int8)
    w[0] = 127                               # one output channel at full magnitude
    k = kk * kk * c // g
    center, chunks, _ = fp32_chunks(x, w, g, OperandBounds(int(x.min()), int(x.max()), -127, 127, k, kk * kk))
    assert chunks[0][0] == 0 and chunks[-1][1] == k and all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    for k0, k1 in chunks:
        assert _worst_chunk_sum(x, w, g, stride, padding, center, k0, k1) <= 2**24 - 1
    np.testing.assert_array_equal(K.conv2d_acc(x, w, stride, padding, g, "fp32"),
                                  naive.conv2d(x, w, stride, padding, g))


def test_fp32_plan_takes_fewer_chunks_than_the_element_bound():
    """Uniform random 8-bit codes at K = 2304 (the benchmark's ResNet-18 layer): the element bound needs 5
    chunks of 518; Cauchy-Schwarz alone proves 2 tap-aligned chunks exact, and with the codes centred on
    their midpoint 1; the result is still exact."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (2, 256, 6, 6)).astype(np.uint8)
    w = rng.integers(-127, 128, (8, 256, 3, 3)).astype(np.int8)
    center, uncentered, _ = fp32_chunks(x, w, 1, OperandBounds(-1, 255, -127, 127, 2304, 9))   # signed: no centring
    assert center == 0 and len(uncentered) == 2 and all(k0 % 256 == 0 for k0, _ in uncentered)
    center, chunks, tap_sums = fp32_chunks(x, w, 1, OperandBounds(0, 255, -127, 127, 2304, 9))
    assert (center, chunks) == (128, [(0, 2304)])
    np.testing.assert_array_equal(tap_sums, w.astype(np.int64).sum(1).reshape(8, 9))
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 1, 1, "fp32"), naive.conv2d(x, w, 1, 1, 1))


@pytest.mark.parametrize("case", CONV_CASES + [
    (2, 7, 9, 8, 5, 2, 2, 1, 1),     # even kernel, stride 2: taps in 4 phase planes
    (1, 5, 9, 9, 4, 5, 3, 2, 1),     # 5x5 stride 3: 25 taps = 8 groups of 3 + 1
    (2, 9, 7, 6, 6, 3, 2, 0, 3),     # grouped, stride 2, no padding
    (1, 1, 10, 12, 3, 3, 1, 1, 1),   # a single input channel
])
def test_direct_matches_naive(case):
    n, c, h, w_, o, k, s, p, g = case
    x = _codes(RNG, (n, c, h, w_), 8, False).astype(np.uint8)
    w = _codes(RNG, (o, c // g, k, k), 8, True).astype(np.int8)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, s, p, g, "direct"), naive.conv2d(x, w, s, p, g))


# direct flushes its float sums every cc = floor((2^24 - 1) / (9 * 255 * 127)) = 57 input channels (3x3)
CC_8X8 = (2**24 - 1) // (9 * 255 * 127)


@pytest.mark.parametrize("c", [CC_8X8, CC_8X8 + 1, 2 * CC_8X8 + 1])
def test_direct_flushes_at_the_2p24_boundary(c):
    """Max-magnitude codes: 57 channels of 9 taps sum to 57 * 9 * 255 * 127 = 16613505 < 2^24; a 58th
    channel would pass 2^24 inside one float sum, so the sums must be flushed to integers between."""
    x = np.full((1, c, 3, 4), 255, np.uint8)
    x[0, ::3, 1, 3] = 254                   # second output pixel: not all equal, so rounding would show
    w = np.full((3, c, 3, 3), 127, np.int8)
    w[1] = -127
    w[2, ::2] = -127                        # alternating signs: cancellation inside a flush interval
    got = K.conv2d_acc(x, w, 1, 0, 1, "direct")
    np.testing.assert_array_equal(got, naive.conv2d(x, w, 1, 0, 1))
    assert got[0, 0, 0, 0] == 255 * 127 * 9 * c


def test_direct_with_one_channel_flushes_and_its_limit():
    x = np.full((1, 3, 4, 4), 1365, np.int64)           # 9 * 1365 * 1365 = 16769025 < 2^24: cc = 1
    w = np.full((2, 3, 3, 3), 1365, np.int64)
    w[1, :, ::2] = -1365
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 1, 1, "direct"), naive.conv2d(x, w, 1, 1, 1))
    with pytest.raises(K.KernelInputError, match="method 'direct' needs"):
        K.conv2d_acc(x + 1, w, 1, 1, 1, "direct")      # 9 * 1366 * 1365 > 2^24 - 1


@pytest.mark.parametrize("shape,want", [
    ((16, 16, 3, 1), "direct"),        # ResNet-20 stage 1
    ((32, 32, 3, 1), "direct"),
    ((64, 64, 3, 1), "fp32"),          # Cg*Og > 1024
    ((256, 256, 3, 1), "fp32"),        # ResNet-18 stage 3
    ((16, 32, 3, 2), "fp32"),          # stride 2
    ((16, 16, 1, 1), "fp32"),          # 1x1
    ((1, 1, 3, 2), "direct"),          # depthwise (Cg == 1), any stride
])
def test_auto_prefers_direct_for_small_channel_counts(shape, want):
    cg, og, k, s = shape
    taps = k * k
    method = _plan(0, 255, -127, 127, cg * taps, "auto", "t", taps, prefers_direct(cg, og, taps, s))[0]
    assert method == want
    # where direct would not be exact (9 * 1366 * 1365 > 2^24 - 1), auto falls back
    assert _plan(0, 1366, -1365, 1365, 9, "auto", "t", 9, True)[0] == "int64"


@pytest.mark.parametrize("xmax,wmax,k,want", [
    (255, 127, 2304, ("fp32", np.int32, 461)),          # 5 near-equal chunks <= 518
    (15, 7, 2304, ("fp32", np.int32, 2304)),            # 4-bit codes: one chunk
    (0, 127, 9, ("fp32", np.int32, 9)),                 # all-zero operand
    (255, 4112, 64, ("fp32", np.int32, 16)),            # 16 * 255 * 4112 < 2^24: chunks of 16
    (255, 4113, 64, ("int64", np.int32, 0)),            # chunks would hold < 16 terms: int64
    (2**12, 2**12 - 1, 9, ("int64", np.int32, 0)),      # fp32 would need chunks of one term
    (2**20, 127, 9 * 4, ("int64", np.int64, 0)),        # whole-K bound past int32
])
def test_auto_method_choice(xmax, wmax, k, want):
    method, accd, kc = _plan(0, xmax, -wmax, wmax, k, "auto", "t")
    step = -(-k // -(-k // kc)) if kc else 0
    assert (method, accd, step) == want
    x = np.full((1, k, 1, 1), xmax, np.int64)
    w = np.full((2, k, 1, 1), wmax, np.int64)
    w[1, ::2] = -wmax
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 0, 1), naive.conv2d(x, w, 1, 0, 1))


def test_fp32_with_one_term_chunks():
    x = np.full((1, 9, 2, 2), 2**12, np.int64)          # product 2^24 - 2^12: Kc = 1, nine rank-1 sgemms
    w = np.full((2, 9, 1, 1), 2**12 - 1, np.int64)
    w[1, ::2] = -(2**12 - 1)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 0, 1, "fp32"), naive.conv2d(x, w, 1, 0, 1))


def test_forced_method_that_is_not_exact_is_refused():
    big = np.full((1, 1, 2, 2), 2**12, np.int64)
    with pytest.raises(K.KernelInputError, match="method 'fp32' needs"):
        K.conv2d_acc(big, big[:, :, :1, :1], 1, 0, 1, "fp32")
    with pytest.raises(K.KernelInputError, match="method 'int8' needs"):
        K.conv2d_acc(big, np.ones((1, 1, 1, 1), np.int8), 1, 0, 1, "int8")
    with pytest.raises(K.KernelInputError, match="method must be one of"):
        K.conv2d_acc(U8, W8, 1, 1, 1, "fp16")


@pytest.mark.parametrize("xdtype", [np.int32, np.int64, np.uint16])
def test_conv_accepts_wide_code_dtypes(xdtype):
    x = _codes(RNG, (2, 4, 6, 6), 8, False).astype(xdtype)
    w = _codes(RNG, (4, 2, 3, 3), 4, True).astype(np.int64)
    np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 1, 2), naive.conv2d(x, w, 1, 1, 2))


def test_conv_signed_activations_take_int8_path():
    x = RNG.integers(-128, 128, (2, 5, 6, 6)).astype(np.int32)
    w = RNG.integers(-128, 128, (3, 5, 3, 3)).astype(np.int8)
    got = K.conv2d_acc(x, w, 1, 1, 1)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, naive.conv2d(x, w, 1, 1, 1))


def test_conv_methods_are_one_registry():
    """conv2d_acc dispatches every name through CONV_METHODS: a method registered here runs (its proof
    first), an unknown name lists the registered ones, and names cannot be taken twice."""
    from hwsim.kernels.conv_methods import CONV_METHODS, ConvMethod, register_conv_method
    assert set(CONV_METHODS) == {"direct", "packed", "madd", "fp32", "int8", "int64"}
    calls = []

    def prove(b, where):
        calls.append(("prove", b.k, b.taps, b.xmax, b.wmax))
        return 7

    def run(x, w, stride, padding, groups, plan, out):
        calls.append(("run", plan.method, plan.param))
        out[...] = naive.conv2d(x, w, stride, padding, groups)

    register_conv_method(ConvMethod("naive", prove, run))
    try:
        x = _codes(RNG, (1, 3, 5, 5), 4, False).astype(np.uint8)
        w = _codes(RNG, (2, 3, 3, 3), 4, True).astype(np.int8)
        np.testing.assert_array_equal(K.conv2d_acc(x, w, 1, 1, 1, "naive"), naive.conv2d(x, w, 1, 1, 1))
        assert calls == [("prove", 27, 9, int(x.max()), int(np.abs(w).max())), ("run", "naive", 7)]
        with pytest.raises(K.KernelInputError, match=r"one of \('auto', 'direct', 'packed', 'madd', 'fp32', 'int8', 'int64', 'naive'\)"):
            K.conv2d_acc(x, w, 1, 1, 1, "winograd")
        for name in ("naive", "auto", ""):
            with pytest.raises(ValueError, match="taken|reserved"):
                register_conv_method(ConvMethod(name, prove, run))
    finally:
        del CONV_METHODS["naive"]


def test_conv_widens_to_int64_when_int32_could_wrap():
    # K * max|x| * max|w| = 9 * 4 * 2^20 * 127 > 2^31: must not use the int32 GEMM, and must stay exact
    x = np.full((1, 4, 5, 5), 2**20, np.int64)
    x[0, 0, 0, 0] = 2**20 - 1
    w = np.full((2, 4, 3, 3), 127, np.int8)
    w[1] = -127
    got = K.conv2d_acc(x, w, 1, 1, 1)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, naive.conv2d(x, w, 1, 1, 1))
    assert got.max() > 2**31


def test_conv_int32_path_at_its_bound():
    # worst case that still fits int32 exactly: every term at the maximum magnitude, K = 2304 (ResNet-18)
    x = np.full((1, 256, 3, 3), 255, np.uint8)
    w = np.full((2, 256, 3, 3), -128, np.int8)
    w[1] = 127
    got = K.conv2d_acc(x, w, 1, 0, 1)
    assert got.dtype == np.int32
    assert got[0, 0, 0, 0] == -255 * 128 * 2304 and got[0, 1, 0, 0] == 255 * 127 * 2304


@pytest.mark.parametrize("wb,ab", [(2, 2), (2, 3), (3, 2), (3, 3), (4, 4)])
def test_every_code_pair(wb, ab):
    """Exhaustive small bit-widths: every activation code times every weight code, through linear_acc."""
    xs = np.arange(2**ab).reshape(-1, 1).astype(np.uint8)
    q = 2 ** (wb - 1) - 1
    ws = np.arange(-q, q + 1).reshape(-1, 1).astype(np.int8)
    got = K.linear_acc(xs, ws)
    assert got.tolist() == [[a * b for b in range(-q, q + 1)] for a in range(2**ab)]
    # and as a 1x1 conv over a spatial map of all codes
    x = np.arange(2**ab, dtype=np.uint8).reshape(1, 1, 1, -1)
    np.testing.assert_array_equal(K.conv2d_acc(x, ws.reshape(-1, 1, 1, 1), 1, 0, 1), naive.conv2d(x, ws.reshape(-1, 1, 1, 1), 1, 0, 1))


@pytest.mark.parametrize("n,k,o", [(1, 1, 1), (5, 64, 10), (7, 300, 13), (3, 1000, 6), (4, 2304, 9)])
def test_linear_matches_naive(n, k, o):
    x = _codes(RNG, (n, k), 8, False).astype(np.uint8)
    w = _codes(RNG, (o, k), 8, True).astype(np.int8)
    np.testing.assert_array_equal(K.linear_acc(x, w), naive.linear(x, w))
    np.testing.assert_array_equal(K.matmul_acc(x, w), naive.linear(x, w))


def test_empty_batch():
    out = K.conv2d_acc(np.zeros((0, 3, 5, 5), np.uint8), np.zeros((4, 3, 3, 3), np.int8), 1, 1, 1)
    assert out.shape == (0, 4, 5, 5)


def test_im2col_and_weight_matrix_compose_to_conv():
    x = _codes(RNG, (2, 4, 5, 5), 3, False)
    w = _codes(RNG, (6, 2, 3, 3), 3, True)
    cols = K.im2col(x, 3, 3, 2, 1, 2)
    wm = K.weight_matrix(w, 2)
    acc = np.einsum("gmk,gok->mgo", cols, wm).reshape(2, 3, 3, 6).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(acc, naive.conv2d(x, w, 2, 1, 2))


# ---------------------------------------------------------------------------------------------- requant
def _boundary_values():
    vals = {0, 1, -1, 2**31 - 1, -(2**31)}
    for e in range(1, 32):
        for d in (-2, -1, 0, 1, 2):
            vals |= {2**e + d, -(2**e) + d}
    return sorted(v for v in vals if -(2**31) <= v <= 2**31 - 1)


M0S = [0, 2**30, 2**30 + 1, 2**31 - 1, -(2**30), -(2**31 - 1), 1518500250, -1234567890]
SHIFTS = [1, 2, 15, 30, 31, 32, 40, 61, 62]


@pytest.mark.parametrize("m0", M0S)
def test_requantize_boundaries_clamped(m0):
    xs = np.array(_boundary_values(), np.int64)
    for shift in SHIFTS:
        acc = xs.reshape(1, 1, -1)
        got = K.requantize(acc, np.zeros(1, np.int64), np.array([m0]), np.array([shift]), 0, 255, True)
        want = [min(max(naive.rq(int(v), m0, shift), 0), 255) for v in xs]
        assert got.ravel().tolist() == want, (m0, shift)


@pytest.mark.parametrize("shift", SHIFTS)
def test_requantize_boundaries_unclamped(shift):
    """Unclamped: exact where the result fits int32, and a KernelInputError (never a wrap) where it does not."""
    for m0 in M0S:
        xs = _boundary_values()
        want = [naive.rq(v, m0, shift) for v in xs]
        fits = [v for v, y in zip(xs, want) if -(2**31) <= y <= 2**31 - 1]
        got = K.requantize(np.array(fits, np.int64).reshape(1, 1, -1), np.zeros(1, np.int64), np.array([m0]), np.array([shift]),
                           -5, 5, False)
        assert got.ravel().tolist() == [naive.rq(v, m0, shift) for v in fits], (m0, shift)
        wide = [v for v, y in zip(xs, want) if not -(2**31) <= y <= 2**31 - 1]
        for v in wide[:1] + wide[-1:]:
            with pytest.raises(K.KernelInputError, match="does not fit int32"):
                K.requantize(np.array([[v]], np.int64), np.zeros(1, np.int64), np.array([m0]), np.array([shift]),
                             -5, 5, False)


def test_requantize_per_channel_with_bias_4d():
    acc = RNG.integers(-(2**20), 2**20, (2, 3, 4, 5)).astype(np.int32)
    bias = np.array([-(2**21), 17, 2**21], np.int64)
    m0 = np.array([2**30, -(2**31 - 1), 0], np.int64)
    shift = np.array([32, 35, 1], np.int64)
    got = K.requantize(acc, bias, m0, shift, 0, 1000, True)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, naive.requantize(acc, bias, m0, shift, 0, 1000, True))
    got = K.requantize(acc, bias, m0, shift, 0, 15, False)
    np.testing.assert_array_equal(got, naive.requantize(acc, bias, m0, shift, 0, 15, False))


def test_requantize_refuses_product_overflow():
    acc = np.array([[2**40]], np.int64)
    with pytest.raises(K.KernelInputError, match="overflows int64"):
        K.requantize(acc, np.zeros(1, np.int64), np.array([2**31 - 1]), np.array([62]), 0, 255, True)


FRACS = [0, 1, -1, 2**30, -(2**30), 2**29 + 7]


@pytest.mark.parametrize("frac", FRACS)
def test_requantize_with_frac_at_boundaries(frac):
    """The frac term against the Python-int reference, clamped to int32 so every value is representable."""
    xs = np.array(_boundary_values(), np.int64)
    for m0 in M0S:
        for shift in SHIFTS:
            got = K.requantize(xs.reshape(1, 1, -1), np.zeros(1, np.int64), np.array([m0]), np.array([shift]),
                               -(2**31), 2**31 - 1, True, np.array([frac]))
            want = [min(max(naive.rq(int(v), m0, shift, frac), -(2**31)), 2**31 - 1) for v in xs]
            assert got.ravel().tolist() == want, (m0, shift, frac)


def test_requantize_per_channel_frac_4d():
    acc = RNG.integers(-(2**20), 2**20, (2, 3, 4, 5)).astype(np.int32)
    bias = np.array([-(2**21), 17, 2**21], np.int64)
    m0 = np.array([2**30, -(2**31 - 1), 0], np.int64)
    shift = np.array([22, 35, 1], np.int64)
    frac = np.array([-(2**30), 2**30, 12345], np.int64)
    for lo, hi, clamp in ((0, 1000, True), (0, 15, False)):
        np.testing.assert_array_equal(K.requantize(acc, bias, m0, shift, lo, hi, clamp, frac),
                                      naive.requantize(acc, bias, m0, shift, lo, hi, clamp, frac))


def test_requantize_overflow_limit_counts_frac():
    """x*M0 + 2^(shift-1) fits int64 at x = 3*2^31 - 1 (M0 = 2^30, shift 62) but adding frac = 2^30 reaches
    2^63: refused with frac, exact one step lower and without frac (the limit on |x| is symmetric)."""
    m0, shift, x = np.array([2**30]), np.array([62]), 3 * 2**31 - 1
    assert x * 2**30 + 2**61 == 2**63 - 2**30
    for v, frac in ((x, 0), (x - 1, 2**30), (-x, 0), (1 - x, -(2**30))):
        got = K.requantize(np.array([[v]], np.int64), None, m0, shift, -(2**31), 2**31 - 1, False, np.array([frac]))
        assert int(got[0, 0]) == naive.rq(v, 2**30, 62, frac)
    for v, frac in ((x, 2**30), (-x, -(2**30)), (x + 1, 0), (-x - 1, 0)):
        with pytest.raises(K.KernelInputError, match=f"acc \\+ bias = {v} at channel 0 overflows int64"):
            K.requantize(np.array([[v]], np.int64), None, m0, shift, -(2**31), 2**31 - 1, False, np.array([frac]))


def test_rq_bounds_match_brute_force():
    """Per-channel extremes of rq over [lo, hi], against every x of small ranges (both signs of M0)."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        c = int(rng.integers(1, 4))
        lo = rng.integers(-300, 300, c)
        hi = lo + rng.integers(0, 40, c)
        m0 = rng.choice([0, 2**30, 2**31 - 1, -(2**30), -1518500250], c)
        shift = rng.integers(20, 40, c)
        frac = rng.choice([0, 2**30, -(2**30), 7], c)
        vals = [naive.rq(x, int(m), int(s), int(f)) for l, h, m, s, f in zip(lo, hi, m0, shift, frac)
                for x in range(int(l), int(h) + 1)]
        assert K.rq_bounds(lo, hi, m0, shift, frac) == (min(vals), max(vals))
    assert K.rq_bounds([], [], [], []) == (0, 0)
    assert K.rq_bounds([2**62], [2**62], [2**31 - 1], [1]) == ((2**62 * (2**31 - 1) + 1) // 2,) * 2   # no wrap


@pytest.mark.parametrize("x", [2**31, -(2**31), 2**31 + 1, -(2**31) - 1, 2**40])
@pytest.mark.parametrize("m0", [2**31 - 1, -(2**31 - 1), 2**30])
@pytest.mark.parametrize("shift,frac", [(1, 2**30), (62, -(2**30)), (31, 2**30), (2, 0)])
def test_rq_bounds_at_the_int64_limits_of_its_vector_form(x, m0, shift, frac):
    """At |x| = 2^31 (the widest the int64 numpy form takes), every |M0| and shift extreme and |frac| = 2^30,
    and just beyond (|x| = 2^31 + 1: the Python-int form), against naive.rq on Python ints."""
    want = naive.rq(x, m0, shift, frac)
    for dt in (np.int64, np.int32 if -(2**31) <= x < 2**31 else np.int64):
        got = K.rq_bounds(np.array([x], dt), np.array([x], dt), np.array([m0]), np.array([shift]), np.array([frac]))
        assert got == (want, want)


def test_rescale_scalar():
    codes = np.arange(0, 256, dtype=np.int32).reshape(1, 4, 8, 8)
    for m0, shift in [(2**30, 31), (-(2**31 - 1), 33), (1518500250, 40), (0, 5)]:
        got = K.rescale(codes, m0, shift)
        assert got.shape == codes.shape and got.dtype == np.int32
        assert got.ravel().tolist() == [naive.rq(int(v), m0, shift) for v in codes.ravel()]


def test_add_clamp():
    a = RNG.integers(-300, 300, (2, 3, 4, 4)).astype(np.int32)
    b = RNG.integers(-300, 300, (2, 3, 4, 4)).astype(np.int32)
    np.testing.assert_array_equal(K.add_clamp(a, b, 0, 15), naive.add_clamp(a, b, 0, 15))
    big = np.full((1, 2), 2**31 - 1, np.int32)    # the sum is formed in int64: saturates, never wraps
    assert K.add_clamp(big, big, 0, 255).tolist() == [[255, 255]]


# ---------------------------------------------------------------------------------------------- pooling
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (1, 1, 0), (3, 3, 0)])
def test_maxpool(k, s, p):
    x = _codes(RNG, (2, 3, 7, 6), 4, False).astype(np.int32)
    np.testing.assert_array_equal(K.maxpool2d(x, k, s, p), naive.maxpool2d(x, k, s, p))


def test_global_sum():
    x = _codes(RNG, (3, 5, 4, 4), 8, False).astype(np.int32)
    got = K.global_sum(x)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, naive.global_sum(x))


# ---------------------------------------------------------------------------------------------- bad input
U8 = np.zeros((1, 2, 4, 4), np.uint8)
W8 = np.zeros((2, 2, 3, 3), np.int8)
ONE = np.ones(2, np.int64)


@pytest.mark.parametrize("call,match", [
    (lambda: K.conv2d_acc(U8.astype(np.float32), W8, 1, 1, 1), "x must have an integer dtype"),
    (lambda: K.conv2d_acc(U8[0], W8, 1, 1, 1), "x must have 4 dimensions"),
    (lambda: K.conv2d_acc(U8, W8.astype(bool), 1, 1, 1), "w must have an integer dtype"),
    (lambda: K.conv2d_acc(U8, W8, 0, 1, 1), "stride must be in"),
    (lambda: K.conv2d_acc(U8, W8, 1, -1, 1), "padding must be in"),
    (lambda: K.conv2d_acc(U8, W8, 1, 1.0, 1), "padding must be an integer"),
    (lambda: K.conv2d_acc(U8, W8, 1, 1, 3), "groups=3 must divide"),
    (lambda: K.conv2d_acc(U8, W8, 1, 1, 2), "w has 2 input channels per group"),
    (lambda: K.conv2d_acc(U8, np.zeros((2, 2, 7, 7), np.int8), 1, 1, 1), "does not fit input 4x4"),
    (lambda: K.conv2d_acc(np.full((1, 2, 4, 4), 2**40, np.int64), np.full((2, 2, 3, 3), 2**40), 1, 1, 1),
     "does not fit int64"),
    (lambda: K.linear_acc(np.zeros((2, 3), np.uint8), np.zeros((4, 5), np.int8)), "x has 3 features"),
    (lambda: K.requantize(np.zeros((1, 2)), None, ONE * 2**30, ONE, 0, 3, True), "acc must have an integer"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, ONE * 2**29, ONE, 0, 3, True), r"m0\[0\] = 536870912"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, ONE * 2**31, ONE, 0, 3, True), "m0"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, ONE * 2**30, ONE * 0, 0, 3, True), r"shift\[0\] = 0"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, ONE * 2**30, ONE * 63, 0, 3, True), r"shift\[0\] = 63"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, np.ones(3, np.int64) * 2**30, ONE, 0, 3, True),
     "3 entries for 2 channels"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, ONE * 2**30, ONE, 4, 3, True), "hi must be in"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, ONE * 2**30, ONE, 0, 3, 1), "clamp must be a bool"),
    (lambda: K.requantize(np.zeros((1, 2), np.int32), None, ONE * 2**30, ONE, 0, 3, True, ONE * (2**30 + 1)),
     r"frac\[0\] = 1073741825"),
    (lambda: K.rescale(np.zeros((1, 2), np.int32), 2**31, 3), "m0 must be in"),
    (lambda: K.add_clamp(np.zeros((1, 2), np.int32), np.zeros((2, 1), np.int32), 0, 3), "shapes differ"),
    (lambda: K.maxpool2d(-np.ones((1, 1, 4, 4), np.int32), 2, 2, 0), "needs codes in"),
    (lambda: K.maxpool2d(np.ones((1, 1, 4, 4), np.int32), 2, 2, 2), "padding must be in"),
    (lambda: K.maxpool2d([[1]], 2, 2, 0), "x must be a numpy array"),
])
def test_bad_input_is_a_clear_user_error(call, match):
    with pytest.raises(UserError, match=match):
        call()


@pytest.mark.parametrize("seed", range(6))
def test_conv_reads_a_padded_nhwc_input_as_the_naive_conv(seed):
    """conv2d_acc of a PaddedNHWC (madd reads it in place where it can; grouped, signed or narrow-ring inputs
    are converted) equals the naive conv of the same codes: random shapes, strides, padding, rings, groups, widths."""
    rng = np.random.default_rng(seed)
    for _ in range(6):
        groups = int(rng.choice([1, 1, 2]))
        cg, og, k = int(rng.choice([3, 4, 5, 8])), int(rng.integers(1, 20)), int(rng.choice([1, 3]))
        stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
        ring = padding + int(rng.integers(0, 2)) if rng.random() < 0.8 else max(0, padding - 1)
        h, w_ = int(rng.integers(k, 9)), int(rng.integers(k, 9))
        a_bits, w_bits = int(rng.integers(1, 8)), int(rng.integers(2, 9))     # madd's proof holds to 7 x 8 bits
        x = rng.integers(0, 2**a_bits, (int(rng.integers(1, 4)), cg * groups, h, w_)).astype(np.uint8)
        w = rng.integers(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), (og * groups, cg, k, k)).astype(np.int8)
        xp = new_padded(x.shape, ring, np.uint8)
        xp.interior()[...] = x.transpose(0, 2, 3, 1).reshape(x.shape[0], h, -1)
        want = naive.conv2d(x, w, stride, padding, groups)
        for method in ("auto", "madd"):
            np.testing.assert_array_equal(K.conv2d_acc(xp, w, stride, padding, groups, method), want,
                                          err_msg=f"{method} g{groups} s{stride} p{padding} ring {ring} {x.shape} {w.shape}")


def test_weights_are_packed_once_only_when_they_cannot_change():
    """madd's packed weights are kept only for read-only arrays owning their memory: a writeable array (or a
    view) changed in place between two convs gives the new conv, an immutable one is packed once."""
    from hwsim.kernels.conv_madd import pack_weights, packed_weights
    rng = np.random.default_rng(2)
    x = rng.integers(0, 16, (2, 8, 6, 6)).astype(np.uint8)
    w = rng.integers(-8, 8, (16, 8, 3, 3)).astype(np.int8)
    for arr in (w, w[:]):
        K.conv2d_acc(x, arr, 1, 1, 1, "madd")
        arr[...] = rng.integers(-8, 8, w.shape)
        np.testing.assert_array_equal(K.conv2d_acc(x, arr, 1, 1, 1, "madd"), naive.conv2d(x, arr, 1, 1, 1))
    frozen = w.copy()
    frozen.flags.writeable = False
    first = packed_weights(frozen, 8)
    assert packed_weights(frozen, 8) is first
    np.testing.assert_array_equal(first, pack_weights(frozen, 8))
    np.testing.assert_array_equal(K.conv2d_acc(x, frozen, 1, 1, 1, "madd"), naive.conv2d(x, frozen, 1, 1, 1))
