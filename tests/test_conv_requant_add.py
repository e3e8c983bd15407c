"""conv2d_requant_add (the residual add inside the unclamped madd conv's tiles) against an independent torch
int64 reference (F.conv2d, quantnet.intref.rq, then the add's rounding and clamp): shortcut byte codes rescaled
in the tile or int32 values, rounding bits, the sums' range, the accumulator bound at the fused proof's limit
and one beyond it (where it declines), and the shapes it declines."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwsim import kernels as K
from hwsim.kernels.madd_tile import HAS_AVX2
from quantnet.intref import rq as torch_rq
from tests.test_nhwc_flow import padded, ring_is_zero

RNG = np.random.default_rng(1922)
pytestmark = pytest.mark.skipif(not HAS_AVX2, reason="the fused madd conv needs AVX2")


def _ref(x, w, s, p, bias, m0, shift, frac, sc, sc_m0, sc_shift, f, lo, hi):
    """(result, sums, per-channel min and max of acc + bias) in torch int64."""
    acc = F.conv2d(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(w.astype(np.int64)), None, s, p)
    ch = [torch.from_numpy(np.asarray(v, np.int64)).view(1, -1, 1, 1) for v in (bias, m0, shift, frac)]
    xb = acc + ch[0]
    y = torch_rq(xb, ch[1], ch[2], ch[3])
    v = torch.from_numpy(sc.astype(np.int64))
    if sc_m0 is not None:
        v = torch_rq(v, torch.tensor(sc_m0), torch.tensor(sc_shift), torch.tensor(0))
    sums = y + v
    out = ((sums + (2 ** (f - 1) if f else 0)) >> f).clamp(lo, hi)
    return out.numpy(), sums.numpy(), xb.amin(dim=(0, 2, 3)).numpy(), xb.amax(dim=(0, 2, 3)).numpy()


SHAPES = [  # (N, C, H, W, O, k, stride, padding): N*Ho*Wo a multiple of 4, O of 16
    (2, 16, 8, 8, 16, 3, 1, 1),
    (4, 8, 7, 5, 32, 3, 2, 1),
    (4, 12, 6, 6, 16, 1, 2, 0),
    (2, 32, 4, 6, 64, 3, 1, 1),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("codes", [True, False])
@pytest.mark.parametrize("f,hi", [(0, 15), (1, 255), (6, 3), (0, 2**31 - 1)])
def test_conv_add_matches_torch_int64(shape, codes, f, hi):
    N, C, H, W, O, k, s, p = shape
    x = RNG.integers(0, 16, (N, C, H, W)).astype(np.uint8)
    w = RNG.integers(-8, 8, (O, C, k, k)).astype(np.int8)
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    span = 64 * C * k * k
    bias = RNG.integers(-span, span + 1, O)
    m0 = RNG.integers(2**30, 2**31, O) * RNG.choice([-1, 1], O)
    shift = RNG.integers(28, 34, O)
    frac = RNG.integers(-(2**30), 2**30 + 1, O)
    rp = K.requant_params(O, bias, m0, shift, frac)
    if codes:
        sc, sc_m0, sc_shift = RNG.integers(0, 256, (N, O, Ho, Wo)).astype(np.uint8), -1_900_000_000, 24
    else:
        sc, sc_m0, sc_shift = RNG.integers(-(2**12), 2**12, (N, O, Ho, Wo)).astype(np.int32), None, 1
    out, sums, lo_c, hi_c = _ref(x, w, s, p, bias, m0, shift, frac, sc, sc_m0, sc_shift, f, 0, hi)
    seen = []
    got = K.conv2d_requant_add(padded(x, p + 1), w, s, p, rp, padded(sc, 2), sc_m0, sc_shift, f, 0, hi,
                               lambda a, b: seen.append((a, b)), narrow=True)
    assert got is not None
    res, (smin, smax) = got
    assert res.pad == 2 and ring_is_zero(res) and res.dtype == (np.uint8 if hi <= 255 else np.int32)
    np.testing.assert_array_equal(res.nchw(), out)
    assert (smin, smax) == (int(sums.min()), int(sums.max()))
    assert res.value_range == (int(out.min()), int(out.max()))
    np.testing.assert_array_equal(seen[0][0], lo_c)
    np.testing.assert_array_equal(seen[0][1], hi_c)


def test_at_the_fused_bound_and_one_beyond():
    """All-max codes (255 x -64: the largest product whose pair sum fits int16) over a 1x1 conv with
    K*max|x|*max|w| + |bias| = 2^31 - 1 exactly: fused and exact; a bias one larger: declined (None)."""
    K_ = (2**31 - 1) // (255 * 64) // 4 * 4        # whole 4-byte words: channels a multiple of 4
    bias0 = 2**31 - 1 - K_ * 255 * 64
    x = np.full((4, K_, 1, 1), 255, np.uint8)
    w = np.full((16, K_, 1, 1), -64, np.int8)
    sc = np.full((4, 16, 1, 1), 255, np.uint8)
    for extra, fused in ((0, True), (1, False)):
        bias = np.full(16, -(bias0 + extra))
        rp = K.requant_params(16, bias, np.full(16, 2**31 - 1), np.full(16, 31), np.zeros(16, np.int64))
        got = K.conv2d_requant_add(padded(x, 0), w, 1, 0, rp, padded(sc, 0), 2**31 - 1, 1, 0, -(2**31), 2**31 - 1)
        assert (got is not None) == fused
        if fused:
            out = _ref(x, w, 1, 0, bias, rp.m0, rp.shift, rp.frac, sc, 2**31 - 1, 1, 0, -(2**31), 2**31 - 1)[0]
            np.testing.assert_array_equal(got[0].nchw(), out)


@pytest.mark.parametrize("case", ["channels", "geometry", "int32 codes", "grouped input"])
def test_declines_what_it_cannot_fuse(case):
    x = RNG.integers(0, 16, (2, 8, 4, 4)).astype(np.uint8)
    O = 20 if case == "channels" else 16
    w = RNG.integers(-8, 8, (O, 8, 3, 3)).astype(np.int8)
    rp = K.requant_params(O, np.zeros(O, np.int64), np.full(O, 2**30), np.full(O, 31), np.zeros(O, np.int64))
    sc = padded(RNG.integers(0, 16, (2, O, 4, 5 if case == "geometry" else 4)).astype(
        np.int32 if case == "int32 codes" else np.uint8), 1)
    xin = padded(x, 1) if case != "grouped input" else x
    assert K.conv2d_requant_add(xin, w, 1, 1, rp, sc, 2**30, 20, 0, 0, 15) is None


@pytest.mark.parametrize("shift", [31, 32])
@pytest.mark.parametrize("extra", [0, 1])
def test_int32_sums_at_their_bound_and_one_beyond(shift, extra):
    """The tiles add, round and clamp in int32 lanes where max|y| + max|v| + 2^(F-1) <= 2^31 - 1: y = rq(acc + bias)
    over the accumulators' bound, v the shortcut's int32 range. Here the all-max pixel reaches that sum exactly;
    one more on v and the int32 rounding would wrap, so the int64 lanes must run (and give the same integers)."""
    from hwsim.kernels.conv_madd import rq_reach, sums_fit_int32
    from hwsim.kernels.conv import planned_conv
    x = np.full((4, 16, 2, 2), 15, np.uint8)
    x[1:] = RNG.integers(0, 16, (3, 16, 2, 2))
    w = np.full((16, 16, 1, 1), 7, np.int8)
    bias = np.full(16, 2**20)
    ymax = ((2**20 + 16 * 15 * 7) * 2**30 + 2 ** (shift - 1)) >> shift     # rq at the accumulators' bound
    vmax = 2**31 - 1 - ymax - 1 + extra                                     # F = 1: rounding adds 1
    sc = np.full((4, 16, 2, 2), vmax, np.int32)
    sc[2:] = RNG.integers(-(2**20), 2**20, (2, 16, 2, 2))
    rp = K.requant_params(16, bias, 2**30, shift, 0)
    plan = planned_conv(x, w, 1, 0, 1, "auto", "t")[3]
    assert rq_reach(plan, rp) == ymax
    assert sums_fit_int32(ymax, padded(sc, 0), 0, 1, 1) == (extra == 0)
    out, sums = _ref(x, w, 1, 0, bias, rp.m0, rp.shift, rp.frac, sc, None, 1, 1, -(2**31), 2**31 - 1)[:2]
    assert int(sums.max()) + 1 == 2**31 - 1 + extra
    got = K.conv2d_requant_add(padded(x, 0), w, 1, 0, rp, padded(sc, 0), None, 1, 1, -(2**31), 2**31 - 1)
    np.testing.assert_array_equal(got[0].nchw(), out)
    assert got[1] == (int(sums.min()), int(sums.max()))
