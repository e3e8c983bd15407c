"""Weight storage and switch cost (hwsim/dataflow/weight_storage.py) against counts done by hand on a
two-layer net: a 3x3 conv, 1 -> 8 channels (72 weights) and a 16 -> 4 linear (64 weights), choices {2, 3, 4}."""
import pytest

from hwsim.dataflow.layers import LayerShape
from hwsim.dataflow.weight_storage import (WeightStorageError, crossover, footprint, per_inference_delta, regimes,
                                           switch_cost, weight_layers)
from hwsim.hwconfig import parse_hw_config

# DRAM 1 pJ/bit at 16 bits/cycle; weight buffer 1200 bits, read 1/8 pJ/bit, write 1/4 pJ/bit, 32 bits/cycle;
# add_32b 0.1 pJ, mult_8b 0.2 pJ
HW = {"name": "tiny", "clock_mhz": 100,
      "pe": {"kind": "bit_parallel", "w_bits_max": 8, "a_bits_max": 8, "partial_sum_bits": 32, "accumulator_bits": 32},
      "array": {"rows": 2, "cols": 2, "dataflow": "ws"},
      "memory": {"dram": {"bandwidth_bits_per_cycle": 16, "energy": {"read_pj": 64, "write_pj": 64, "access_bits": 64}},
                 "buffers": {"wbuf": {"holds": ["weights"], "size": 1200, "bandwidth_bits_per_cycle": 32,
                                      "energy": {"read_pj": 8, "write_pj": 16, "access_bits": 64}},
                             "io": {"holds": ["inputs", "outputs"], "size": "1 KiB", "bandwidth_bits_per_cycle": 64,
                                    "energy": {"read_pj": 8, "write_pj": 8, "access_bits": 64}}}},
      "energy": {"mult_8b_pj": 0.2, "add_32b_pj": 0.1, "reg_pj_per_bit": 0.0}}


@pytest.fixture(scope="module")
def hw():
    return parse_hw_config(HW, "tiny")


@pytest.fixture(scope="module")
def net():
    shapes = [LayerShape("a", "conv", 1, 8, 3, 3, 1, 1, 1, 4, 4, "a:b"), LayerShape("b", "linear", 16, 4, 1, 1, 1, 0, 1, 1, 1, "acc")]
    return weight_layers(shapes, {"a": (2, 3, 4), "b": (4, 2, 3)})


def test_footprints(net):
    assert footprint(net, "per_width") == {"store_bits": 136 * 9, "copy_bits": 0, "bits_per_weight": 9.0, "weights": 136}
    assert footprint(net, "nested")["store_bits"] == 544 and footprint(net, "nested")["copy_bits"] == 544
    assert footprint(net, "master8")["store_bits"] == 1088 and footprint(net, "master8")["bits_per_weight"] == 8.0


def test_regimes_follow_the_weight_buffer(net, hw):
    assert regimes(net, "per_width", hw) == ("copy", "stream")       # 1224 > 1200
    assert regimes(net, "nested", hw) == ("resident", "copy", "on_the_fly", "stream")   # 544 + 544 <= 1200
    assert regimes(net, "master8", hw) == ("copy", "stream")         # 1088 + 544 > 1200


OLD, NEW = {"a": 4, "b": 4}, {"a": 2, "b": 3}


@pytest.mark.parametrize("name,regime,dram,rd,wr,cycles,pj", [
    # read 72*4 + 64*4 = 544 from the buffer (68 pJ), write 144 + 192 = 336 (84 pJ), 136 adds of 4 bits (1.7 pJ)
    ("nested", "resident", 0, 544, 336, 28, 153.7),          # 880 buffer bits / 32
    ("nested", "copy", 544, 0, 336, 34, 629.7),              # 544 DRAM bits / 16
    ("per_width", "resident", 0, 0, 0, 0, 0.0),
    ("per_width", "copy", 336, 0, 336, 21, 420.0),
    # 1088 read (136 pJ) + 336 written (84 pJ) + 136 * (0.2 + 0.1) = 40.8 pJ re-quantising
    ("master8", "resident", 0, 1088, 336, 45, 260.8),
    ("nested", "stream", 0, 0, 0, 0, 0.0),
    ("nested", "on_the_fly", 0, 0, 0, 0, 0.0),
])
def test_switch_cost_by_hand(net, hw, name, regime, dram, rd, wr, cycles, pj):
    c = switch_cost(net, name, hw, regime, OLD, NEW)
    assert (c["dram_bits"], c["buffer_read_bits"], c["buffer_write_bits"], c["cycles"]) == (dram, rd, wr, cycles)
    assert c["energy_pj"] == pytest.approx(pj)


