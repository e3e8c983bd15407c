"""PE decompositions against an independent direct integer conv, overflow reporting, zero-plane skipping."""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest

from hwsim.dataflow.layers import LayerShape
from hwsim.dataflow.mapping import DATAFLOWS
from hwsim.dataflow.organisations import ORGANISATIONS
from hwsim.hwconfig import load_hw_config
from hwsim.pe import PE_KINDS
from hwsim.pe.digits import split_digits
from hwsim.pe.sim import PEOverflow, PESimulator

# every shipped design
CONFIGS = sorted(p.stem for p in Path("hw_configs").glob("*.yaml"))


def direct_conv(x, w, stride, padding, groups):
    """Obvious int64 reference: pad, then sum over taps with einsum per group."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    out = np.zeros((N, O, Ho, Wo), np.int64)
    og = O // groups
    for g in range(groups):
        xs = xp[:, g * Cg:(g + 1) * Cg]
        for ky in range(kh):
            for kx in range(kw):
                patch = xs[:, :, ky:ky + stride * Ho:stride, kx:kx + stride * Wo:stride]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, ky, kx].astype(np.int64))
    return out


def hw(name):
    return load_hw_config(f"hw_configs/{name}.yaml")


@pytest.mark.parametrize("name", CONFIGS)
def test_decomposition_equals_direct_conv_at_every_bit_pair(name):
    cfg = hw(name)
    rng = np.random.default_rng(1)
    sim = PESimulator(cfg)
    for w_bits, a_bits in itertools.product(range(2, 9), range(1, 9)):
        qw = 2 ** (w_bits - 1) - 1
        x = rng.integers(0, 2 ** a_bits, (2, 4, 5, 5)).astype(np.uint8)
        x[0, 0, 0, 0] = 2 ** a_bits - 1                       # the extremes are present
        w = rng.integers(-qw, qw + 1, (6, 2, 3, 3)).astype(np.int8)
        w[0, 0, 0, 0], w[1, 0, 0, 0] = qw, -qw
        got = sim.conv_impl(x, w, 2, 1, 2, f"l{w_bits}{a_bits}", w_bits, a_bits)
        np.testing.assert_array_equal(got, direct_conv(x, w, 2, 1, 2), err_msg=f"{name} w{w_bits}a{a_bits}")


def test_digit_split_recombines_every_code():
    for bits, d in itertools.product(range(1, 9), (1, 2, 3, 8)):
        for signed in (False, True):
            lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
            v = np.arange(lo, hi + 1)
            dig = split_digits(v, bits, d).astype(np.int64)
            back = sum(dig[j] << (d * j) for j in range(len(dig)))
            np.testing.assert_array_equal(back, v)


def test_narrow_accumulator_is_reported_and_can_raise():
    base = hw("stripes")
    narrow = dataclasses.replace(base, pe=dataclasses.replace(base.pe, accumulator_bits=12, partial_sum_bits=8))
    x = np.full((1, 8, 4, 4), 255, np.uint8)
    w = np.full((4, 8, 3, 3), 127, np.int8)
    sim = PESimulator(narrow)
    acc = sim.conv_impl(x, w, 1, 1, 1, "l", 8, 8)
    np.testing.assert_array_equal(acc, direct_conv(x, w, 1, 1, 1))      # exact result, overflow reported
    c = sim.counts["l"]
    assert c.acc_overflows > 0 and c.psum_overflows > 0
    assert c.max_acc == 255 * 127 * 72
    with pytest.raises(PEOverflow, match="12-bit accumulator"):
        PESimulator(narrow, overflow="raise").conv_impl(x, w, 1, 1, 1, "l", 8, 8)
    # the real config is wide enough for the same layer
    ok = PESimulator(base)
    ok.conv_impl(x, w, 1, 1, 1, "l", 8, 8)
    assert ok.counts["l"].acc_overflows == 0 and ok.counts["l"].psum_overflows == 0


@pytest.mark.parametrize("name", ["stripes", "loom"])
def test_zero_plane_skipping_saves_only_on_zero_planes(name):
    cfg = hw(name)
    rng = np.random.default_rng(2)
    w = rng.integers(-7, 8, (8, 4, 3, 3)).astype(np.int8)
    full = np.full((1, 4, 6, 6), 15, np.uint8)                        # every plane set everywhere
    even = (rng.integers(0, 8, (1, 4, 6, 6)) * 2).astype(np.uint8)      # plane 0 zero everywhere
    s = PESimulator(cfg, skipping=True)
    s.conv_impl(full, w, 1, 0, 1, "full", 4, 4)
    s.conv_impl(even, w, 1, 0, 1, "even", 4, 4)
    assert s.counts["full"].cycles == s.counts["full"].cycles_no_skip
    ce = s.counts["even"]
    assert ce.cycles < ce.cycles_no_skip
    # the streamed part shrinks by exactly one plane in four; fill/drain (if any) is paid in full
    kind = PE_KINDS[cfg.pe.kind]
    plan = ORGANISATIONS[cfg.array.organisation].step_plan(LayerShape("l", "conv", 4, 8, 3, 3, 1, 0, 1, 6, 6, "acc"),
                                                           cfg.array, kind.lanes(cfg.pe, 4, 4))
    fill = plan.overhead_steps * kind.steps(cfg.pe, 4, 4)
    assert 4 * (ce.cycles_no_skip - ce.cycles) == ce.cycles_no_skip - fill


def test_skipping_refused_where_the_design_has_none():
    from hwsim.errors import UserError
    with pytest.raises(UserError, match="no zero-plane skipping"):
        PESimulator(hw("bitfusion"), skipping=True)


def test_registry_names_and_peak_rates():
    assert set(PE_KINDS) == {"bit_parallel", "bit_serial_act", "bit_serial_both", "fused_bricks"}
    bf = hw("bitfusion")
    k = PE_KINDS["fused_bricks"]
    rate = lambda w, a: k.lanes(bf.pe, w, a) / k.steps(bf.pe, w, a)  # noqa: E731
    assert rate(2, 2) == 16 * rate(8, 8)
    assert rate(4, 4) == 4 * rate(8, 8) and rate(8, 2) == 4 * rate(8, 8)


def test_pe_kinds_and_dataflows_register_by_name():
    """A kind or dataflow registered under a new name is what a config naming it gets, in the PE simulator
    and the cost model alike (here copies of Loom's kind and of "os": the same cycles); taken names, mixed-up
    mappings and unknown names are refused."""
    from hwsim.dataflow.costmodel import PETables, layer_cost
    from hwsim.dataflow.layers import LayerShape
    from hwsim.dataflow.mapping import Dataflow, get_dataflow, register_dataflow
    from hwsim.errors import UserError
    from hwsim.pe import get_pe_kind, register_pe_kind
    from hwsim.pe.kinds import BitSerialBoth

    class LoomCopy(BitSerialBoth):
        name = "loom_copy"

    base = dataclasses.replace(hw("loom"), array=dataclasses.replace(hw("loom").array, organisation="systolic",
                                                                     dataflow="os", reduce_lanes=None))
    copy = dataclasses.replace(base, pe=dataclasses.replace(base.pe, kind="loom_copy"),
                               array=dataclasses.replace(base.array, dataflow="os_copy"))
    register_pe_kind(LoomCopy())
    register_dataflow(Dataflow("os_copy", rows="m", cols="n", time="k", stationary="outputs", preload=False))
    try:
        assert isinstance(get_pe_kind("loom_copy"), LoomCopy) and get_dataflow("os_copy").name == "os_copy"
        x = np.random.default_rng(0).integers(0, 16, (1, 4, 6, 6)).astype(np.uint8)
        w = np.random.default_rng(1).integers(-7, 8, (8, 4, 3, 3)).astype(np.int8)
        counts = []
        for cfg in (base, copy):
            s = PESimulator(cfg, skipping=False)
            s.conv_impl(x, w, 1, 0, 1, "l", 4, 4)
            counts.append(s.counts["l"].cycles)
        shape = LayerShape("l", "conv", 4, 8, 3, 3, 1, 0, 1, 6, 6, "acc")
        costs = [layer_cost(shape, cfg, PETables.build(cfg), 4, 4, 8)["cycles_by"]["compute"] for cfg in (base, copy)]
        assert counts[0] == counts[1] > 0 and costs[0] == costs[1] > 0
        with pytest.raises(ValueError, match="taken"):
            register_pe_kind(LoomCopy())
        with pytest.raises(ValueError, match="taken"):
            register_dataflow(get_dataflow("os_copy"))
        with pytest.raises(ValueError, match="not one mapping"):
            register_dataflow(Dataflow("bad", rows="m", cols="m", time="k", stationary="outputs", preload=False))
        with pytest.raises(ValueError, match="not one mapping"):
            register_dataflow(Dataflow("bad", rows="m", cols="n", time="k", stationary="weights", preload=False))
    finally:
        del PE_KINDS["loom_copy"], DATAFLOWS["os_copy"]
    with pytest.raises(UserError, match=r"unknown dataflow 'os_copy'; known: \['is', 'os', 'ws'\]"):
        get_dataflow("os_copy")
    with pytest.raises(UserError, match="unknown PE kind 'loom_copy'"):
        get_pe_kind("loom_copy")
