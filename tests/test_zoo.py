"""The network zoo: MAC totals against the literature's figures, batch scaling, graph structure, bits rule."""
from __future__ import annotations

import pytest

import hwsim.zoo as zoo
from hwsim.bits import ACC, ActOf
from hwsim.dataflow.graph import INPUT
from hwsim.errors import UserError

# Multiply-accumulates per 224x224 (CIFAR: 32x32) image, as the literature states them; not from our code.
PUBLISHED_GMACS = {
    "resnet18": (1.82, "torchvision model table: 1.81 GFLOPS (multiply-adds); He et al. 2016 Table 1: 1.8e9"),
    "resnet50": (4.1, "torchvision v1.5: 4.09 GFLOPS (multiply-adds)"),
    "vgg16": (15.5, "torchvision: 15.47 GFLOPS; Simonyan & Zisserman configuration D"),
    "alexnet": (0.72, "torchvision: 0.71 GFLOPS (multiply-adds)"),
    "mobilenet_v2": (0.30, "Sandler et al. 2018 Table 4: 300M multiply-adds"),
    "resnet20": (0.041, "He et al. 2016 CIFAR ResNet-20: ~41M multiply-adds (option A: 40.6M)"),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_GMACS))
def test_mac_totals_match_the_literature(name):
    gmacs, source = PUBLISHED_GMACS[name]
    got = zoo.get(name).macs / 1e9
    assert abs(got - gmacs) / gmacs < 0.02, (name, got, gmacs, source)


def test_lenet5_mac_count_by_hand():
    # c1: 28*28*6*25, c3: 10*10*16*6*25, c5: 400*120, f6: 120*84, output: 84*10
    assert zoo.get("lenet5").macs == 117600 + 240000 + 48000 + 10080 + 840


@pytest.mark.parametrize("name", zoo.names())
def test_every_network_builds_and_scales_with_batch(name):
    one, four = zoo.get(name), zoo.get(name, batch=4)
    assert four.macs == 4 * one.macs > 0
    assert [s.weight_elems for s in four.shapes] == [s.weight_elems for s in one.shapes]
    assert [n.out_elems for n in four.graph.nodes] == [4 * n.out_elems for n in one.graph.nodes]
    assert four.table.names == [s.name for s in four.shapes]


def test_resnet18_graph_has_its_adds_pools_and_producers():
    g = zoo.get("resnet18").graph
    kinds = [n.kind for n in g.nodes]
    assert kinds.count("add") == 8 and kinds.count("maxpool") == 1 and kinds.count("avgpool") == 1
    assert kinds.count("rescale") == 5            # identity shortcuts: 2 + 1 + 1 + 1 blocks
    prod = g.layer_producers()
    assert prod["layer1.0.conv1"] == ["conv1"]    # through the max pool
    # through layer1.1's add, whose identity path carries layer1.0's add, whose identity path carries conv1
    assert prod["layer2.0.shortcut"] == ["conv1", "layer1.0.conv2", "layer1.1.conv2"]
    assert prod["fc"] == ["layer4.0.conv2", "layer4.0.shortcut", "layer4.1.conv2"]
    nodes = {n.name: n for n in g.nodes}
    assert nodes["layer1.0.conv2"].out_bits == ACC and nodes["layer1.0.rescale"].out_bits == ACC
    assert nodes["layer1.0.conv1"].out_bits == ActOf("layer1.0.conv2")
    assert nodes["conv1"].out_bits == ActOf("layer1.0.conv1") == nodes["maxpool"].out_bits
    assert nodes["layer4.1.add"].out_bits == ActOf("fc")
    assert g.input_bits == ActOf("conv1") and nodes["conv1"].inputs == (INPUT,)


def test_layers_reading_one_tensor_share_its_a_bits():
    t = zoo.get("resnet18").table
    assert t["layer2.0.shortcut"].a_tied_to == "layer2.0.conv1"
    assert t["layer2.0.conv2"].a_tied_to is None


def test_published_bits_where_the_paper_gives_them():
    net = zoo.get("bitfusion-cifar10")
    cfg = net.published_config()
    assert cfg.bits["conv1"] == (8, 8) and cfg.bits["fc3"] == (8, 8) and cfg.bits["conv2"] == (1, 1)
    for name in zoo.BITFUSION_BENCHMARKS:
        zoo.get(name).published_config()
    with pytest.raises(UserError, match="no published bit-widths"):
        zoo.get("resnet18").published_config()


def test_unknown_name_and_bad_batch_are_user_errors():
    with pytest.raises(UserError, match="resnet18"):
        zoo.get("resnet19")
    for bad in (0, True, 2.0, zoo.MAX_BATCH + 1):
        with pytest.raises(UserError, match="batch"):
            zoo.get("resnet18", batch=bad)
