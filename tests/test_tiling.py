"""The tiled DRAM traffic policy: its closed form equals a walk of the same loop nest with the same tiles
(tests/naive_tiling.py), a layer that fits on chip moves exactly the ideal traffic, the ideal policy's
re-reads when it does not fit, and a config naming an unknown policy is refused with its file, field and value."""
from __future__ import annotations

import dataclasses
import itertools
import random

import numpy as np
import pytest

from hwsim.dataflow.costmodel import NetworkCost, PETables, layer_cost
from hwsim.dataflow.layers import LayerShape
from hwsim.dataflow.tiling import LOOPS, candidates, choose_tiling, tiling_traffic
from hwsim.errors import HwConfigError
from hwsim.hwconfig import load_hw_config, parse_hw_config
from hwsim.typed_yaml import read_yaml
from tests.naive_tiling import naive_traffic

PAPERS_BF = "hw_configs/papers/bitfusion_isca18_eyeriss.yaml"
W, A, O, ACC = 3, 5, 4, 24


def conv(name, cin, cout, k, s, p, size, batch):
    return LayerShape(name, "conv", cin, cout, k, k, s, p, 1, size, size, "acc", batch)


LAYERS = [conv("3x3", 3, 5, 3, 1, 1, 5, 3),            # halos shared between row tiles, padding clipped
          conv("1x1_s2", 4, 3, 1, 2, 0, 7, 2),         # stride past the kernel: rows never read
          conv("5x5_s2", 2, 4, 5, 2, 2, 7, 2),
          LayerShape("fc", "linear", 6, 5, 1, 1, 1, 0, 1, 1, 1, "acc", 3)]


def caps_for(s, scale):
    """Capacities (bits) a fraction of each whole tensor, so that blocks split at different loops."""
    whole = {"weights": s.weight_elems * W, "inputs": s.input_elems * A * (s.kh * s.kw), "outputs": s.output_elems * ACC}
    return {op: max(1, int(v * scale[i])) for i, (op, v) in enumerate(whole.items())}


@pytest.mark.parametrize("s", LAYERS, ids=lambda s: s.name)
@pytest.mark.parametrize("im2col", [False, True])
def test_closed_form_equals_the_walk(s, im2col):
    rng = random.Random(hash((s.name, im2col)) % 1000)
    orders = list(itertools.permutations(LOOPS))
    combos = candidates(s)
    checked = 0
    for scale in [(0.3, 0.2, 0.25), (1.0, 0.05, 0.5), (0.1, 1.0, 0.1), (2.0, 2.0, 2.0)]:
        caps = caps_for(s, scale)
        for _ in range(6):
            tiles, order = rng.choice(combos), rng.choice(orders)
            for read_fresh in (False, True):
                got = tiling_traffic(s, tiles, order, (caps["weights"], caps["inputs"], caps["outputs"]), 64, 0,
                                     im2col, W, A, O, ACC, read_fresh)
                try:
                    want = naive_traffic(s, tiles, order, caps, {"weights": W, "inputs": A, "outputs": ACC,
                                                                 "final": O}, im2col, read_fresh)
                except ValueError:                      # a tile that does not fit: the closed form says so too
                    assert got is None
                    continue
                assert got is not None
                assert (got.weights, got.inputs, got.outputs_in, got.outputs_out) == \
                    (want["weights"], want["inputs"], want["outputs_in"], want["outputs_out"]), (tiles, order, caps)
                checked += 1
    assert checked >= 10


def test_the_chosen_tiling_is_a_walkable_one():
    s = LAYERS[0]
    caps = caps_for(s, (0.3, 0.2, 0.25))
    t = choose_tiling(s, (caps["weights"], caps["inputs"], caps["outputs"]), 64, 100, False, W, A, O, ACC)
    want = naive_traffic(s, t.tiles, t.order, caps, {"weights": W, "inputs": A, "outputs": ACC, "final": O})
    assert (t.weights, t.inputs, t.outputs_in, t.outputs_out) == \
        (want["weights"], want["inputs"], want["outputs_in"], want["outputs_out"])


def papers_hw(policy, **sizes):
    data = read_yaml(PAPERS_BF, HwConfigError, "hardware config")
    data["memory"]["dram_traffic"] = policy
    for name, size in sizes.items():
        data["memory"]["buffers"][name]["size"] = size
    return parse_hw_config(data, PAPERS_BF)


