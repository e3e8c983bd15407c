"""Design-space sweeps (studies/sweep, `bitmixer sweep`): the table equals a plain loop over the single-config
estimate; Dask runs (two workers, one killed mid-sweep) equal the serial run; --resume adds no duplicate rows;
the page opens with its images; bad spaces are refused before any work, naming file, field and value."""
from __future__ import annotations

import copy
import itertools
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import sweep_faults
import yaml

from browser import loaded_images, needs_chromium
from hwsim import zoo
from hwsim.area import area_mm2
from hwsim.bits import BitConfig
from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.estimate import estimate_configs, estimate_network
from hwsim.netimport.scalesim_csv import read_topology
from hwsim.hwconfig import parse_hw_config
from hwsim.ir_io import save_ir
from quantnet.checkpoint import save_checkpoint
from quantnet.config_spec import ir_bit_configs
from quantnet.export import export_model
from small_models import calibrated_model
from studies.sweep import run as sweep_run
from studies.sweep.chunks import cost_chunk
from studies.sweep.cluster import dask_client
from studies.sweep.engine import run_chunks
from studies.sweep.run import SweepOptions, resolve, run_sweep
from studies.sweep.space import SpaceError

PARAMS = {"array.rows": [8, 16], "array.cols": {"start": 16, "stop": 32, "factor": 2},
          "pe.kind": ["fused_bricks", "bit_serial_act"], "memory.buffers.wbuf.size": ["8 KiB", "64 KiB"]}
BITS = ["uniform", "random:5:3"]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep-model")
    model = calibrated_model(n_random=0)
    save_checkpoint(model, d / "net.pt", {"data": "synthetic", "data_dir": None})
    ir = export_model(model)
    save_ir(ir, d / "net.npz")
    return d / "net.pt", d / "net.npz", ir


def write_space(path: Path, parameters=None, bits=None, networks=None, base="bitfusion") -> Path:
    path.write_text(yaml.safe_dump({"hardware": {"base": base, "parameters": PARAMS if parameters is None else parameters},
                                    "bits": BITS if bits is None else bits, "networks": networks}, sort_keys=False))
    return path


@pytest.fixture
def ir_space(tmp_path, model_files):
    return write_space(tmp_path / "space.yaml", networks=[{"ir": str(model_files[1]), "name": "tiny"}])


def table_of(out: Path):
    return pq.read_table(out / "points.parquet")


def assert_same_table(a, b):
    """Equal cell for cell, a NaN accuracy (not measured) equal to itself."""
    assert a.drop_columns(["accuracy"]).equals(b.drop_columns(["accuracy"]))
    np.testing.assert_array_equal(a.column("accuracy").to_numpy(), b.column("accuracy").to_numpy())


def test_table_equals_a_plain_loop_over_the_single_config_estimate(tmp_path, model_files):
    # the TPU-like systolic base, so the dataflow is swept too; 7 points a chunk: chunks split a hardware
    # point's configs, so the merge order is tested too
    space = write_space(tmp_path / "space.yaml", {
        "array.rows": [8, 16], "array.cols": {"start": 16, "stop": 32, "factor": 2},
        "pe.kind": ["bit_parallel", "bit_serial_act"], "memory.buffers.weight_buffer.size": ["8 KiB", "64 KiB"],
        "array.dataflow": ["ws", "os"]}, networks=[{"ir": str(model_files[1]), "name": "tiny"}], base="tpu_int8")
    run_sweep(space, tmp_path / "out", SweepOptions(serial=True, chunk_points=7, progress=False))
    got = table_of(tmp_path / "out").to_pylist()
    ir = model_files[2]
    configs = [c for spec in BITS for c in ir_bit_configs(ir, spec)]
    base = yaml.safe_load(Path("hw_configs/tpu_int8.yaml").read_text())
    want = []
    for i, (rows, cols, kind, wbuf, df) in enumerate(itertools.product(
            [8, 16], [16, 32], ["bit_parallel", "bit_serial_act"], ["8 KiB", "64 KiB"], ["ws", "os"])):
        data = copy.deepcopy(base)
        data["array"].update(rows=rows, cols=cols, dataflow=df)
        data["pe"]["kind"] = kind
        data["memory"]["buffers"]["weight_buffer"]["size"] = wbuf
        hw = parse_hw_config(data, "edited.yaml")
        for j, r in enumerate(estimate_configs(ir, hw, configs)):
            by = {k: sum(layer["energy_by"][k] for layer in r["layers"]) for k in r["layers"][0]["energy_by"]}
            want.append({"hw_point": i, "bits_index": j, "bits": r["config"], "pe_kind": kind, "rows": rows,
                         "cols": cols, "layout": f"systolic {df}",
                         "memory.buffers.weight_buffer.size": {"8 KiB": 65536, "64 KiB": 524288}[wbuf],
                         "cycles": r["total"]["cycles"], "latency_s": r["total"]["latency_s"],
                         "energy_pj": r["total"]["energy_pj"], **{f"energy_{k}_pj": v for k, v in by.items()},
                         "area_mm2": area_mm2(hw)["total"]})
    assert len(got) == len(want) == 32 * len(configs)
    for g, w in zip(got, want):
        assert {k: g[k] for k in w} == w          # exact: the same sums in the same order