def test_only_changed_layers_move(net, hw):
    c = switch_cost(net, "nested", hw, "resident", {"a": 2, "b": 4}, NEW)
    assert (c["buffer_read_bits"], c["buffer_write_bits"]) == (256, 192)
    assert c["energy_pj"] == pytest.approx(32 + 48 + 0.8)


def test_per_inference_delta_by_hand(net, hw):
    # on chip: save the 336-bit DRAM fetch (336 pJ) and the buffer fill (84 pJ)
    assert per_inference_delta(net, "nested", hw, "resident", NEW)["energy_pj"] == pytest.approx(-420)
    # streaming nested: 72*2 + 64*1 = 208 extra bits fetched (208 pJ) and filled (52 pJ), 1.7 pJ of adds
    d = per_inference_delta(net, "nested", hw, "stream", NEW)
    assert d["dram_bits"] == 208 and d["energy_pj"] == pytest.approx(261.7)
    assert per_inference_delta(net, "per_width", hw, "stream", NEW)["energy_pj"] == 0
    # on the fly, 288 and 64 weight reads: 288*2 + 64*1 = 640 extra buffer bits (80 pJ), 352 adds of 4 bits
    # (4.4 pJ), less the saved fetch and fill (420 pJ)
    d = per_inference_delta(net, "nested", hw, "on_the_fly", NEW, {"a": 288, "b": 64})
    assert d["energy_pj"] == pytest.approx(80 + 4.4 - 420)
    with pytest.raises(WeightStorageError, match="weight reads"):
        per_inference_delta(net, "nested", hw, "on_the_fly", NEW)


def test_crossover():
    assert crossover((10.0, 0.0), (0.0, 100.0)) == 10.0      # 10 = 100 / P at P = 10
    assert crossover((-420.0, 420.0), (0.0, 0.0)) == 1.0
    assert crossover((1.0, 5.0), (1.0, 7.0)) is None
    assert crossover((1.0, 5.0), (2.0, 7.0)) is None         # would cross at P = -2


def test_unknown_names_are_refused(net, hw):
    with pytest.raises(WeightStorageError, match="unknown weight storage strategy 'fp16'"):
        footprint(net, "fp16")
    with pytest.raises(WeightStorageError, match="unknown regime 'cache'"):
        switch_cost(net, "nested", hw, "cache", OLD, NEW)
    with pytest.raises(WeightStorageError, match="layer 'c' has no weight width choices"):
        weight_layers([LayerShape("c", "linear", 2, 2, 1, 1, 1, 0, 1, 1, 1, "acc")], {})


@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_weight_reads_from_the_cost_model_match_the_mapping(net, dataflow):
    """The study's reads (a step of the cost model's weight-buffer traffic) against the mapping's refetch
    count: groups * k * n * refetch of the weights, for the layers below their widest width."""
    from hwsim.dataflow.costmodel import NetworkCost, PETables
    from hwsim.dataflow.mapping import ceil_div, get_dataflow, operand_refetch
    from studies.storage_costs import weight_reads

    shapes = [LayerShape("a", "conv", 1, 8, 3, 3, 1, 1, 1, 4, 4, "a:b"), LayerShape("b", "linear", 16, 4, 1, 1, 1, 0, 1, 1, 1, "acc")]
    hw = parse_hw_config({**HW, "array": {"rows": 2, "cols": 2, "dataflow": dataflow}}, "tiny")
    cost = NetworkCost(shapes, hw)
    reads = weight_reads(cost, net, {"a": (2, 8), "b": (4, 2)})
    tab = PETables.build(hw)
    s = shapes[0]
    f = operand_refetch(get_dataflow(dataflow), 2, 2, s.m, ceil_div(s.k, int(tab.lanes[2, 8])), s.n)
    assert reads == {"a": s.groups * s.k * s.n * f["weights"], "b": 0}
    assert reads["a"] == 72 * (1 if dataflow == "ws" else 8)   # os: weights again for each of 16 / 2 row folds
