"""conv2d_requant (the madd conv with requantisation fused into its tile loop) against an independent torch
int64 reference (F.conv2d on int64, quantnet.intref.rq) and against the unfused path (conv2d_acc, then
requantize_ranged): codes, per-channel ranges of acc + bias, clamp boundaries, rounding ties, the refusal of
an unclamped result beyond int32, and the fall-back where the fused store is not provably exact."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwsim import kernels as K
from hwsim.kernels import conv_requant
from hwsim.kernels.conv import planned_conv
from hwsim.kernels.conv_requant import conv2d_requant, fused_requant_fits
from hwsim.kernels.madd_tile import HAS_AVX2
from quantnet.intref import rq as torch_rq

RNG = np.random.default_rng(1919)
needs_avx2 = pytest.mark.skipif(not HAS_AVX2, reason="auto takes madd (and so the fused store) only on AVX2")

SHAPES = [  # (N, C, H, W, O, k, stride, padding): tiles across image ends, O not a multiple of 16, 1x1, strided
    (2, 16, 8, 8, 16, 3, 1, 1),
    (3, 5, 7, 5, 33, 3, 2, 1),
    (2, 8, 9, 9, 20, 1, 2, 0),
    (1, 3, 6, 7, 17, 3, 1, 0),
    (4, 32, 4, 4, 64, 3, 1, 1),
    (2, 12, 5, 6, 7, 5, 3, 2),
]
WIDTHS = [(1, 1), (2, 2), (3, 3), (4, 4), (2, 8), (4, 8), (6, 3)]    # (w_bits, a_bits)


def _codes(shape, w_bits, a_bits):
    n, c, h, w_, o, k = shape[:6]
    x = RNG.integers(0, 2**a_bits, (n, c, h, w_)).astype(np.uint8)
    w = RNG.integers(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), (o, c, k, k)).astype(np.int8)
    if w_bits == 1:
        w = RNG.choice(np.array([-1, 1], np.int8), w.shape)
    return x, w


def _params(acc_span: int, o: int, hi: int):
    """Per-channel parameters mapping |acc| <= acc_span to about +-2*(hi + 1), both signs of M0 (and its
    extremes 2^30, 2^31 - 1 and 0), so results fall on and beyond both clamp ends."""
    m0 = RNG.integers(2**30, 2**31, o) * RNG.choice([-1, 1], o)
    m0[:4] = [2**30, 2**31 - 1, -(2**30), 0]
    shift = np.full(o, 31 + max(0, int(acc_span).bit_length() - (2 * (hi + 1)).bit_length()))
    bias = RNG.integers(-(acc_span // 2) - 1, acc_span // 2 + 1, o)
    frac = RNG.integers(-(2**30), 2**30 + 1, o)
    return bias, m0, shift, frac


def _torch_ref(x, w, s, p, bias, m0, shift, frac, lo, hi, clamp):
    """(codes, per-channel min and max of acc + bias), all in torch int64."""
    acc = F.conv2d(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(w.astype(np.int64)), None, s, p)
    ch = [torch.from_numpy(np.asarray(v, np.int64)).view(1, -1, 1, 1) for v in (bias, m0, shift, frac)]
    xb = acc + ch[0]
    y = torch_rq(xb, ch[1], ch[2], ch[3])
    y = y.clamp(lo, hi) if clamp else y
    return y.numpy(), xb.amin(dim=(0, 2, 3)).numpy(), xb.amax(dim=(0, 2, 3)).numpy()


def _assert_same(got, ref, unfused):
    for g, r, u in zip(got, ref, unfused):
        np.testing.assert_array_equal(g, r)
        np.testing.assert_array_equal(g, u)
    assert got[0].dtype == unfused[0].dtype


@needs_avx2
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("wb,ab", WIDTHS)
@pytest.mark.parametrize("clamp", [True, False])
def test_fused_matches_torch_int64_and_the_unfused_path(shape, wb, ab, clamp, monkeypatch):
    x, w = _codes(shape, wb, ab)
    s, p = shape[6], shape[7]
    hi = 2 ** ab - 1 if clamp else 2**31 - 1
    acc = F.conv2d(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(w.astype(np.int64)), None, s, p)
    span = int(acc.abs().max()) + 1            # the actual accumulators' reach, so the codes span the clamp
    bias, m0, shift, frac = _params(span, w.shape[0], min(hi, 2**15))
    rp = K.requant_params(w.shape[0], bias, m0, shift, frac)
    plan = planned_conv(x, w, s, p, 1, "auto", "t")[3]
    assert fused_requant_fits(plan, 1, rp)          # this test is about the fused store
    lo = 0 if clamp else -(2**31)
    ref = _torch_ref(x, w, s, p, bias, m0, shift, frac, lo, hi, clamp)
    unfused = K.requantize_ranged(K.conv2d_acc(x, w, s, p, 1), rp, 0, 2**ab - 1, clamp, narrow=True)

    def no_accumulators(*a, **k):
        raise AssertionError("the fused path wrote int32 accumulators")
    monkeypatch.setattr(conv_requant, "conv2d_acc", no_accumulators)
    got = conv2d_requant(x, w, s, p, 1, rp, 0, 2**ab - 1, clamp, narrow=True)
    _assert_same(got, ref, unfused)
    if clamp:
        assert got[0].dtype == np.uint8 and (got[0] == 0).any() and (got[0] == hi).any()


@needs_avx2
@pytest.mark.parametrize("m0,shift", [(2**30, 31), (-(2**30), 31), (2**30, 32), (2**31 - 1, 31)])
def test_rounding_ties_and_clamp_edges(m0, shift):
    """M0 = +-2^30 with shift 31 or 32 puts every odd (or every 2 mod 4) acc + bias exactly on a half: round
    half up; frac +-1 moves them off it. Every output code from below 0 to above the top is reached."""
    x = np.zeros((1, 4, 8, 8), np.uint8)
    x[0, 0] = np.arange(64).reshape(8, 8) % 16            # acc at the centre tap = x * w[o, 0, 0, 0]
    w = np.zeros((16, 4, 1, 1), np.int8)
    w[:, 0, 0, 0] = np.arange(-8, 8)
    for frac in (-1, 0, 1):
        bias = RNG.integers(-40, 41, 16)
        rp = K.requant_params(16, bias, m0, shift, frac)
        ref = _torch_ref(x, w, 1, 0, bias, np.full(16, m0), np.full(16, shift), np.full(16, frac), 0, 15, True)
        got = conv2d_requant(x, w, 1, 0, 1, rp, 0, 15, True, narrow=True)
        unfused = K.requantize_ranged(K.conv2d_acc(x, w, 1, 0, 1), rp, 0, 15, True, narrow=True)
        _assert_same(got, ref, unfused)


@needs_avx2
def test_unclamped_result_beyond_int32_is_refused_after_the_range_is_seen():
    x = np.full((1, 16, 3, 3), 15, np.uint8)
    w = np.full((16, 16, 3, 3), 7, np.int8)                # acc = 144 * 105 = 15120 at the centre
    rp = K.requant_params(16, 0, 2**31 - 1, 1)                # acc * (2^31 - 1) / 2: beyond int32
    for fn in (conv2d_requant, lambda *a, **k: K.requantize_ranged(K.conv2d_acc(*a[:5]), *a[5:], **k)):
        seen = []
        with pytest.raises(K.KernelInputError, match="does not fit int32"):
            fn(x, w, 1, 1, 1, rp, 0, 15, False, on_range=lambda a, b: seen.append((int(a.min()), int(b.max()))))
        assert seen == [(4 * 15 * 7 * 16, 15120)]


@needs_avx2
@pytest.mark.parametrize("extra", [0, 1])
def test_fused_only_where_acc_plus_bias_fits_int32(extra, monkeypatch):
    """The fused store's proof: K*max|x|*max|w| + |bias| <= 2^31 - 1; at the bound it fuses, one beyond it
    the conv runs unfused (and both give the reference's codes)."""
    x, w = _codes((2, 8, 6, 6, 16, 3, 1, 1), 4, 4)
    plan = planned_conv(x, w, 1, 1, 1, "auto", "t")[3]
    bound = plan.bounds.k * plan.bounds.pmax
    bias = np.zeros(16, np.int64)
    bias[3] = -(2**31 - 1 - bound + extra)
    rp = K.requant_params(16, bias, 2**30, 40)
    assert fused_requant_fits(plan, 1, rp) == (extra == 0)
    calls = []
    real = conv_requant.conv2d_acc
    monkeypatch.setattr(conv_requant, "conv2d_acc", lambda *a, **k: calls.append(1) or real(*a, **k))
    got = conv2d_requant(x, w, 1, 1, 1, rp, 0, 15, True, narrow=True)
    assert len(calls) == extra
    ref = _torch_ref(x, w, 1, 1, bias, np.full(16, 2**30), np.full(16, 40), np.zeros(16), 0, 15, True)
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("wb,ab,groups", [(8, 8, 1), (4, 4, 2)])
def test_unfusable_convs_fall_back_to_the_same_codes(wb, ab, groups):
    """8-bit x 8-bit codes (madd's pair bound fails) and grouped convs take the unfused path."""
    n, c, o = 2, 8, 16
    x = RNG.integers(0, 2**ab, (n, c, 6, 6)).astype(np.uint8)
    w = RNG.integers(-(2 ** (wb - 1)) + 1, 2 ** (wb - 1), (o, c // groups, 3, 3)).astype(np.int8)
    w[0, 0, 0, 0], x[0, 0, 0, 0] = 2 ** (wb - 1) - 1, 2**ab - 1
    bias, m0, shift, frac = _params(c * 9 * 2 ** (ab + wb), o, 2**ab - 1)
    rp = K.requant_params(o, bias, m0, shift, frac)
    assert not fused_requant_fits(planned_conv(x, w, 1, 1, groups, "auto", "t")[3], groups, rp)
    got = conv2d_requant(x, w, 1, 1, groups, rp, 0, 2**ab - 1, True, narrow=True)
    acc = F.conv2d(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(w.astype(np.int64)), None, 1, 1, 1, groups)
    ch = [torch.from_numpy(np.asarray(v, np.int64)).view(1, -1, 1, 1) for v in (bias, m0, shift, frac)]
    np.testing.assert_array_equal(got[0], torch_rq(acc + ch[0], ch[1], ch[2], ch[3]).clamp(0, 2**ab - 1).numpy())


def test_tile_shifts_take_the_high_word_form_where_every_shift_is_at_least_32_or_rq_fits_int32():
    from hwsim.kernels.conv_madd import tile_shifts
    for sh, fits in (([32, 62, 40], False), ([31, 62, 1], True), ([32], True)):
        hw = tile_shifts(np.array(sh, np.int64), lambda: fits)
        assert hw.dtype == np.int32 and hw.tolist() == [s - 32 for s in sh]
    for sh in ([31, 62, 40], [1]):
        got = tile_shifts(np.array(sh, np.int64), lambda: False)
        assert got.dtype == np.int64 and got.tolist() == sh
    # with every shift >= 32 the reach of rq is not needed, so it is not computed
    tile_shifts(np.array([32, 40], np.int64), lambda: pytest.fail("rq_int32 asked although every shift >= 32"))


@needs_avx2
@pytest.mark.parametrize("shifts", [(32, 33, 47, 62), (31, 32, 47, 62)])
def test_high_word_requant_at_its_limits(shifts):
    """|acc + bias| up to 2^31 - 1 (the fused bound), |M0| = 2^31 - 1 and 2^30, |frac| = 2^30, shifts 32 and 62
    (the high word's smallest and largest shift - 32, 0 and 30), unclamped: the tiles' rq against torch int64.
    With a shift of 31 among the channels the whole layer takes the 64-bit form; both must agree."""
    x = np.full((1, 16, 4, 4), 15, np.uint8)
    x[0, :, 1:3, 1:3] = 0                                   # acc spans 0 (the inner pixels) to the extremes
    w = np.full((16, 16, 3, 3), 7, np.int8)
    w[1::2] = -8
    plan = planned_conv(x, w, 1, 1, 1, "auto", "t")[3]
    bound = plan.bounds.k * plan.bounds.pmax
    m0 = np.array([2**31 - 1, -(2**31 - 1), 2**30, -(2**30)] * 4, np.int64)
    shift = np.repeat(np.array(shifts, np.int64), 4)
    frac = np.array([2**30, -(2**30)] * 8, np.int64)
    bias = np.where(np.arange(16) % 2, 2**31 - 1 - bound, -(2**31 - 1 - bound)).astype(np.int64)
    rp = K.requant_params(16, bias, m0, shift, frac)
    assert fused_requant_fits(plan, 1, rp)
    ref = _torch_ref(x, w, 1, 1, bias, m0, shift, frac, -(2**31), 2**31 - 1, False)
    assert max(abs(int(ref[1].min())), int(ref[2].max())) > 2**31 - 2 * bound      # near the int32 ends
    got = conv2d_requant(x, w, 1, 1, 1, rp, -(2**31), 2**31 - 1, False)
    unfused = K.requantize_ranged(K.conv2d_acc(x, w, 1, 1, 1), rp, -(2**31), 2**31 - 1, False)
    _assert_same(got, ref, unfused)


@needs_avx2
@pytest.mark.parametrize("extra", [0, 1])
def test_high_word_left_shift_where_rq_reaches_int32_max_and_one_beyond(extra):
    """Shift 20 < 32: the high-word form shifts P left by 12 first, exact only while every rq value is int32.
    M0 = 2^30 and frac put rq at the accumulators' bound exactly at 2^31 - 1 (the all-max pixel reaches it):
    high-word form; one more (frac + 2^20) and the 64-bit form must run; both clamp to the same codes."""
    from hwsim.kernels.conv_madd import rq_reach
    x = np.full((2, 16, 2, 2), 15, np.uint8)
    x[1] = RNG.integers(0, 16, (16, 2, 2))
    w = np.full((16, 16, 1, 1), 7, np.int8)
    bound = 16 * 15 * 7
    bias = np.full(16, 2**21 - 1 - bound)
    frac = 2**30 - 2**20 - 2**19 + extra * 2**20          # rq(2^21 - 1) = 1024 * (2^21 - 1) + 1023 + extra
    rp = K.requant_params(16, bias, 2**30, 20, frac)
    plan = planned_conv(x, w, 1, 0, 1, "auto", "t")[3]
    assert fused_requant_fits(plan, 1, rp) and rq_reach(plan, rp) == 2**31 - 1 + extra
    lo, hi = -(2**31), 2**31 - 1
    ref = _torch_ref(x, w, 1, 0, bias, np.full(16, 2**30), np.full(16, 20), np.full(16, frac), lo, hi, True)
    assert (ref[0] == hi).any()
    got = conv2d_requant(x, w, 1, 0, 1, rp, lo, hi, True)
    unfused = K.requantize_ranged(K.conv2d_acc(x, w, 1, 0, 1), rp, lo, hi, True)
    _assert_same(got, ref, unfused)