def test_zoo_networks_are_costed_at_their_published_widths(tmp_path):
    space = write_space(tmp_path / "s.yaml", {"array.rows": [8, 16]}, ["published", "w4a4"],
                        [{"zoo": "bitfusion-lenet5", "batch": 2}])
    run_sweep(space, tmp_path / "out", SweepOptions(serial=True, progress=False))
    got = table_of(tmp_path / "out").to_pylist()
    net = zoo.get("bitfusion-lenet5", 2)
    want = []
    for rows in (8, 16):
        data = yaml.safe_load(Path("hw_configs/bitfusion.yaml").read_text())
        data["array"]["rows"] = rows
        cost = NetworkCost(net.shapes, parse_hw_config(data, "edited.yaml"))
        for cfg in (net.published_config(), BitConfig.uniform(net.table, 4, 4)):
            want.append(cost.total(net.table.validate(cfg, "c").bits)["cycles"])
    assert [r["cycles"] for r in got] == want
    assert [r["bits"] for r in got][:2] == ["bitfusion-lenet5-published", "W4A4"]


def test_topology_files_are_costed_as_their_estimate(tmp_path):
    csv = tmp_path / "two.csv"
    csv.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                   "c1, 16, 16, 3, 3, 8, 16, 1,\nc2, 14, 14, 3, 3, 16, 32, 2,\n")
    space = write_space(tmp_path / "s.yaml", {"array.cols": [16, 64]}, ["w4a4", "w8a8"],
                        [{"topology": str(csv), "batch": 4}])
    run_sweep(space, tmp_path / "out", SweepOptions(serial=True, progress=False))
    got = [(r["network"], r["bits"], r["cycles"], r["energy_pj"]) for r in table_of(tmp_path / "out").to_pylist()]
    net = read_topology(csv, 4)
    want = []
    for cols in (16, 64):
        data = yaml.safe_load(Path("hw_configs/bitfusion.yaml").read_text())
        data["array"]["cols"] = cols
        for r in estimate_network(net, parse_hw_config(data, "edited.yaml"),
                                  [(n, BitConfig.uniform(net.table, b, b)) for n, b in (("W4A4", 4), ("W8A8", 8))]):
            want.append(("two", r["config"], r["total"]["cycles"], r["total"]["energy_pj"]))
    assert got == want


def test_bit_configs_too_wide_for_a_point_are_named(tmp_path, model_files):
    # w_bits_max 2 is a valid fused_bricks config, but no bit config runs on it (the first and last layers take 8)
    space = write_space(tmp_path / "s.yaml", {"pe.w_bits_max": [8, 2]}, networks=[{"ir": str(model_files[1])}])
    with pytest.raises(SpaceError, match=r"s\.yaml: hardware point 1 \(pe\.w_bits_max=2\): PE kind 'fused_bricks' "
                                         r"takes w_bits <= 2, but bit config 'W2A2' of network 'net' uses 8"):
        resolve(space, 10_000)


