"""Golden vectors: hex files round-trip (two's complement at every width), and reading a vector directory
back reproduces the executor's traced tensors and the IR's weights and requant entries."""
import json

import numpy as np
import pytest

from hwsim.executor import execute
from hwsim.hexfile import HexFileError, read_hex, write_hex
from hwsim.vectors import VectorsError, read_vectors, write_vectors
import naive
from irgen import GenParams, random_bits, random_input, random_ir


@pytest.mark.parametrize("width,signed", [(8, False), (8, True), (32, True), (64, True), (6, True)])
def test_hex_round_trips_the_extremes(tmp_path, width, signed):
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    v = np.array([lo, lo + 1, -1 if signed else 1, 0, 1, hi - 1, hi], np.int64)
    write_hex(tmp_path / "v.hex", v, width, signed)
    lines = (tmp_path / "v.hex").read_text().split()
    assert all(len(s) == -(-width // 4) for s in lines)
    assert np.array_equal(read_hex(tmp_path / "v.hex", width, signed, (7,)), v)


def test_hex_refuses_values_that_do_not_fit(tmp_path):
    with pytest.raises(HexFileError, match="do not fit signed 8 bits"):
        write_hex(tmp_path / "v.hex", np.array([128]), 8, True)
    with pytest.raises(HexFileError, match="unsigned 8 bits"):
        write_hex(tmp_path / "v.hex", np.array([-1]), 8, False)


def test_twos_complement_text_is_what_verilog_reads(tmp_path):
    write_hex(tmp_path / "v.hex", np.array([-1, -128, 5]), 8, True)
    assert (tmp_path / "v.hex").read_text() == "ff\n80\n05\n"


@pytest.mark.parametrize("seed,identity,maxpool", [(1, True, True), (2, False, False), (3, False, True)])
def test_vectors_reproduce_the_executor(tmp_path, seed, identity, maxpool):
    ir = random_ir(GenParams(seed, channels=2, size=6, width=5, identity=identity, maxpool=maxpool))
    rng = np.random.default_rng(seed)
    cfg = random_bits(ir, rng)
    x = random_input(ir, rng, 3)
    man = write_vectors(ir, cfg, x, tmp_path)
    trace = execute(ir, cfg, x, trace=True).codes
    man2, arrays = read_vectors(tmp_path)
    assert man2 == json.loads(json.dumps(man, default=str))
    assert man["config"] == {k: list(v) for k, v in cfg.items()}
    ops = {o.name: o for o in ir.ops}
    checked = 0
    for entry in man["ops"]:
        op, got = ops[entry["name"]], arrays[entry["name"]]
        if op.kind == "flatten":
            continue
        assert np.array_equal(got["y"], trace[op.output]), op.name
        if op.kind == "add":
            assert np.array_equal(got["a"], trace[op.inputs[0]]) and np.array_equal(got["b"], trace[op.inputs[1]])
        else:
            assert np.array_equal(got["x"], trace[op.inputs[0]]), op.name
        if op.kind in ("conv", "linear"):
            w_bits, a_bits = cfg[op.attrs["layer"]]
            assert np.array_equal(got["w"], op.weights[w_bits])
            # the accumulator from the obvious reference (tests/naive.py)
            if op.kind == "linear":
                want = trace[op.inputs[0]].astype(np.int64) @ op.weights[w_bits].astype(np.int64).T
            else:
                want = naive.conv2d(trace[op.inputs[0]], op.weights[w_bits], *(op.attrs[k] for k in ("stride", "padding", "groups")))
            assert np.array_equal(got["acc"], want), op.name
        if op.kind == "conv":
            r = op.requant[tuple(entry["attrs"]["requant_key"])]
            for f in ("m0", "shift", "bias", "frac"):
                assert np.array_equal(got[f], getattr(r, f)), (op.name, f)
        checked += 1
    assert checked >= 6


def test_a_changed_file_is_caught(tmp_path):
    ir = random_ir(GenParams(4))
    rng = np.random.default_rng(0)
    write_vectors(ir, random_bits(ir, rng), random_input(ir, rng, 1), tmp_path)
    p = tmp_path / "c0" / "y.hex"
    lines = p.read_text().split()
    lines[0] = "ff" if lines[0] != "ff" else "00"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(VectorsError, match="c0/y.hex.*sha256"):
        read_vectors(tmp_path)


def test_vectors_cli_on_a_checkpoint(ckpt, tmp_path, capsys):  # noqa: F811
    from bitmixer.cli import main
    from quantnet.data import load_dataset
    from quantnet.export import load_int_model
    out = tmp_path / "vec"
    assert main(["vectors", str(ckpt), "--config", "w2a2", "--samples", "3", "--out", str(out)]) == 0
    assert "hex files" in capsys.readouterr().out
    man, arrays = read_vectors(out)
    ir = load_int_model(ckpt)
    x = load_dataset("synthetic").x_test[:3]
    res = execute(ir, man["config"], x, trace=True)
    assert man["samples"] == 3 and man["config"]["layer1.0.conv1"] == [2, 2]
    assert np.array_equal(arrays["fc"]["y"], res.logits)
    assert main(["vectors", str(ckpt), "--config", "w2a2", "--samples", "0", "--out", str(out)]) == 2


from test_verify import ckpt  # noqa: E402,F401
