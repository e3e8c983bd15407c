"""The PE simulator's digit convs, shift-accumulate and cycle walk against the naive numpy reference
(tests/naive_pe.py): outputs, overflow counts, largest |psum| / |running sum| and cycles, exactly, over
random shapes, strides, padding, groups, widths narrow enough to overflow, and skipping on and off."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hwsim.dataflow.layers import LayerShape
from hwsim.dataflow.organisations import get_organisation
from hwsim.hwconfig import load_hw_config
from hwsim.pe import get_pe_kind, sim as pe_sim
from hwsim.pe.bounds import digit_max, pe_bounds
from hwsim.pe.cycles import padded_nhwc, skipped_block_steps
from hwsim.pe.sim import PESimulator
from tests import naive_pe

# every shipped design (the papers' configurations under papers/ included), and the skipping kinds on a systolic
# array (whose plan has fill and drain steps)
DESIGNS = sorted(p.relative_to("hw_configs").with_suffix("").as_posix() for p in Path("hw_configs").rglob("*.yaml")) \
    + ["loom@ws", "stripes@os", "loom@is"]


def design(name: str):
    base, _, dataflow = name.partition("@")
    hw = load_hw_config(f"hw_configs/{base}.yaml")
    if dataflow:
        hw = dataclasses.replace(hw, array=dataclasses.replace(hw.array, organisation="systolic", dataflow=dataflow,
                                                               reduce_lanes=None))
    return hw


def random_layer(rng):
    """(x codes, w codes, stride, padding, groups, a_bits, w_bits): small random geometry, extremes present,
    some activation bit-planes zero in places so that skipping has blocks to skip."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cg, og = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    k = int(rng.choice([1, 2, 3]))
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h, w_ = int(rng.integers(k, 8)), int(rng.integers(k, 8))
    a_bits, w_bits = int(rng.integers(1, 9)), int(rng.integers(2, 9))
    x = rng.integers(0, 2 ** a_bits, (int(rng.integers(1, 4)), cg * groups, h, w_))
    x &= rng.choice([2 ** a_bits - 1, 2 ** a_bits - 2, 2 ** a_bits - 5], x.shape)     # planes off in places
    x[0, 0, 0, 0] = 2 ** a_bits - 1
    q = 2 ** (w_bits - 1) - 1
    w = rng.integers(-q - 1, q + 1, (og * groups, cg, k, k))
    w.flat[0], w.flat[-1] = -q - 1, q
    return x.astype(np.uint8), w.astype(np.int8), stride, padding, groups, a_bits, w_bits