def test_a_layer_that_fits_on_chip_moves_exactly_the_ideal_traffic():
    s = conv("small", 16, 32, 3, 1, 1, 8, 2)             # 4.6 Kib weights, 8 Kib inputs, 64 Kib partial sums
    tiled, ideal = papers_hw("tiled"), papers_hw("ideal_reuse")
    for w, a, o in [(2, 2, 2), (8, 8, 8), (4, 2, 8)]:
        t = layer_cost(s, tiled, PETables.build(tiled), w, a, o)
        i = layer_cost(s, ideal, PETables.build(ideal), w, a, o)
        assert t["traffic_bits"]["dram"] == i["traffic_bits"]["dram"] == \
            s.weight_elems * w + s.input_elems * a + s.output_elems * o
        assert t["energy_by"]["dram"] == i["energy_by"]["dram"]


def test_a_layer_too_big_for_its_buffers_moves_more_than_the_ideal():
    s = conv("big", 64, 64, 3, 1, 1, 28, 4)
    tiled = papers_hw("tiled", ibuf="4 KiB", obuf="4 KiB")
    ideal = papers_hw("ideal_reuse", ibuf="4 KiB", obuf="4 KiB")
    t = layer_cost(s, tiled, PETables.build(tiled), 4, 4, 4)["traffic_bits"]["dram"]
    i = layer_cost(s, ideal, PETables.build(ideal), 4, 4, 4)["traffic_bits"]["dram"]
    assert t > i


def test_ideal_reuse_keeps_partial_sums_on_chip_and_streams_the_weights_once():
    # 16 samples x 512 -> 512 at 4 bits: weights 1 Mib (8 chunks of a 16 KiB buffer), inputs 32 Kib (4 chunks of
    # 1 KiB), partial sums 16 x 512 x 32 bits = 256 Kib (4 chunks of 8 KiB). Four chunks of output channels each
    # read every input once and their own weights once; re-reading the inputs per weight chunk would cost 8.
    s = LayerShape("fc", "linear", 512, 512, 1, 1, 1, 0, 1, 1, 1, "acc", 16)
    hw = papers_hw("ideal_reuse", wbuf="16 KiB", ibuf="1 KiB", obuf="8 KiB")
    assert hw.pe.accumulator_bits == 32
    c = layer_cost(s, hw, PETables.build(hw), 4, 4, 4)
    assert c["traffic_bits"]["dram"] == 512 * 512 * 4 + 4 * (16 * 512 * 4) + 16 * 512 * 4


def test_wide_outputs_read_and_write_every_output_at_the_accumulator_width():
    s = conv("small", 16, 32, 3, 1, 1, 8, 2)
    hw = papers_hw("tiled_wide_outputs")
    c = layer_cost(s, hw, PETables.build(hw), 2, 2, 2)
    acc = hw.pe.accumulator_bits
    assert c["traffic_bits"]["dram"] == s.weight_elems * 2 + s.input_elems * 2 + 2 * s.output_elems * acc


def test_the_vectorised_path_agrees_with_one_config_at_a_time():
    s1, s2 = conv("a", 8, 16, 3, 1, 1, 16, 4), conv("b", 16, 16, 3, 1, 1, 16, 4)
    hw = papers_hw("tiled", wbuf="1 KiB", ibuf="1 KiB", obuf="2 KiB")
    net = NetworkCost([s1, s2], hw)
    w = np.array([[2, 4], [8, 8], [4, 8], [2, 4]])       # a repeated config and distinct ones
    a = np.array([[4, 2], [8, 2], [2, 8], [4, 2]])
    many = net.evaluate_many(w, a)
    for i in range(len(w)):
        one = net.total({"a": (w[i, 0], a[i, 0]), "b": (w[i, 1], a[i, 1])})
        assert many["cycles"][i] == one["cycles"]
        assert many["energy_pj"][i] == pytest.approx(one["energy_pj"], rel=1e-12)


def test_an_unknown_policy_names_file_field_and_value(tmp_path):
    data = read_yaml(PAPERS_BF, HwConfigError, "hardware config")
    data["memory"]["dram_traffic"] = "tiledd"
    with pytest.raises(HwConfigError, match=r"bitfusion_isca18_eyeriss\.yaml: memory\.dram_traffic.*tiledd"):
        parse_hw_config(data, PAPERS_BF)


def test_existing_configs_keep_the_ideal_policy():
    assert load_hw_config("hw_configs/bitfusion.yaml").dram_traffic == "ideal_reuse"
    assert dataclasses.replace(load_hw_config(PAPERS_BF)).dram_traffic in ("tiled", "tiled_wide_outputs")
