"""Networks from files: SCALE-Sim topology CSVs and ONNX models, good and bad, and `bitmixer estimate` on them
and on a zoo name."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hwsim.netimport.scalesim_csv import TopologyError, read_topology

HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
GOOD = HEADER + "Conv1, 224, 224, 7, 7, 3, 64, 2,\nConv2, 109, 109, 3, 3, 64, 64, 1,\nFC, 1, 1, 1, 1, 64, 10, 1,\n"


def write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_topology_csv_layers_and_their_macs(tmp_path):
    net = read_topology(write(tmp_path, GOOD), batch=2)
    assert net.table.names == ["Conv1", "Conv2", "FC"]
    # SCALE-Sim sizes include padding: out = (in - filter) / stride + 1
    assert [s.macs for s in net.shapes] == [2 * 109 * 109 * 64 * 3 * 49, 2 * 107 * 107 * 64 * 64 * 9, 2 * 64 * 10]
    nodes = {n.name: n for n in net.graph.nodes}
    assert nodes["Conv2"].inputs == ("Conv1",)         # 109x109x64 is exactly Conv1's output
    assert nodes["FC"].inputs == ("input",)            # 107x107 -> 1x1: something left out lies between
    assert str(nodes["Conv2"].out_bits) == "a:FC"      # still quantised for the next layer


@pytest.mark.parametrize("text, needle", [
    ("", "empty"),
    ("Layer, H, W\nc, 1, 1,\n", "header"),
    (HEADER, "no layers"),
    (HEADER + "c1, 8, 8, 3, 3, 4, x8, 1,\n",
     "t.csv:2: column 'Num Filter' must be an integer in [1, 1048576], got 'x8'"),
    (HEADER + "c1, 8, 8, 3, 3, 4, 8,\n", "t.csv:2: expected 8 columns"),
    (HEADER + "c1, 8, 8, 3, 3, 4, 8, 1, 5\n", "t.csv:2: expected 8 columns"),
    (HEADER + "c1, 8, 8, 3, 3, 4, 8, 0,\n", "column 'Strides'"),
    (HEADER + "c1, 2, 8, 3, 3, 4, 8, 1,\n", "t.csv:2: filter 3x3 is larger than the IFMAP 2x8"),
    (HEADER + "c1, 8, 8, 3, 3, 4, 8, 1,\nc1, 6, 6, 3, 3, 8, 8, 1,\n", "t.csv:3: layer name 'c1' is used twice"),
    (HEADER + ", 8, 8, 3, 3, 4, 8, 1,\n", "'Layer name' is empty"),
])
def test_bad_topology_files_name_line_column_and_value(tmp_path, text, needle):
    with pytest.raises(TopologyError) as e:
        read_topology(write(tmp_path, text))
    assert needle in str(e.value) and "t.csv" in str(e.value)


def test_missing_topology_file(tmp_path):
    with pytest.raises(TopologyError, match="cannot read"):
        read_topology(tmp_path / "none.csv")


# ---- ONNX -----------------------------------------------------------------------------------------
def onnx_model(tmp_path, nodes, inits, in_shape=("N", 3, 8, 8), name="m.onnx"):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in inits.items()])
    p = tmp_path / name
    onnx.save(helper.make_model(g), str(p))
    return p


def resnet_block(tmp_path, **kw):
    from onnx import helper
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["s"], name="add"),
             helper.make_node("GlobalAveragePool", ["s"], ["p"], name="gap"),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1)]
    return onnx_model(tmp_path, nodes, {"w1": (4, 3, 3, 3), "w2": (4, 4, 3, 3), "wf": (10, 4), "bf": (10,)}, **kw)


def test_onnx_conv_gemm_shapes_and_the_ops_between(tmp_path):
    from hwsim.netimport.onnx_model import read_onnx
    net = read_onnx(resnet_block(tmp_path), batch=2)
    assert [(n.name, n.kind) for n in net.graph.nodes] == [("conv1", "conv"), ("conv2", "conv"), ("add", "add"),
                                                            ("gap", "avgpool"), ("fc", "linear")]
    assert [s.macs for s in net.shapes] == [2 * 64 * 4 * 27, 2 * 64 * 4 * 36, 2 * 4 * 10]
    assert net.graph.nodes[2].inputs == ("conv2", "conv1")     # the Relu is fused into conv1


def test_onnx_bad_models_are_clear_errors(tmp_path):
    from onnx import helper
    from hwsim.netimport.onnx_model import OnnxImportError, read_onnx
    with pytest.raises(OnnxImportError, match=r"input 'x' has shape \[1, 3, 'H', 8\].*dynamic"):
        read_onnx(resnet_block(tmp_path, in_shape=("N", 3, "H", 8)))
    bad = onnx_model(tmp_path, [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv1", kernel_shape=[3, 3]),
                                helper.make_node("Concat", ["c", "c"], ["y"], name="cat", axis=1),
                                helper.make_node("LRN", ["y"], ["z"], name="norm", size=3)],
                     {"w1": (4, 3, 3, 3)}, name="bad.onnx")
    with pytest.raises(OnnxImportError, match=r"bad.onnx: unsupported op\(s\): Concat \(cat\), LRN \(norm\)"):
        read_onnx(bad)
    mm = onnx_model(tmp_path, [helper.make_node("MatMul", ["x", "x"], ["y"], name="qk")], {}, in_shape=(8, 8),
                    name="mm.onnx")
    with pytest.raises(OnnxImportError, match="node qk .*must be a constant"):
        read_onnx(mm)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a model at all" * 10)
    with pytest.raises(OnnxImportError, match="junk.onnx"):
        read_onnx(junk)


# ---- the command -----------------------------------------------------------------------------------
def test_estimate_a_zoo_network_from_the_cli(tmp_path, capsys):
    from bitmixer.cli import main
    out = tmp_path / "e.json"
    assert main(["estimate", "resnet20", "--hw", "hw_configs/bitfusion.yaml", "--config", "w4a4,published",
                 "--json", str(out)]) == 2     # resnet20 has no published bits
    assert "no published bit-widths" in capsys.readouterr().err
    assert main(["estimate", "bitfusion-cifar10", "--hw", "hw_configs/bitfusion.yaml", "--config", "w4a4,published",
                 "--batch", "2", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["model"] == "bitfusion-cifar10" and d["batch"] == 2
    assert [c["config"] for c in d["configs"]] == ["W4A4", "bitfusion-cifar10-published"]
    assert [l["name"] for l in d["layers"]] == [f"conv{i}" for i in range(6)] + ["fc6", "fc7", "fc8"]
    assert d["layers"][0]["macs"] == 2 * 32 * 32 * 128 * 27 and d["layers"][1]["w_bits"] == 4
    pub = d["configs"][1]
    assert pub["bits"]["conv0"] == [8, 8] and pub["bits"]["conv1"] == [2, 2]
    assert pub["total"]["cycles"] == sum(l["cycles"] for l in pub["layers"])
    assert d["configs"][0]["total"]["cycles"] != pub["total"]["cycles"]
    assert "total:" in capsys.readouterr().out


def test_estimate_topology_and_onnx_from_the_cli(tmp_path, capsys):
    from bitmixer.cli import main
    csv = write(tmp_path, GOOD)
    out = tmp_path / "e.json"
    assert main(["estimate", "--topology", str(csv), "--hw", "hw_configs/stripes.yaml", "--config", "w8a4",
                 "--json", str(out)]) == 0
    assert [l["name"] for l in json.loads(out.read_text())["layers"]] == ["Conv1", "Conv2", "FC"]
    assert main(["estimate", "--onnx", str(resnet_block(tmp_path)), "--hw", "hw_configs/bitfusion.yaml",
                 "--config", "w4a4", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["total"]["cycles"] > 0
    assert main(["estimate", "resnet18", "--topology", str(csv), "--hw", "hw_configs/stripes.yaml"]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["estimate", "resnet18", "--hw", "hw_configs/stripes.yaml", "--batch", "100000"]) == 2
    assert "--batch: batch must be an integer in [1, 65536]" in capsys.readouterr().err