def expected_cycles(hw, kind, x, w, stride, padding, groups, w_bits, a_bits, skipping):
    """(cycles, without skipping) of the layer from the organisation's plan and the naive block walk."""
    pe = hw.pe
    shape = LayerShape("l", "conv", x.shape[1], w.shape[0], w.shape[2], w.shape[3], stride, padding, groups,
                       x.shape[2], x.shape[3], "acc")
    lanes, step = kind.lanes(pe, w_bits, a_bits), kind.steps(pe, w_bits, a_bits)
    runs = x.shape[0] * groups
    plan = get_organisation(hw.array.organisation).step_plan(shape, hw.array, lanes)
    if plan is None:
        c = runs * int(get_organisation(hw.array.organisation).group_cycles(shape, hw.array, lanes, step))
        return c, c
    da = kind.digits(pe, w_bits, a_bits)[0]
    saved, blocks = naive_pe.block_steps(x, w.shape[2], w.shape[3], stride, padding, groups, plan.segments, plan.bm,
                                         plan.bk, da, -(-a_bits // da),
                                         lambda z: kind.skipped_steps(pe, w_bits, a_bits, z))
    fill = runs * plan.overhead_steps * step
    no_skip = fill + plan.reps * blocks * step
    return (fill + plan.reps * saved if skipping else no_skip), no_skip


@pytest.mark.parametrize("name", DESIGNS)
def test_layer_equals_naive_digit_reference(name):
    base = design(name)
    kind = get_pe_kind(base.pe.kind)
    rng = np.random.default_rng(sum(map(ord, name)))
    seen_overflow = False
    for case in range(8):
        x, w, s, p, g, a_bits, w_bits = random_layer(rng)
        a_bits, w_bits = min(a_bits, base.pe.a_bits_max), min(w_bits, base.pe.w_bits_max)
        x = np.minimum(x, 2 ** a_bits - 1).astype(np.uint8)
        q = 2 ** (w_bits - 1)
        w = np.clip(w, -q, q - 1).astype(np.int8)
        psum_bits = int(rng.choice([3, 5, 8, base.pe.partial_sum_bits]))   # narrow ones overflow
        acc_bits = int(rng.choice([psum_bits, psum_bits + 2, base.pe.accumulator_bits]))
        if case == 0:       # all-max codes over K = 36 into 3-bit adders: every design overflows both
            x, w = np.full((1, 4, 4, 4), 2 ** a_bits - 1, np.uint8), np.full((2, 4, 3, 3), q - 1, np.int8)
            s, p, g, psum_bits, acc_bits = 1, 1, 1, 3, 3
        hw = dataclasses.replace(base, pe=dataclasses.replace(base.pe, partial_sum_bits=psum_bits,
                                                              accumulator_bits=acc_bits))
        da, dw = kind.digits(hw.pe, w_bits, a_bits)
        want = naive_pe.pe_layer(x, w, s, p, g, a_bits, w_bits, da, dw, psum_bits, acc_bits)
        for skipping in ((False, True) if kind.supports_skipping else (False,)):
            sim = PESimulator(hw, skipping=skipping)
            got = sim.conv_impl(x, w, s, p, g, "l", w_bits, a_bits)
            c = sim.counts["l"]
            where = f"{name} case {case} w{w_bits}a{a_bits} s{s} p{p} g{g} psum {psum_bits} acc {acc_bits} skip {skipping}"
            np.testing.assert_array_equal(got, want[0], err_msg=where)
            assert (c.psum_overflows, c.acc_overflows, c.max_psum, c.max_acc) == want[1:], where
            assert (c.cycles, c.cycles_no_skip) == expected_cycles(hw, kind, x, w, s, p, g, w_bits, a_bits,
                                                                   skipping), where
            assert c.samples == x.shape[0]
        seen_overflow |= want[1] > 0 and want[2] > 0
    assert seen_overflow, "no case overflowed: the counts were not exercised"


def test_chunks_of_samples_give_the_same_layer(monkeypatch):
    """A layer split into one-sample chunks (the products' memory bound) sums the same counts."""
    hw = load_hw_config("hw_configs/loom.yaml")
    narrow = dataclasses.replace(hw, pe=dataclasses.replace(hw.pe, partial_sum_bits=6, accumulator_bits=9))
    rng = np.random.default_rng(3)
    x = rng.integers(0, 16, (5, 6, 7, 7)).astype(np.uint8)
    w = rng.integers(-8, 8, (4, 3, 3, 3)).astype(np.int8)
    whole = PESimulator(narrow, skipping=True)
    a = whole.conv_impl(x, w, 1, 1, 2, "l", 4, 4)
    monkeypatch.setattr(pe_sim, "_CHUNK_ELEMS", 1)
    chunked = PESimulator(narrow, skipping=True)
    b = chunked.conv_impl(x, w, 1, 1, 2, "l", 4, 4)
    np.testing.assert_array_equal(a, b)
    assert whole.counts["l"] == chunked.counts["l"] and whole.counts["l"].acc_overflows > 0


def test_block_walk_equals_naive_on_any_plan():
    """Blocks spanning several taps, segments that do not divide K, blocks wider than a segment."""
    rng = np.random.default_rng(4)
    for case in range(40):
        x, w, s, p, g, a_bits, _ = random_layer(rng)
        k = w.shape[2]
        da = int(rng.choice([1, 2, 3]))
        nd = -(-a_bits // da)
        segments, bm, bk = int(rng.choice([1, 2, 5, k * k])), int(rng.integers(1, 6)), int(rng.integers(1, 9))
        table = rng.integers(0, 100, nd + 1)
        ho, wo = (x.shape[2] + 2 * p - k) // s + 1, (x.shape[3] + 2 * p - k) // s + 1
        got = skipped_block_steps(padded_nhwc(x, p), g, k, k, s, ho, wo, segments, bm, bk, da, nd, table)
        want, _ = naive_pe.block_steps(x, k, k, s, p, g, segments, bm, bk, da, nd, lambda z: int(table[z]))
        assert got == want, f"case {case}: segments {segments} bm {bm} bk {bk} da {da}"


def test_digit_bounds_hold_for_every_code_and_are_reached_on_full_ranges():
    rng = np.random.default_rng(5)
    for bits, d in [(b, d) for b in range(1, 9) for d in (1, 2, 3, 8)]:
        for signed in (False, True):
            full = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
            for lo, hi in [full] + [tuple(sorted(rng.integers(full[0], full[1] + 1, 2))) for _ in range(5)]:
                lo, hi = int(lo), int(hi)
                actual = [int(np.abs(v).max()) for v in naive_pe.digits(np.arange(lo, hi + 1), bits, d)]
                bound = digit_max(lo, hi, bits, d)
                assert all(b >= a for a, b in zip(actual, bound)), (bits, d, lo, hi, actual, bound)
                if (lo, hi) == full:
                    assert bound == actual, (bits, d, lo, hi)


@pytest.mark.parametrize("name", ["stripes", "loom", "bitfusion", "tpu_int8"])
def test_pe_bounds_bound_every_sum_and_are_reached_by_all_max_codes(name):
    """Random layers stay within the bounds; all-max positive codes without padding reach both exactly."""
    hw = design(name)
    kind = get_pe_kind(hw.pe.kind)
    rng = np.random.default_rng(6)
    for case in range(6):
        x, w, s, p, g, a_bits, w_bits = random_layer(rng)
        a_bits, w_bits = min(a_bits, hw.pe.a_bits_max), min(w_bits, hw.pe.w_bits_max)
        x = np.minimum(x, 2 ** a_bits - 1)
        w = np.clip(w, -2 ** (w_bits - 1), 2 ** (w_bits - 1) - 1)
        if case == 0:
            x, w, p = np.full_like(x, 2 ** a_bits - 1), np.full_like(w, 2 ** (w_bits - 1) - 1), 0
        da, dw = kind.digits(hw.pe, w_bits, a_bits)
        k = w.shape[1] * w.shape[2] * w.shape[3]
        b = pe_bounds((int(x.min()), int(x.max())), (int(w.min()), int(w.max())), k, a_bits, w_bits, da, dw)
        _, _, _, max_p, max_a = naive_pe.pe_layer(x, w, s, p, g, a_bits, w_bits, da, dw, 64, 64)
        assert max_p <= b.psum and max_a <= b.acc, (name, case)
        if case == 0:
            assert (max_p, max_a) == (b.psum, b.acc), name


@pytest.mark.parametrize("name", ["stripes", "loom@ws", "bitfusion", "tpu_int8"])
def test_shortcut_gives_the_same_layer_where_proven_and_the_digit_path_elsewhere(name):
    """exact_stats=False: the direct conv where the bounds prove the widths, so the same accumulators, no
    overflow and the same cycles, max_psum / max_acc upper bounds of the exact ones; where they do not prove
    it (narrow widths), the digit path with its exact counts."""
    base = design(name)
    kind = get_pe_kind(base.pe.kind)
    rng = np.random.default_rng(7)
    proven = refused = 0
    for case in range(10):
        x, w, s, p, g, a_bits, w_bits = random_layer(rng)
        a_bits, w_bits = min(a_bits, base.pe.a_bits_max), min(w_bits, base.pe.w_bits_max)
        x = np.minimum(x, 2 ** a_bits - 1).astype(np.uint8)
        w = np.clip(w, -2 ** (w_bits - 1), 2 ** (w_bits - 1) - 1).astype(np.int8)
        narrow = case % 3 == 2
        hw = dataclasses.replace(base, pe=dataclasses.replace(base.pe, partial_sum_bits=4, accumulator_bits=6)) \
            if narrow else base
        skipping = kind.supports_skipping and bool(case % 2)
        exact, fast = PESimulator(hw, skipping=skipping), PESimulator(hw, skipping=skipping, exact_stats=False)
        np.testing.assert_array_equal(fast.conv_impl(x, w, s, p, g, "l", w_bits, a_bits),
                                      exact.conv_impl(x, w, s, p, g, "l", w_bits, a_bits))
        e, f = exact.counts["l"], fast.counts["l"]
        assert (f.cycles, f.cycles_no_skip, f.samples) == (e.cycles, e.cycles_no_skip, e.samples)
        if f.stats_exact:                   # the bounds did not prove it: the digit path ran
            refused += 1
            assert f == e
        else:
            proven += 1
            assert not narrow and e.psum_overflows == e.acc_overflows == 0 == f.psum_overflows == f.acc_overflows
            assert f.max_psum >= e.max_psum and f.max_acc >= e.max_acc
    assert proven and refused


def test_shortcut_at_the_width_bound():
    """Sums of exactly 2^7 - 1 fit 8-bit adders (shortcut taken, no overflow); of 2^7 they do not (the digit
    path runs and counts them)."""
    base = design("stripes")
    hw = dataclasses.replace(base, pe=dataclasses.replace(base.pe, partial_sum_bits=8, accumulator_bits=8))
    for k in (127, 128):
        x, w = np.ones((1, k, 2, 2), np.uint8), np.ones((3, k, 1, 1), np.int8)
        fast = PESimulator(hw, exact_stats=False)
        got = fast.conv_impl(x, w, 1, 0, 1, "l", 2, 1)
        np.testing.assert_array_equal(got, np.full((1, 3, 2, 2), k))
        c = fast.counts["l"]
        assert c.stats_exact == (k == 128) and c.max_psum == c.max_acc == k
        assert (c.psum_overflows, c.acc_overflows) == ((0, 0) if k == 127 else (12, 12))


@pytest.mark.parametrize("name", ["stripes", "loom", "bitfusion", "loom@os"])
def test_digits_zero_in_every_code_are_skipped_exactly(name):
    """Activations with their low and top digits 0 everywhere, weights >= 0 with a zero low digit: the pairs
    of those digits are not computed, yet outputs, overflow counts (a skipped step repeats an overflowing
    running sum, counted again) and largest values equal the naive reference's, which computes every pair."""
    base = design(name)
    kind = get_pe_kind(base.pe.kind)
    rng = np.random.default_rng(8)
    for psum_bits, acc_bits in ((4, 5), (5, 9), (base.pe.partial_sum_bits, base.pe.accumulator_bits)):
        hw = dataclasses.replace(base, pe=dataclasses.replace(base.pe, partial_sum_bits=psum_bits,
                                                              accumulator_bits=acc_bits))
        a_bits, w_bits = 6, 6
        da, dw = kind.digits(hw.pe, w_bits, a_bits)
        x = (rng.integers(0, 2 ** (a_bits - da) // (1 << da), (2, 6, 5, 5)) << da).astype(np.uint8)   # digits 0, top 0
        lw = dw if dw < w_bits else 0        # a single-digit weight (Stripes) has no low digit to clear
        w = (rng.integers(0, 2 ** (w_bits - 1) >> lw, (4, 3, 3, 3)) << lw).astype(np.int8)    # digit 0, sign 0
        want = naive_pe.pe_layer(x, w, 1, 1, 2, a_bits, w_bits, da, dw, psum_bits, acc_bits)
        sim = PESimulator(hw)
        np.testing.assert_array_equal(sim.conv_impl(x, w, 1, 1, 2, "l", w_bits, a_bits), want[0])
        c = sim.counts["l"]
        assert (c.psum_overflows, c.acc_overflows, c.max_psum, c.max_acc) == want[1:], (name, psum_bits, acc_bits)
        if psum_bits == 4:
            assert want[2] > 0


def test_digit_planes_in_the_conv_layout_equal_the_naive_digits():
    """digit_planes_nhwc: kept digits of byte codes as a zero padded NHWC buffer (channels padded to cp), row
    k*N + n digit keep[k] of sample n, its value range exact; against tests/naive_pe.digits."""
    from hwsim.pe.digits import digit_planes_nhwc
    rng = np.random.default_rng(7)
    for _ in range(30):
        bits, d = int(rng.integers(1, 9)), int(rng.choice([1, 2, 3, 8]))
        n_dig = -(-bits // d)
        x = rng.integers(0, 2**bits, (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 6)),
                                      int(rng.integers(1, 6)))).astype(rng.choice([np.uint8, np.int32]))
        keep = sorted(rng.choice(n_dig, int(rng.integers(1, n_dig + 1)), replace=False).tolist())
        pad, cp = int(rng.integers(0, 3)), -(-x.shape[1] // 4) * 4 + 4 * int(rng.integers(0, 2))
        got = digit_planes_nhwc(x, keep, bits, d, pad, cp)
        N, C, H, W = x.shape
        want = np.zeros((len(keep) * N, H + 2 * pad, W + 2 * pad, cp), np.int64)
        dig = naive_pe.digits(x, bits, d)
        for k, j in enumerate(keep):
            want[k * N:(k + 1) * N, pad:pad + H, pad:pad + W, :C] = dig[j].transpose(0, 2, 3, 1)
        where = f"bits {bits} d {d} keep {keep} pad {pad} cp {cp} {x.shape}"
        np.testing.assert_array_equal(got.buf, want, err_msg=where)
        inner = np.stack([dig[j] for j in keep])
        assert got.pad == pad and got.value_range == (int(inner.min()), int(inner.max())), where


def test_weight_digits_follow_codes_changed_in_place():
    """The per-network cache of weight digits hands back a split only for equal codes: the same array changed
    in place is split again (the layer then equals the naive reference for the new codes)."""
    hw = load_hw_config("hw_configs/loom.yaml")
    rng = np.random.default_rng(5)
    x = rng.integers(0, 16, (2, 4, 5, 5)).astype(np.uint8)
    w = rng.integers(-8, 8, (4, 4, 3, 3)).astype(np.int8)
    da, dw = get_pe_kind(hw.pe.kind).digits(hw.pe, 4, 4)
    PESimulator(hw).conv_impl(x, w, 1, 1, 1, "l", 4, 4)
    w[...] = rng.integers(-8, 8, w.shape)
    w[0, 0, 0, 0] = -8
    got = PESimulator(hw).conv_impl(x, w, 1, 1, 1, "l", 4, 4)
    want = naive_pe.pe_layer(x, w, 1, 1, 1, 4, 4, da, dw, hw.pe.partial_sum_bits, hw.pe.accumulator_bits)
    np.testing.assert_array_equal(got, want[0])


def test_wide_codes_run_int64_sums_and_match_the_naive_reference():
    """16-bit codes (not bytes: NCHW digit convs) whose running sums need int64 (shift_accumulate's int64 form)."""
    base = load_hw_config("hw_configs/loom.yaml")
    hw = dataclasses.replace(base, pe=dataclasses.replace(base.pe, w_bits_max=16, a_bits_max=16,
                                                          partial_sum_bits=20, accumulator_bits=40))
    rng = np.random.default_rng(11)
    x = rng.integers(0, 2**16, (2, 3, 5, 5)).astype(np.int32)
    w = rng.integers(-(2**15), 2**15, (4, 3, 3, 3)).astype(np.int32)
    x[0, 0, 0, 0], w[0, 0, 0, 0] = 2**16 - 1, -(2**15)
    da, dw = get_pe_kind(hw.pe.kind).digits(hw.pe, 16, 16)
    sim = PESimulator(hw)
    got = sim.conv_impl(x, w, 1, 1, 1, "l", 16, 16)
    assert got.dtype == np.int64
    want = naive_pe.pe_layer(x, w, 1, 1, 1, 16, 16, da, dw, 20, 40)
    np.testing.assert_array_equal(got, want[0])
    c = sim.counts["l"]
    assert (c.psum_overflows, c.acc_overflows, c.max_psum, c.max_acc) == want[1:]
