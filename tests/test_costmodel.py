"""The dataflow cost model: counted cycles == analytic cycles, design behaviour, vectorised == loop, graph."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hwsim.dataflow.costmodel import NetworkCost, layer_cost, PETables
from hwsim.dataflow.graph import graph_from_ir, shapes_from_ir
from hwsim.dataflow.layers import LayerShape
from hwsim.executor import execute
from hwsim.hwconfig import load_hw_config
from hwsim.ir_io import save_ir
from hwsim.pe.sim import PESimulator

sys.path.insert(0, str(Path(__file__).parent))
from irgen import GenParams, random_bits, random_input, random_ir  # noqa: E402

# every shipped design
CONFIGS = sorted(p.stem for p in Path("hw_configs").glob("*.yaml"))


def hw(name):
    return load_hw_config(f"hw_configs/{name}.yaml")


def conv(name, cin, cout, k, s, p, size, g=1):
    return LayerShape(name, "conv", cin, cout, k, k, s, p, g, size, size, "acc")


# ResNet-18 (224x224) layers
R18 = [conv("conv1", 3, 64, 7, 2, 3, 224), conv("layer1.0.conv1", 64, 64, 3, 1, 1, 56),
       conv("layer2.0.conv1", 64, 128, 3, 2, 1, 56), conv("layer3.0.shortcut", 128, 256, 1, 2, 0, 28),
       conv("layer4.0.conv2", 512, 512, 3, 1, 1, 7)]


@pytest.mark.parametrize("name", CONFIGS)
def test_counted_cycles_equal_the_cost_model_without_savings(name):
    cfg = hw(name)
    rng = np.random.default_rng(0)
    tried = 0
    for seed, extra in [(1, {}), (2, {"identity": False, "block_stride": 2}), (3, {"groups": "some", "maxpool": True}),
                        (4, {"groups": "depthwise", "stem_stride": 2})]:
        ir = random_ir(GenParams(seed=seed, channels=4, size=9, width=7, **extra))
        cost = NetworkCost(shapes_from_ir(ir), cfg)
        for _ in range(2):
            bits = random_bits(ir, rng)
            sim = PESimulator(cfg, skipping=False)
            x = random_input(ir, rng, 2)
            execute(ir, bits, x, overflow="report", conv_impl=sim.conv_impl)
            for r in cost.layers(bits):
                if r["name"] in sim.counts:
                    assert sim.counts[r["name"]].cycles == 2 * r["cycles_by"]["compute"], (name, r["name"], bits)
                    tried += 1
    assert tried >= 20


def test_pe_path_matches_direct_executor_logits():
    ir = random_ir(GenParams(seed=5, channels=3, size=8, width=8, identity=False))
    rng = np.random.default_rng(5)
    x = random_input(ir, rng, 3)
    for name in CONFIGS:
        bits = random_bits(ir, rng)
        ref = execute(ir, bits, x).logits
        got = execute(ir, bits, x, conv_impl=PESimulator(hw(name)).conv_impl).logits
        np.testing.assert_array_equal(got, ref)


def compute(cfg, shape, w, a):
    return int(layer_cost(shape, cfg, PETables.build(cfg), w, a, 8)["cycles_by"]["compute"])


@pytest.mark.parametrize("name", ["stripes", "loom"])
def test_bit_serial_halving_activation_bits_halves_compute(name):
    cfg = hw(name)
    for s in R18:
        for w in (2, 4, 8):
            ratio = compute(cfg, s, w, 8) / compute(cfg, s, w, 4)
            assert 1.9 <= ratio <= 2.1, (s.name, w, ratio)


def test_bit_parallel_compute_ignores_bit_widths():
    cfg = hw("tpu_int8")
    for s in R18:
        assert len({compute(cfg, s, w, a) for w in range(2, 9) for a in range(2, 9)}) == 1


def test_bitfusion_2x2_throughput_is_16x_8x8():
    cfg = hw("bitfusion")
    # 512 channels per kernel tap: 16 lanes x 16 rows divide them, so the 2x2 run has exactly 1/16 of the folds
    assert compute(cfg, R18[4], 8, 8) == 16 * compute(cfg, R18[4], 2, 2)
    # 64 channels per tap fill only 64 of the 256 row lanes at 2x2 (the rest idle): a gain of 4, not 16
    assert compute(cfg, R18[1], 8, 8) == 4 * compute(cfg, R18[1], 2, 2)
    for s in R18:
        assert compute(cfg, s, 8, 8) > compute(cfg, s, 4, 4) >= compute(cfg, s, 2, 2)


@pytest.mark.parametrize("name", CONFIGS)
def test_vectorised_equals_per_config_loop(name):
    cfg = hw(name)
    ir = random_ir(GenParams(seed=7, channels=3, size=8, width=8, identity=False))
    cost = NetworkCost(shapes_from_ir(ir), cfg)
    rng = np.random.default_rng(7)
    cfgs = [random_bits(ir, rng) for _ in range(25)]
    names = [s.name for s in cost.shapes]
    W = np.array([[c[n][0] for n in names] for c in cfgs])
    A = np.array([[c[n][1] for n in names] for c in cfgs])
    many = cost.evaluate_many(W, A)
    for i, c in enumerate(cfgs):
        t = cost.total(c)
        assert many["cycles"][i] == t["cycles"]
        assert many["energy_pj"][i] == pytest.approx(t["energy_pj"], rel=1e-12)


def test_memory_levels_and_bound_by():
    cfg = hw("bitfusion")
    s = R18[2]                     # at 8 bits neither weights (590 kb) nor inputs (1.6 Mb) fit their buffer
    r = NetworkCost([s], cfg).layers({s.name: (8, 8)})[0]
    assert r["cycles"] == max(r["cycles_by"].values())
    assert r["bound_by"] == max(r["cycles_by"], key=r["cycles_by"].get)
    assert set(r["cycles_by"]) == {"compute", "dram", "wbuf", "ibuf", "obuf"}
    # so one of them is re-read: DRAM traffic exceeds one pass over weights + inputs + outputs
    one_pass = s.weight_elems * 8 + s.input_elems * 8 + s.output_elems * cfg.pe.accumulator_bits
    assert r["traffic_bits"]["dram"] > one_pass
    small = R18[3]
    r2 = NetworkCost([small], cfg).layers({small.name: (2, 2)})[0]
    assert r2["traffic_bits"]["dram"] == small.weight_elems * 2 + small.input_elems * 2 + small.output_elems * 32
    # energy grows with bit-width on every component that scales with bits
    lo, hi = (NetworkCost([s], cfg).layers({s.name: b})[0] for b in [(2, 2), (8, 8)])
    assert hi["energy_by"]["mac"] > 10 * lo["energy_by"]["mac"] and hi["energy_by"]["dram"] > lo["energy_by"]["dram"]


def test_graph_from_ir_edges_follow_the_tensors():
    ir = random_ir(GenParams(seed=2, identity=False))
    g = graph_from_ir(ir)
    assert set(g.nodes) == set(ir.table.names)
    assert ("c0", "c1") in g.edges and ("c0", "sc") in g.edges
    assert ("c2", "fc") in g.edges and ("sc", "fc") in g.edges
    assert all(g.nodes[n]["macs"] > 0 for n in g.nodes)


def test_graph_annotated_at_a_config():
    from hwsim.dataflow.graph import annotate_bits
    ir = random_ir(GenParams(seed=2, identity=False))
    bits = random_bits(ir, np.random.default_rng(3))
    g = annotate_bits(graph_from_ir(ir), bits, 32)
    for u, v, d in g.edges(data=True):
        assert d["tensor_bits"] == bits[v][1]
    for n, d in g.nodes(data=True):
        assert d["weight_bits"] == d["weight_elems"] * bits[n][0]
    assert g.nodes["c0"]["out_tensor_bits"] == bits["c1"][1] and g.nodes["c2"]["out_tensor_bits"] == 32


def test_estimate_and_simulate_commands(tmp_path, capsys):
    import json
    from bitmixer.cli import main
    ir = random_ir(GenParams(seed=3, channels=1, size=8, width=8, identity=False, classes=10))
    save_ir(ir, tmp_path / "m.npz")
    bits = random_bits(ir, np.random.default_rng(0))
    (tmp_path / "c.json").write_text(json.dumps({"name": "r0", "layers": {k: list(v) for k, v in bits.items()}}))
    out = tmp_path / "e.json"
    assert main(["estimate", str(tmp_path / "m.npz"), "--hw", "hw_configs/loom.yaml", "--config",
                 str(tmp_path / "c.json"), "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert [l["name"] for l in d["layers"]] == ir.table.names
    assert {"name", "macs", "w_bits", "a_bits", "cycles", "energy_pj", "bound_by"} <= set(d["layers"][0])
    assert d["total"]["cycles"] == sum(l["cycles"] for l in d["layers"])
    assert d["total"]["latency_s"] == pytest.approx(d["total"]["cycles"] / 1e9)
    sim = tmp_path / "s.json"
    assert main(["simulate", str(tmp_path / "m.npz"), "--hw", "hw_configs/stripes.yaml", "--config",
                 str(tmp_path / "c.json"), "--samples", "8", "--skipping", "on", "--json", str(sim)]) == 0
    r = json.loads(sim.read_text())["results"][0]
    assert 0 <= r["accuracy"] <= 1 and r["samples"] == 8
    assert r["total"]["counted"] <= r["total"]["no_skip"] == r["total"]["model_compute"]
    assert main(["estimate", str(tmp_path / "m.npz"), "--hw", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_simulated_energy_is_the_estimate_less_only_the_mac_energy_of_skipped_planes():
    from hwsim.pe.simulate import simulate_config
    ir = random_ir(GenParams(seed=3, channels=1, size=8, width=8, identity=False, classes=10))
    bits = random_bits(ir, np.random.default_rng(0))
    x = np.random.default_rng(1).integers(0, 4, size=(5,) + tuple(ir.input_shape)).astype(np.uint8)  # high planes 0
    y = np.zeros(len(x), np.int64)
    est = NetworkCost(shapes_from_ir(ir), hw("stripes")).layers(bits)
    off = simulate_config(ir, hw("stripes"), bits, x, y, skipping=False)
    on = simulate_config(ir, hw("stripes"), bits, x, y, skipping=True)
    assert on["samples"] == 5 and [r["name"] for r in on["layers"]] == [e["name"] for e in est]
    for e, a, b in zip(est, off["layers"], on["layers"]):
        assert a["counted"] == a["no_skip"] == b["no_skip"] and a["saved_pct"] == 0.0
        assert a["energy_pj"] == pytest.approx(5 * e["energy_pj"], rel=1e-12)
        saved_pj = a["energy_pj"] - b["energy_pj"]
        assert 0 <= saved_pj <= 5 * e["energy_by"]["mac"] * (1 + 1e-12)
        assert (saved_pj > 0) == (b["counted"] < b["no_skip"])
    assert on["total"]["counted"] < off["total"]["counted"] and on["total"]["energy_pj"] < off["total"]["energy_pj"]
    assert on["total"]["counted"] == sum(r["counted"] for r in on["layers"])


def test_shapes_from_an_exported_meta_network_match_its_layer_table():
    from quantnet.export import export_model
    from quantnet.models import build_model
    model = build_model("digits_resnet")
    ir = export_model(model)
    shapes = shapes_from_ir(ir)
    assert [s.name for s in shapes] == model.spec.names
    assert [s.macs for s in shapes] == [l.macs for l in model.spec.layers]      # traced by torch hooks
    assert [s.weight_elems for s in shapes] == [l.params for l in model.spec.layers]
    g = graph_from_ir(ir)
    # edges pass through adds, rescales and pools: a block input comes from both branches of the last add
    assert set(g.predecessors("fc")) == {"layer2.0.conv2", "layer2.0.shortcut"}
    assert set(g.predecessors("layer2.0.conv1")) == {"layer1.0.conv2", "conv1"}     # identity shortcut of layer1.0


def test_leakage_energy_is_power_times_time():
    import dataclasses
    cfg = dataclasses.replace(hw("tpu_int8"), leakage_mw=250.0)
    r = NetworkCost([R18[1]], cfg).layers({R18[1].name: (8, 8)})[0]
    assert r["energy_by"]["leakage"] == pytest.approx(0.25 * r["cycles"] / cfg.clock_hz * 1e12)
    assert hw("tpu_int8").leakage_mw == 0.0
