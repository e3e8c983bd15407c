"""Array organisations: each one's closed-form cycles and operand re-reads equal a slow walk of its loop
nest (tests/naive_mappings.py) that also proves every MAC is done exactly once; the registry and the
config checks; the behaviours the papers describe."""
from __future__ import annotations

import dataclasses
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from hwsim.dataflow.costmodel import PETables, layer_cost
from hwsim.dataflow.layers import LayerShape
from hwsim.dataflow.organisations import ORGANISATIONS, get_organisation, register_organisation
from hwsim.dataflow.organisations.row_stationary import Mapping, best_mapping, glb_reads
from hwsim.dataflow.organisations.tiled import Tiled
from hwsim.hwconfig import ArrayConfig, load_hw_config

sys.path.insert(0, str(Path(__file__).parent))
from naive_mappings import (bitfusion_walk, row_stationary_buffer_walk, row_stationary_pe_fits,  # noqa: E402
                            row_stationary_walk, tiled_walk)


def conv(name, cin, cout, k, s, p, size, g=1, batch=1):
    return LayerShape(name, "conv", cin, cout, k, k, s, p, g, size, size, "acc", batch)


SHAPES = [
    conv("pointwise", 40, 24, 1, 1, 0, 5),
    conv("3x3", 12, 20, 3, 1, 1, 6),
    conv("strided", 24, 20, 3, 2, 1, 9),
    conv("grouped", 24, 12, 3, 1, 1, 6, g=4),
    conv("depthwise", 16, 16, 3, 1, 1, 7, g=16),
    LayerShape("fc_batch3", "linear", 70, 45, 1, 1, 1, 0, 1, 1, 1, "acc", 3),
    conv("first", 3, 8, 7, 2, 3, 12),                  # on 5-row arrays: kernel taller than the array
    conv("tall_output", 2, 3, 3, 1, 1, 16, batch=2),   # 16 output rows: more than 14 columns
    conv("pointwise_strided", 8, 6, 1, 2, 0, 7),       # a stride wider than the kernel skips rows and columns
]


def array(org, rows, cols, reduce_lanes=None):
    return ArrayConfig(rows, cols, organisation=org, reduce_lanes=reduce_lanes)


def exactly_once(s, macs):
    assert macs.sum() == s.macs and macs.min() == macs.max() == 1, s.name


@pytest.mark.parametrize("s", SHAPES, ids=lambda s: s.name)
def test_bitfusion_cycles_and_rereads_equal_its_loop_nest(s):
    org = get_organisation("bitfusion")
    for rows, cols, lanes, step in [(4, 3, 1, 1), (3, 5, 4, 1), (2, 2, 16, 2)]:
        arr = array("bitfusion", rows, cols)
        cycles, macs, feeds, loads = bitfusion_walk(s, rows, cols, lanes, step)
        exactly_once(s, macs)
        assert org.compute_cycles(s, arr, lanes, step) == cycles, (s.name, rows, cols, lanes)
        f = org.operand_refetch(s, arr, lanes)
        assert feeds.min() == feeds.max() == f["inputs"] and loads.min() == loads.max() == f["weights"]


@pytest.mark.parametrize("s", SHAPES, ids=lambda s: s.name)
def test_tiled_cycles_and_rereads_equal_its_loop_nest(s):
    org = get_organisation("tiled")
    for rows, cols, reduce_lanes, lanes, step in [(3, 5, 4, 1, 3), (1, 4, 16, 1, 1), (4, 2, 2, 3, 2)]:
        arr = array("tiled", rows, cols, reduce_lanes)
        cycles, macs, feeds, w_feeds = tiled_walk(s, rows, cols, reduce_lanes, lanes, step)
        exactly_once(s, macs)
        assert org.compute_cycles(s, arr, lanes, step) == cycles, (s.name, rows, cols, reduce_lanes, lanes)
        f = org.operand_refetch(s, arr, lanes)
        assert feeds.min() == feeds.max() == f["inputs"] and w_feeds.min() == w_feeds.max() == f["weights"]