@pytest.mark.parametrize("parameters, bits, message", [
    ({"array.rows": []}, None, r"s\.yaml: hardware\.parameters\.array\.rows: the list is empty"),
    ({"array.rows": {"start": 8, "step": 8}}, None, r"parameters\.array\.rows: the range is unbounded: give both "
                                                   r"start and stop \(got \{'start': 8, 'step': 8\}\)"),
    ({"array.rows": {"start": 64, "stop": 8, "factor": 2}}, None, r"array\.rows: the range is empty \(stop 8 is below "
                                                                   r"start 64\)"),
    ({"array.rows": {"start": 8, "stop": 64, "factor": 1}}, None, r"array\.rows\.factor: must be > 1, got 1"),
    ({"array.height": [8]}, None, r"s\.yaml: hardware\.parameters\.array\.height: the base config \S+bitfusion\.yaml "
                                  r"has no setting 'array\.height'"),
    ({"memory.buffers.gbuf.size": ["8 KiB"]}, None, r"has no setting 'memory\.buffers\.gbuf\.size'"),
    ({"array": [8]}, None, r"has no setting 'array'"),
    ({"memory.buffers.wbuf.size": ["8 KiB", "8 KB/s"]}, None, r"s\.yaml: hardware\.parameters\.memory\.buffers\.wbuf\.size: "
                                                            r"expected a size such as '64 KiB'"),
    ({"array.rows": [16, 0]}, None, r"s\.yaml: hardware point 1 \(array\.rows=0\): \S+bitfusion\.yaml: array\.rows: "
                                    r"must be >= 1, got 0"),
    ({"pe.kind": ["fused_bricks", "quantum"]}, None, r"hardware point 1 \(pe\.kind=quantum\): .*pe\.kind: 'quantum' "
                                                     r"is not one of"),
    ({}, [], r"s\.yaml: bits: the list is empty"),
    ({}, ["random:0"], r"s\.yaml: networks\[0\]: bits 'random:0': .*N must be an integer in \[1, 10001\), got '0'"),
    ({"array.rows": {"start": 1, "stop": 1000, "step": 1}, "array.cols": {"start": 1, "stop": 1000, "step": 1}}, None,
     r"s\.yaml: hardware\.parameters make 1000000 hardware points, more than --max-points 1000"),
    ({"array.rows": {"start": 1, "stop": 200, "step": 1}}, None,
     r"s\.yaml: the space has \d+ points \(200 hardware points x \d+ bit configs\), more than --max-points 1000"),
])
def test_bad_spaces_are_refused_naming_file_field_and_value(tmp_path, model_files, parameters, bits, message):
    space = write_space(tmp_path / "s.yaml", parameters, bits, networks=[{"ir": str(model_files[1])}])
    with pytest.raises(SpaceError, match=message):
        resolve(space, 1000)


