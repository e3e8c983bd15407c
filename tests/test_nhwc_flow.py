"""Tensors kept as zero padded NHWC buffers between layers (kernels.PaddedNHWC): the fused madd conv reading
and writing them, the residual add on them, and untraced whole-network runs (which keep them) against the
torch int64 reference, with the buffers' zero ring intact across reused runs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwsim import kernels as K
from hwsim.executor import execute
from hwsim.kernels.madd_tile import HAS_AVX2
from hwsim.kernels.nhwc import PaddedNHWC, new_padded
from quantnet.intref import rq as torch_rq
from quantnet.intref import run_reference
from tests import naive
from tests.irgen import GenParams, random_bits, random_input, random_ir

RNG = np.random.default_rng(1921)
needs_avx2 = pytest.mark.skipif(not HAS_AVX2, reason="the fused madd conv (which writes PaddedNHWC) needs AVX2")


def padded(v: np.ndarray, pad: int) -> PaddedNHWC:
    """v (N, C, H, W) copied into a PaddedNHWC with a zero ring of `pad` (by plain numpy slicing)."""
    out = new_padded(v.shape, pad, v.dtype)
    out.buf[...] = 0
    out.buf[:, pad:pad + v.shape[2], pad:pad + v.shape[3], :] = v.transpose(0, 2, 3, 1)
    return out


def ring_is_zero(v: PaddedNHWC) -> bool:
    N, C, H, W = v.shape
    inner = np.zeros(v.buf.shape, bool)
    inner[:, v.pad:v.pad + H, v.pad:v.pad + W, :] = True
    return not v.buf[~inner].any()


SHAPES = [  # (N, C, H, W, O, k, stride, padding): O a multiple of 16, of 4 only (an edge block), not of 4
    (2, 16, 8, 8, 16, 3, 1, 1),
    (3, 8, 7, 5, 20, 3, 2, 1),
    (2, 8, 9, 9, 32, 1, 2, 0),
    (1, 4, 6, 7, 17, 3, 1, 0),
    (2, 32, 5, 6, 64, 3, 1, 1),
]


@needs_avx2
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("extra_in,out_pad", [(0, 1), (1, 0), (2, 2)])
@pytest.mark.parametrize("clamp", [True, False])
def test_fused_conv_on_padded_nhwc_matches_torch_int64(shape, extra_in, out_pad, clamp):
    """Input in a buffer padded wider than the conv reads (extra_in cells more), output written inside a ring of
    out_pad: the codes and per-channel ranges of acc + bias equal F.conv2d in int64 then rq, and the same call
    on NCHW arrays."""
    N, C, H, W, O, k, s, p = shape
    x = RNG.integers(0, 16, (N, C, H, W)).astype(np.uint8)
    w = RNG.integers(-8, 8, (O, C, k, k)).astype(np.int8)
    acc = F.conv2d(torch.from_numpy(x.astype(np.int64)), torch.from_numpy(w.astype(np.int64)), None, s, p)
    span = int(acc.abs().max()) + 1
    bias = RNG.integers(-span // 2, span // 2 + 1, O)
    m0 = RNG.integers(2**30, 2**31, O) * RNG.choice([-1, 1], O)
    shift = np.full(O, 31 + max(0, span.bit_length() - 6))
    frac = RNG.integers(-(2**30), 2**30 + 1, O)
    rp = K.requant_params(O, bias, m0, shift, frac)
    xb = acc + torch.from_numpy(bias).view(1, -1, 1, 1)
    ref = torch_rq(xb, *(torch.from_numpy(np.asarray(v, np.int64)).view(1, -1, 1, 1) for v in (m0, shift, frac)))
    ref = (ref.clamp(0, 15) if clamp else ref).numpy()
    xin = padded(x, p + extra_in)
    got, lo, hi = K.conv2d_requant(xin, w, s, p, 1, rp, 0, 15, clamp, narrow=True, out_pad=out_pad)
    assert isinstance(got, PaddedNHWC) == (O % 4 == 0)
    if isinstance(got, PaddedNHWC):
        assert got.pad == out_pad and ring_is_zero(got)
        assert got.value_range == (int(ref.min()), int(ref.max()))
    np.testing.assert_array_equal(K.as_nchw(got), ref)
    np.testing.assert_array_equal(lo, xb.amin(dim=(0, 2, 3)).numpy())
    np.testing.assert_array_equal(hi, xb.amax(dim=(0, 2, 3)).numpy())
    plain = K.conv2d_requant(x, w, s, p, 1, rp, 0, 15, clamp, narrow=True)
    np.testing.assert_array_equal(plain[0], ref)
    assert plain[0].dtype == got.dtype


@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("f", [0, 3])
def test_adds_on_padded_nhwc_match_naive(pad, f):
    """add_round_clamp and add_rescaled on two PaddedNHWC of one geometry: a PaddedNHWC of the naive sums, its
    ring zero, the ranges over the values only (the ring's zeros excluded: values are kept away from 0)."""
    a = RNG.integers(1000, 5000, (3, 8, 5, 4)).astype(np.int32) * RNG.choice([-1, 1], (3, 8, 5, 4)).astype(np.int32)
    codes = RNG.integers(1, 16, a.shape).astype(np.uint8)
    m0, shift = 1_500_000_000, 27
    resc = np.vectorize(lambda c: naive.rq(int(c), m0, shift))(codes).astype(np.int64)
    out, (smin, smax), (cmin, cmax) = K.add_rescaled(padded(a, pad), padded(codes, pad), m0, shift, f, 0, 255,
                                                     narrow=True)
    assert isinstance(out, PaddedNHWC) and ring_is_zero(out) and out.dtype == np.uint8
    want = naive.add_round_clamp(a, resc, f, 0, 255)
    np.testing.assert_array_equal(out.nchw(), want)
    assert out.value_range == (int(want.min()), int(want.max()))
    s = a.astype(np.int64) + resc
    assert (smin, smax, cmin, cmax) == (int(s.min()), int(s.max()), int(codes.min()), int(codes.max()))
    b = codes.astype(np.int32) + 100
    out, smin, smax = K.add_round_clamp(padded(a, pad), padded(b, pad), f, 0, 255, narrow=True)
    assert isinstance(out, PaddedNHWC) and ring_is_zero(out)
    want = naive.add_round_clamp(a, b, f, 0, 255)
    np.testing.assert_array_equal(out.nchw(), want)
    assert out.value_range == (int(want.min()), int(want.max()))
    assert (smin, smax) == (int((a + b).min()), int((a + b).max()))
    mixed = K.add_round_clamp(padded(a, pad), b, f, 0, 255, narrow=True)[0]     # one NCHW operand: NCHW out
    np.testing.assert_array_equal(mixed, naive.add_round_clamp(a, b, f, 0, 255))


@needs_avx2
def test_untraced_networks_keep_padded_nhwc_and_match_the_reference(monkeypatch):
    """Random IRs (4-channel layers, identity and conv shortcuts, strides) run untraced three times in a row
    (the pool hands the same buffers back): logits equal the torch int64 reference's every time, and the
    convs did write PaddedNHWC tensors, their rings zero."""
    seen = []
    conv2d_requant = K.conv2d_requant

    def spy(*a, **k):
        out = conv2d_requant(*a, **k)
        if isinstance(out[0], PaddedNHWC):
            seen.append(ring_is_zero(out[0]))
        return out
    monkeypatch.setattr(K, "conv2d_requant", spy)
    runs = 0
    for seed in range(40):
        ir = random_ir(GenParams(seed=seed, identity=seed % 2 == 0, channels=4, size=4 + seed % 4,
                                 width=4 + seed % 3, block_stride=1 + seed % 3 // 2))
        if not any(op.kind == "conv" and op.weights_at(max(op.weights)).shape[0] % 4 == 0
                   for op in ir.ops[1:]):
            continue
        rng = np.random.default_rng(seed)
        bits, x = random_bits(ir, rng), random_input(ir, rng, 3)
        ref, _ = run_reference(ir, bits, x)
        for _ in range(3):
            np.testing.assert_array_equal(execute(ir, bits, x).logits, ref)
        runs += 1
    assert runs >= 3 and len(seen) >= 3 and all(seen)


def test_a_deferred_rescales_codes_are_released_only_after_its_add():
    """The pool may hand a released buffer to the next op's output: the codes a deferred rescale holds must stay
    out of it until the add that applies the rescale has read them."""
    from hwsim.executor import _last_reads
    from hwsim.ops.rescale import deferrable
    ir = random_ir(GenParams(seed=7, identity=True, channels=4))
    deferred = deferrable(ir)
    assert deferred
    freed = {t: i for i, ts in _last_reads(ir, deferred).items() for t in ts}
    for op in ir.ops:
        if op.name in deferred:
            add = next(i for i, o in enumerate(ir.ops) if op.output in o.inputs)
            assert freed[op.inputs[0]] >= add
    assert ir.output_name not in freed


@needs_avx2
@pytest.mark.parametrize("identity", [True, False])
def test_residual_adds_fused_into_convs_match_the_reference_and_report_overflows_in_order(identity, monkeypatch):
    """16-channel blocks (so each unclamped conv takes its add into its tiles: kernels.conv2d_requant_add):
    logits equal the torch int64 reference's; with a narrow accumulator and overflow='report', the untraced run
    (deferred convs and rescales) reports the same overflows in the same order as a traced one (nothing
    deferred)."""
    fused = []
    conv2d_requant_add = K.conv2d_requant_add

    def spy(*a, **k):
        out = conv2d_requant_add(*a, **k)
        fused.append(out is not None)
        return out
    monkeypatch.setattr(K, "conv2d_requant_add", spy)
    for seed in range(6):
        ir = random_ir(GenParams(seed=seed, identity=identity, channels=4, hidden=16, size=4 + seed % 3,
                                 width=4 + seed % 2, block_stride=1 + seed % 2))
        rng = np.random.default_rng(seed)
        bits, x = random_bits(ir, rng), random_input(ir, rng, 4)
        ref, _ = run_reference(ir, bits, x)
        np.testing.assert_array_equal(execute(ir, bits, x).logits, ref)
        for acc_bits in (10, 14):
            want = execute(ir, bits, x, acc_bits=acc_bits, overflow="report", trace=True).overflows
            got = execute(ir, bits, x, acc_bits=acc_bits, overflow="report").overflows
            assert got == want
    assert any(fused)


def test_the_pool_hands_a_buffer_back_only_for_its_own_ring():
    """A released buffer's cells inside its ring hold values: the same shape asked for with a wider ring (a run
    of another network, padded 2) must come zeroed there."""
    from hwsim.kernels.buffers import release_buffer
    v = new_padded((2, 4, 3, 3), 1, np.uint8)
    v.buf[:, 1:4, 1:4, :] = 7
    release_buffer(v.buf, 1)
    wider = new_padded((2, 4, 1, 1), 2, np.uint8)
    assert wider.buf.shape == v.buf.shape and ring_is_zero(wider)