@pytest.mark.parametrize("s", SHAPES, ids=lambda s: s.name)
def test_row_stationary_cycles_equal_its_loop_nest(s):
    org = get_organisation("row_stationary")
    for rows, cols, lanes, step in [(12, 14, 1, 1), (5, 4, 1, 1), (7, 3, 2, 2)]:
        cycles, macs = row_stationary_walk(s, rows, cols, lanes, step)
        exactly_once(s, macs)
        assert org.compute_cycles(s, array("row_stationary", rows, cols), lanes, step) == cycles, (s.name, rows, cols)


def _walk_reads(s, rows, cols, m):
    """The walk's buffer traffic of one group under mapping m, as operand_reads counts it."""
    macs, ins, w_loads, ps_reads, _ = row_stationary_buffer_walk(s, rows, cols, m.p, m.q, m.r, m.t)
    exactly_once(s, macs)
    return {"inputs": int(ins[0].sum()), "weights": int(w_loads[0].sum()), "partials": int(ps_reads[0].sum())}, \
        w_loads, ps_reads


@pytest.mark.parametrize("s", SHAPES, ids=lambda s: s.name)
def test_row_stationary_buffer_traffic_equals_its_loop_nest(s):
    """Eyeriss's processing passes (p filters x q channels a PE, r x t sets): the ifmap, filter and partial-sum
    words counted in closed form equal a walk of the passes, under the chosen mapping and under a plain one."""
    org = get_organisation("row_stationary")
    for rows, cols in [(12, 14), (5, 4), (7, 3)]:
        arr = array("row_stationary", rows, cols)
        chosen = best_mapping(s, arr)
        assert row_stationary_pe_fits(s.kw, chosen.p, chosen.q), chosen
        sets = (rows // min(s.kh, rows)) * (cols // min(s.out_h, cols))
        assert chosen.r * chosen.t <= sets, chosen
        walked, w_loads, ps_reads = _walk_reads(s, rows, cols, chosen)
        assert org.operand_reads(s, arr, 1) == walked, (s.name, rows, cols, chosen)
        assert w_loads.min() == w_loads.max() == 1          # a filter row stays while strips and samples pass
        plain = Mapping(1, 1, 1, sets)
        assert glb_reads(s, arr, plain) == _walk_reads(s, rows, cols, plain)[0], (s.name, rows, cols)


@pytest.mark.parametrize("s, rows, cols", [
    (conv("3x3_4sets", 5, 7, 3, 1, 1, 2, batch=2), 6, 4),
    (conv("11x11_filter_spad_bound", 2, 22, 11, 1, 0, 12), 11, 2),   # p*11 <= 224: p <= 20; q*11 <= 12: q = 1
    (conv("1x1_psum_spad_bound", 3, 26, 1, 1, 0, 2), 2, 2),          # p <= 24 partial sums
], ids=lambda v: v.name if hasattr(v, "name") else str(v))
def test_row_stationary_maps_for_the_fewest_buffer_words_its_scratchpads_allow(s, rows, cols):
    """Over every (p, q, r) whose rows fit a PE's scratchpads (JSSC 2017: 224 / 12 / 24 entries), the walk's
    fewest ifmap reads + partial-sum round trips are those of the mapping chosen."""
    sets = (rows // min(s.kh, rows)) * (cols // min(s.out_h, cols))
    cg = s.in_ch // s.groups

    def words(m):
        w = _walk_reads(s, rows, cols, m)[0]
        return w["inputs"] + 2 * w["partials"]

    fewest = min(words(Mapping(p, q, r, sets // r)) for q in range(1, cg + 1) for p in range(1, s.n + 1)
                 for r in range(1, sets + 1) if row_stationary_pe_fits(s.kw, p, q))
    chosen = best_mapping(s, array("row_stationary", rows, cols))
    assert row_stationary_pe_fits(s.kw, chosen.p, chosen.q) and words(chosen) == fewest, chosen


@pytest.mark.parametrize("name", sorted(set(ORGANISATIONS) - {"systolic"}))
def test_vectorised_over_bit_widths_equals_one_at_a_time(name):
    """The cost model evaluates many configs in one pass: lanes and steps come as arrays."""
    org = get_organisation(name)
    arr = array(name, 3, 5, 4 if "reduce_lanes" in org.params else None)
    lanes, steps = np.array([1, 2, 4, 16, 3]), np.array([1, 8, 2, 1, 5])
    for s in SHAPES:
        many = org.compute_cycles(s, arr, lanes, steps)
        refetch = org.operand_reads(s, arr, lanes)
        for i, (l, t) in enumerate(zip(lanes, steps)):
            assert many[i] == org.compute_cycles(s, arr, int(l), int(t))
            one = org.operand_reads(s, arr, int(l))
            assert all(np.broadcast_to(refetch[op], lanes.shape)[i] == one[op] for op in one)


def test_bitfusion_has_no_fill_drain_where_the_systolic_array_pays_it_per_fold():
    """An FC layer at batch 1 streams one row per fold: the systolic model's cycles are nearly all fill and
    drain, Bit Fusion's are one cycle per fold (the issue's first symptom)."""
    bf = load_hw_config("hw_configs/bitfusion.yaml")
    systolic = dataclasses.replace(bf, array=ArrayConfig(16, 32, organisation="systolic", dataflow="ws"))
    fc = LayerShape("fc", "linear", 512, 1000, 1, 1, 1, 0, 1, 1, 1, "acc")
    ours = int(layer_cost(fc, bf, PETables.build(bf), 8, 8, 8)["cycles_by"]["compute"])
    theirs = int(layer_cost(fc, systolic, PETables.build(systolic), 8, 8, 8)["cycles_by"]["compute"])
    assert ours == (512 // 16) * -(-1000 // 32)          # one output pixel per fold, no fill or drain
    assert theirs > 40 * ours


def test_bitfusion_first_layer_unrolls_its_kernel_and_thin_layers_leave_rows_idle():
    org, arr = get_organisation("bitfusion"), array("bitfusion", 16, 32)
    first = conv("first", 3, 64, 7, 2, 3, 224)           # C*kh*kw = 147 on 16 rows: 10 folds, not 49 taps
    assert org.compute_cycles(first, arr, 1, 1) == 10 * 2 * first.m
    thin = conv("thin", 16, 32, 3, 1, 1, 8)              # 16 channels per tap: at 2x2 (16 lanes) 1 of 16 rows busy
    assert org.compute_cycles(thin, arr, 16, 1) == org.compute_cycles(thin, arr, 1, 1) == 9 * thin.m


def test_organisations_register_by_name_and_refuse_strangers():
    class Copy(Tiled):
        name = "tiled_copy"

    register_organisation(Copy())
    try:
        s = SHAPES[1]
        assert get_organisation("tiled_copy").compute_cycles(s, array("tiled_copy", 3, 5, 4), 1, 2) == \
            get_organisation("tiled").compute_cycles(s, array("tiled", 3, 5, 4), 1, 2)
        with pytest.raises(ValueError, match="taken"):
            register_organisation(Copy())
    finally:
        del ORGANISATIONS["tiled_copy"]
    from hwsim.errors import UserError
    with pytest.raises(UserError, match=r"unknown array organisation 'tiled_copy'; known: \['bitfusion'"):
        get_organisation("tiled_copy")


def test_stripes_over_dadiannao_is_sixteen_over_the_activation_bits():
    """Stripes' headline (Judd et al. Sec. 4): same tiles, 16 windows in place of 1, activations one bit a cycle."""
    st, dd = (load_hw_config(f"hw_configs/{n}.yaml") for n in ("stripes", "dadiannao"))
    s = conv("c", 256, 384, 3, 1, 1, 16)                 # 256 output pixels: whole groups of 16 windows
    for a in (4, 8, 16):
        c_st = int(layer_cost(s, st, PETables.build(st), 16, a, 16)["cycles_by"]["compute"])
        c_dd = int(layer_cost(s, dd, PETables.build(dd), 16, a, 16)["cycles_by"]["compute"])
        assert c_dd * a == 16 * c_st


def test_eyeriss_full_array_on_a_layer_that_tiles_it():
    """A 3x3 conv with 56 output rows: 4 sets of 3 x 14 fill the 12 x 14 array, 168 MACs a cycle."""
    ey = load_hw_config("hw_configs/eyeriss.yaml")
    s = conv("c", 64, 64, 3, 1, 1, 56)
    assert int(layer_cost(s, ey, PETables.build(ey), 16, 16, 16)["cycles_by"]["compute"]) * 168 == s.macs


def test_batch_is_a_gemm_dimension():
    s1, s4 = conv("c", 8, 8, 3, 1, 1, 6), conv("c", 8, 8, 3, 1, 1, 6, batch=4)
    assert s4.m == 4 * s1.m and s4.macs == 4 * s1.macs and s4.input_elems == 4 * s1.input_elems
    assert s4.weight_elems == s1.weight_elems
    for name, arr in [("bitfusion", array("bitfusion", 4, 4)), ("tiled", array("tiled", 4, 4, 4))]:
        org = get_organisation(name)
        assert org.compute_cycles(s4, arr, 1, 1) == 4 * org.compute_cycles(s1, arr, 1, 1)


def test_skipping_is_refused_on_an_organisation_that_does_not_say_what_a_step_feeds():
    from hwsim.errors import UserError
    from hwsim.pe.sim import PESimulator
    st = load_hw_config("hw_configs/stripes.yaml")
    rs = dataclasses.replace(st, array=ArrayConfig(12, 14, organisation="row_stationary"))
    x = np.ones((1, 2, 5, 5), np.uint8)
    w = np.ones((3, 2, 3, 3), np.int8)
    PESimulator(rs, skipping=False).conv_impl(x, w, 1, 1, 1, "l", 4, 4)
    with pytest.raises(UserError, match="organisation 'row_stationary' does not say which data a step feeds"):
        PESimulator(rs, skipping=True).conv_impl(x, w, 1, 1, 1, "l", 4, 4)


def test_eyeriss_energies_keep_the_published_ratios_to_a_mac():
    """Chen et al. ISCA 2016: per 16-bit access, register file 1x, array hop 2x, buffer 6x, DRAM 200x one MAC."""
    from hwsim.pe import get_pe_kind
    ey = load_hw_config("hw_configs/eyeriss.yaml")
    mac = get_pe_kind(ey.pe.kind).mac_energy_pj(ey.pe, ey.energy, 16, 16)
    per_16b = lambda level: level.read_pj * 16 / level.access_bits  # noqa: E731
    assert ey.energy["reg_pj_per_bit"] * 16 == pytest.approx(1 * mac)
    assert per_16b(ey.buffer_for("inputs")) == pytest.approx((6 + 2) * mac)      # buffer read, then the array hop
    assert per_16b(ey.dram) == pytest.approx(200 * mac)
    assert (ey.array.rows, ey.array.cols, ey.pe.w_bits_max, ey.pe.a_bits_max) == (12, 14, 16, 16)


def test_row_stationary_reuses_a_filter_row_across_the_batch():
    """Chen et al. ISCA 2016 Sec. IV: the rows of N ifmaps are concatenated in a PE, so the filter row it
    holds serves the whole batch (and every strip): the buffer reads each weight once, and the ifmaps of
    16 samples 16 times as many words as one sample's."""
    org, arr = get_organisation("row_stationary"), array("row_stationary", 12, 14)
    s1, s16 = conv("c", 64, 64, 3, 1, 1, 56), conv("c", 64, 64, 3, 1, 1, 56, batch=16)
    assert org.operand_reads(s16, arr, 1)["weights"] == org.operand_reads(s1, arr, 1)["weights"] == 64 * 64 * 9
    assert org.operand_reads(s16, arr, 1)["inputs"] == 16 * org.operand_reads(s1, arr, 1)["inputs"]