def test_cli_refuses_a_bad_space_before_any_work(tmp_path, model_files, capsys):
    from bitmixer.cli import main

    space = write_space(tmp_path / "s.yaml", {"array.rows": [16, 0]}, networks=[{"ir": str(model_files[1])}])
    out = tmp_path / "out"
    assert main(["sweep", str(space), "--out", str(out), "--serial", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "hardware point 1 (array.rows=0)" in err and "Traceback" not in err
    assert not out.exists()                                   # nothing written, nothing costed
    bad = tmp_path / "t.yaml"
    bad.write_text("hardware: {base: bitfusion}\nbits: [uniform]\nnetworks: [{ir: x.npz, checkpoint: y.pt}]\n")
    assert main(["sweep", str(bad), "--out", str(out), "--serial"]) == 2
    assert "t.yaml: networks[0]: give exactly one of checkpoint, ir, zoo, topology or onnx" in capsys.readouterr().err


def test_resume_after_an_interrupted_run_writes_no_duplicate_rows(tmp_path, ir_space, monkeypatch):
    opts = SweepOptions(serial=True, chunk_points=20, progress=False)
    run_sweep(ir_space, tmp_path / "whole", opts)
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return cost_chunk(*args)

    monkeypatch.setattr(sweep_run, "cost_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(ir_space, tmp_path / "out", opts)
    written = sorted((tmp_path / "out" / "chunks").glob("chunk-*.parquet"))
    assert len(written) == 2
    (tmp_path / "out" / "chunks" / ".chunk-000002.parquet.99.tmp").write_bytes(b"half a file")
    with pytest.raises(SpaceError, match=r"holds an earlier sweep \(resolved_space\.yaml\); pass --resume"):
        run_sweep(ir_space, tmp_path / "out", opts)
    monkeypatch.undo()
    s = run_sweep(ir_space, tmp_path / "out", SweepOptions(serial=True, chunk_points=20, progress=False, resume=True))
    assert s["chunks_skipped"] == 2 and s["chunks_run"] == s["chunks"] - 2
    got = table_of(tmp_path / "out")
    keys = list(zip(got.column("hw_point").to_pylist(), got.column("bits_index").to_pylist()))
    assert len(keys) == len(set(keys)) == s["points"]
    assert_same_table(got, table_of(tmp_path / "whole"))
    assert not list((tmp_path / "out" / "chunks").glob(".*.tmp"))
    # a changed space does not resume into the old directory
    write_space(ir_space, {"array.rows": [8]}, networks=yaml.safe_load(ir_space.read_text())["networks"])
    with pytest.raises(SpaceError, match=r"--resume: .*resolved_space\.yaml records a different space"):
        run_sweep(ir_space, tmp_path / "out", SweepOptions(serial=True, resume=True, progress=False))


# ---- Dask ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """Two local worker processes; the fault-injecting chunk function travels by value (a remote worker could
    not import tests/)."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sweep_faults)
    with dask_client(workers=2) as client:
        yield client


def test_two_worker_cluster_equals_serial(tmp_path, ir_space, cluster):
    run_sweep(ir_space, tmp_path / "serial", SweepOptions(serial=True, chunk_points=20, progress=False))
    addr = cluster.scheduler.address
    s = run_sweep(ir_space, tmp_path / "dask", SweepOptions(scheduler=addr, chunk_points=20, progress=False))
    assert s["chunks_run"] == s["chunks"] > 2
    assert_same_table(table_of(tmp_path / "dask"), table_of(tmp_path / "serial"))


@pytest.mark.parametrize("workers_write", [False, True], ids=["caller-writes", "workers-write"])
def test_a_worker_killed_mid_sweep_loses_no_point(tmp_path, ir_space, cluster, workers_write):
    r = resolve(ir_space, 10_000)
    chunks = sweep_run.plan_chunks(len(r.points), [n.n_configs for n in r.networks], 20)
    marker = tmp_path / "killed"

    def args(c):
        return str(marker), 1, r.networks[c.network], r.points[c.hw[0]:c.hw[1]], c

    (tmp_path / "out").mkdir()
    rep = run_chunks(chunks, tmp_path / "out", args, sweep_faults.kill_own_worker_once, cluster, progress=False,
                     workers_write=workers_write)
    assert marker.exists(), "the victim chunk never ran"
    assert rep.chunks_run == len(chunks)
    got = sweep_run.merge(chunks, tmp_path / "out", r.networks)
    keys = list(zip(got.column("hw_point").to_pylist(), got.column("bits_index").to_pylist()))
    assert len(keys) == len(set(keys)) == r.n_points


# ---- accuracy and the page ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def accuracy_run(tmp_path_factory, model_files):
    d = tmp_path_factory.mktemp("sweep-acc")
    space = write_space(d / "space.yaml", {"array.rows": [8, 16], "pe.kind": ["fused_bricks", "bit_serial_both"]},
                        ["uniform"], [{"checkpoint": str(model_files[0]), "accuracy": "torch", "samples": 64}])
    s = run_sweep(space, d / "out", SweepOptions(serial=True, progress=False, max_latency_ms=1.0, max_area_mm2=10.0))
    return d / "out", s


def test_accuracy_is_measured_once_per_config_and_labelled(accuracy_run, model_files):
    from quantnet.checkpoint import load_checkpoint
    from quantnet.data import load_dataset
    from quantnet.evaluate import accuracy

    out, s = accuracy_run
    t = table_of(out)
    model, _ = load_checkpoint(model_files[0])
    data = load_dataset("synthetic")
    cfgs = ir_bit_configs(model_files[2], "uniform")
    want = {name: accuracy(model, c, data.x_test[:64], data.y_test[:64]) for name, c in cfgs}
    got = list(zip(t.column("bits").cast("string").to_pylist(), t.column("accuracy").to_pylist()))
    assert len(got) == 4 * len(cfgs) and all(a == want[b] for b, a in got)
    assert set(t.column("accuracy_source").cast("string").to_pylist()) == {"torch fake-quant model, 64 synthetic test samples"}
    best = s["best"]
    assert best and all(r["latency_ms"] <= 1.0 and r["area_mm2"] <= 10.0 for r in best)


@needs_chromium
def test_sweep_page_opens_with_its_fronts(accuracy_run, tmp_path):
    out, s = accuracy_run
    images = loaded_images(Path(s["html"]), tmp_path / "profile")
    assert sorted(i["src"] for i in images) == ["accuracy_energy.png", "energy_area.png", "energy_latency.png"]
    for i in images:
        assert i["done"] and i["w"] > 100 and i["h"] > 100, i
    assert "best_designs.csv" in Path(s["html"]).read_text()
