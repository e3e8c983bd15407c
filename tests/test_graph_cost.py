"""The dataflow graph carries the cost: totals are the sum of the ops' costs, element-wise ops cost what a
hand count says, and a tensor kept on chip removes exactly its DRAM write and re-reads (under a tiled DRAM
policy, every re-fetch of it too)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import hwsim.zoo as zoo
from hwsim.dataflow.costmodel import NetworkCost, PETables, layer_cost
from hwsim.dataflow.node_cost import elementwise_cost
from hwsim.errors import HwConfigError
from hwsim.hwconfig import load_hw_config, parse_hw_config
from hwsim.typed_yaml import read_yaml
from hwsim.zoo.builder import NetBuilder

BITFUSION = "hw_configs/bitfusion.yaml"
PAPERS_BF = "hw_configs/papers/bitfusion_isca18_eyeriss.yaml"


def hw(policy="layer_by_layer", ibuf=None, path=BITFUSION, traffic=None):
    data = read_yaml(path, HwConfigError, "hardware config")
    data["tensor_policy"] = policy
    if ibuf is not None:
        data["memory"]["buffers"]["ibuf"]["size"] = ibuf
    if traffic is not None:
        data["memory"]["dram_traffic"] = traffic
    return parse_hw_config(data, path)


def chain():
    """conv 4->8 (8x8, 3x3 pad 1), conv 8->8, linear 512->10: two 512-element tensors between layers."""
    b = NetBuilder(4, 8)
    x = b.conv("a", "input", 8, 3, 1, 1)
    x = b.conv("b", x, 8, 3, 1, 1)
    b.linear("fc", x, 10)
    return b.graph()


W4A4 = {"a": (4, 4), "b": (4, 4), "fc": (4, 4)}


def test_policy_is_read_from_the_hw_config_and_checked():
    assert load_hw_config(BITFUSION).tensor_policy == "layer_by_layer"
    assert hw("on_chip_when_fits").tensor_policy == "on_chip_when_fits"
    with pytest.raises(HwConfigError, match="tensor_policy"):
        hw("keep_everything")


def test_a_kept_tensor_removes_exactly_its_dram_write_and_reread():
    g = chain()
    off = {r["name"]: r for r in NetworkCost(g, hw("every_op")).layers(W4A4)}
    on = {r["name"]: r for r in NetworkCost(g, hw("on_chip_when_fits")).layers(W4A4)}
    tensor = 8 * 8 * 8 * 4          # 512 elements at 4 bits, each way
    saved = {"a": tensor, "b": 2 * tensor, "fc": tensor}     # a writes, b reads and writes, fc reads
    for name, bits in saved.items():
        assert off[name]["traffic_bits"]["dram"] - on[name]["traffic_bits"]["dram"] == bits
        # DRAM: 2000 pJ per 64-bit access either way (hw_configs/bitfusion.yaml)
        assert off[name]["energy_by"]["dram"] - on[name]["energy_by"]["dram"] == pytest.approx(bits * 2000 / 64)
        for level in ("wbuf", "ibuf", "obuf"):
            assert off[name]["traffic_bits"][level] == on[name]["traffic_bits"][level]
    assert [on[n]["output_on_chip"] for n in ("a", "b", "fc")] == [True, True, False]   # the logits leave
    # layer_by_layer is every_op on a network of layers only
    assert NetworkCost(g, hw()).layers(W4A4) == NetworkCost(g, hw("every_op")).layers(W4A4)


def test_tensors_live_together_must_fit_together():
    # 2048-bit buffer share: a's output (2048 bits, live while b runs) fills it, so b's cannot join it
    on = NetworkCost(chain(), hw("on_chip_when_fits", ibuf="256 B")).layers(W4A4)
    assert [r["output_on_chip"] for r in on] == [True, False, False]
    on = NetworkCost(chain(), hw("on_chip_when_fits", ibuf="255 B")).layers(W4A4)
    assert [r["output_on_chip"] for r in on] == [False, False, False]


def residual():
    b = NetBuilder(4, 8)
    c1 = b.conv("c1", "input", 4, 3, 1, 1)
    c2 = b.conv("c2", c1, 4, 3, 1, 1)
    b.linear("fc", b.add("add", c2, c1), 10)
    return b.graph()


def test_an_add_costs_what_a_hand_count_says():
    bits = {"c1": (4, 4), "c2": (4, 4), "fc": (8, 4)}
    rows = {r["name"]: r for r in NetworkCost(residual(), hw("every_op")).layers(bits)}
    add = rows["add"]
    e = 4 * 8 * 8                                 # elements out; reads c2 (32-bit accumulators) and c1 (4-bit codes)
    assert add["traffic_bits"]["dram"] == e * 32 + e * 4 + e * 4         # writes fc's 4-bit input
    assert add["traffic_bits"]["obuf"] == e * 32 + e * 4 + e * 4
    assert add["cycles_by"]["compute"] == math.ceil(2 * e / 32)        # 32 lanes (array columns)
    assert add["cycles"] == math.ceil((e * 40) / 192)                     # DRAM-bound at 192 bits/cycle
    assert add["energy_by"]["ops"] == pytest.approx(e * 0.1)              # Horowitz 32-bit add 0.1 pJ
    assert NetworkCost(residual(), hw()).layers(bits)[-1]["name"] == "fc"   # layer_by_layer: layers only
    assert [r["name"] for r in NetworkCost(residual(), hw()).layers(bits)] == ["c1", "c2", "fc"]


def test_an_add_whose_inputs_and_output_stay_on_chip_moves_nothing_to_or_from_dram():
    # every tensor of the residual net fits the 32 KiB input buffer (the largest, c2's 32-bit accumulators, is
    # 8192 bits), so only the network input and the logits touch DRAM; the add read e x 32 + e x 4 and wrote e x 4
    bits = {"c1": (4, 4), "c2": (4, 4), "fc": (8, 4)}
    off = {r["name"]: r for r in NetworkCost(residual(), hw("every_op")).layers(bits)}
    on = {r["name"]: r for r in NetworkCost(residual(), hw("on_chip_when_fits")).layers(bits)}
    e = 4 * 8 * 8
    assert [on[n]["output_on_chip"] for n in ("c1", "c2", "add", "fc")] == [True, True, True, False]
    assert off["add"]["traffic_bits"]["dram"] - on["add"]["traffic_bits"]["dram"] == e * 32 + e * 4 + e * 4
    assert on["add"]["traffic_bits"]["dram"] == 0
    assert off["add"]["energy_by"]["dram"] - on["add"]["energy_by"]["dram"] == pytest.approx(e * 40 * 2000 / 64)


@pytest.mark.parametrize("policy", ["every_op", "on_chip_when_fits"])
def test_graph_totals_are_the_sum_of_the_node_costs(policy):
    net = zoo.get("resnet18")
    cfg = hw(policy)
    cost = NetworkCost(net.graph, cfg)
    bits = {n: (4, 4) if i % 2 else (2, 8) for i, n in enumerate(net.table.names)}
    bits = net.table.tie(bits)
    rows = cost.layers(bits)
    assert len(rows) == len(net.graph.nodes)
    t = cost.total(bits)
    assert t["cycles"] == sum(r["cycles"] for r in rows)
    assert t["energy_pj"] == pytest.approx(sum(r["energy_pj"] for r in rows), rel=1e-12)
    if policy == "every_op":   # each node priced on its own, outside NetworkCost
        tab, acc, ref = PETables.build(cfg), 32, 0
        width = {"input": bits["conv1"][1]}
        for n in net.graph.nodes:
            width[n.name] = n.out_bits.resolve(bits, acc)
            if n.is_layer:
                ref += int(layer_cost(n.shape, cfg, tab, *bits[n.name], width[n.name])["cycles"])
            else:
                elems = {m.name: m.out_elems for m in net.graph.nodes}
                ref += int(elementwise_cost(n, cfg, [elems[i] for i in n.inputs], [width[i] for i in n.inputs],
                                            width[n.name])["cycles"])
        assert t["cycles"] == ref


@pytest.mark.parametrize("policy", ["layer_by_layer", "on_chip_when_fits"])
def test_vectorised_equals_the_per_config_loop_on_a_graph(policy):
    net = zoo.get("resnet20")
    cost = NetworkCost(net.graph, hw(policy, ibuf="4 KiB"))
    rng = np.random.default_rng(0)
    names = net.table.names
    cfgs = [net.table.tie({n: (int(rng.choice([2, 4, 8])), int(rng.choice([2, 4, 8]))) for n in names})
            for _ in range(6)]
    many = cost.evaluate_many(np.array([[c[n][0] for n in names] for c in cfgs]),
                              np.array([[c[n][1] for n in names] for c in cfgs]))
    for i, c in enumerate(cfgs):
        t = cost.total(c)
        assert many["cycles"][i] == t["cycles"]
        assert many["energy_pj"][i] == pytest.approx(t["energy_pj"], rel=1e-12)


def test_kept_tensors_lower_the_cost_of_a_zoo_network():
    net = zoo.get("resnet20")
    bits = {n: (4, 4) for n in net.table.names}
    every = NetworkCost(net.graph, hw("every_op")).total(bits)
    kept = NetworkCost(net.graph, hw("on_chip_when_fits")).total(bits)
    assert kept["energy_pj"] < every["energy_pj"] and kept["cycles"] <= every["cycles"]


def test_an_ir_op_graph_costs_like_its_layers_under_layer_by_layer_and_every_op_under_every_op():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from irgen import GenParams, random_bits, random_ir
    from hwsim.dataflow.graph import op_graph_from_ir, shapes_from_ir
    ir = random_ir(GenParams(seed=3, channels=4, size=9, width=7, maxpool=True))
    g = op_graph_from_ir(ir)
    kinds = {n.kind for n in g.nodes}
    assert {"conv", "linear", "add", "maxpool", "avgpool", "rescale"} <= kinds, kinds
    bits = random_bits(ir, np.random.default_rng(1))
    old = NetworkCost(shapes_from_ir(ir), hw()).layers(bits)
    new = NetworkCost(g, hw()).layers(bits)
    assert new == old
    every = NetworkCost(g, hw("every_op")).layers(bits)
    assert [r["name"] for r in every] == [n.name for n in g.nodes]
    assert all(r["cycles"] > 0 for r in every)


@pytest.mark.parametrize("traffic, final_bits", [("tiled", 4), ("tiled_wide_outputs", 32)])
def test_a_tensor_kept_on_chip_saves_its_final_write_and_every_read(traffic, final_bits):
    off, on = ({r["name"]: r for r in NetworkCost(chain(), hw(p, path=PAPERS_BF, traffic=traffic)).layers(W4A4)}
               for p in ("every_op", "on_chip_when_fits"))
    # hand count: a tensor is 512 elements; it is read at 4 bits (once: the whole layer fits its buffers) and
    # its final values written at 4 bits, or at the accumulator's 32 where every output goes out wide
    write, read = 512 * final_bits, 512 * 4
    saved = {"a": write, "b": read + write, "fc": read}
    assert [on[n]["output_on_chip"] for n in ("a", "b", "fc")] == [True, True, False]
    for name, bits in saved.items():
        assert off[name]["traffic_bits"]["dram"] - on[name]["traffic_bits"]["dram"] == bits
        # DRAM: 15 pJ per bit either way (bitfusion_isca18_eyeriss.yaml)
        assert off[name]["energy_by"]["dram"] - on[name]["energy_by"]["dram"] == pytest.approx(bits * 15)


def test_a_kept_input_saves_the_re_fetches_of_a_tiled_read_too():
    # ibuf 256 B holds one 2048-bit tensor whole (a's output, until b has read it), but the tiling streams it
    # through halves of 1024 bits: the 3x3 conv b reads its input in row tiles whose halos are read again
    hw_off, hw_on = hw("every_op", "256 B", PAPERS_BF, "tiled"), hw("on_chip_when_fits", "256 B", PAPERS_BF, "tiled")
    b = next(s for s in NetworkCost(chain(), hw_off).shapes if s.name == "b")
    off = {r["name"]: r for r in NetworkCost(chain(), hw_off).layers(W4A4)}
    on = {r["name"]: r for r in NetworkCost(chain(), hw_on).layers(W4A4)}
    assert [on[n]["output_on_chip"] for n in ("a", "b")] == [True, False]
    # every DRAM read of b's input, as the tiled policy counts them: more than one read of the tensor
    reads = layer_cost(b, hw_off, PETables.build(hw_off), 4, 4, 4)["dram_saved_if_kept"]["inputs"][0]
    assert reads > 512 * 4
    assert off["b"]["traffic_bits"]["dram"] - on["b"]["traffic_bits"]["dram"] == reads
