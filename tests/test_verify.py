"""`bitmixer export` and `bitmixer verify` end to end on a small calibrated checkpoint (synthetic data: fast)."""
import json

import numpy as np
import pytest

import quantnet.verify as verify_mod
from hwsim.executor import execute
from hwsim.ir_io import load_ir
from hwsim.bits import BitConfig
from quantnet.checkpoint import save_checkpoint
from bitmixer.cli import main
from quantnet.data import load_dataset
from quantnet.export import export_model
from quantnet.intref import run_reference

from small_models import calibrated_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small batches: parallel numba start-up costs more than the work on 2 busy cores."""
    import numba
    nb = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(nb)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small net whose steps and BN statistics come from data (no training: calibration only)."""
    model = calibrated_model(n_random=8)
    path = tmp_path_factory.mktemp("ckpt") / "digits.pt"
    save_checkpoint(model, path, {"data": "synthetic", "data_dir": None})
    return path


def test_export_cli_writes_a_loadable_ir_equal_to_the_in_memory_export(ckpt, tmp_path, capsys):
    out = tmp_path / "model.npz"
    assert main(["export", str(ckpt), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    ir = load_ir(out)
    from quantnet.checkpoint import load_checkpoint
    model, _ = load_checkpoint(ckpt)
    fresh = export_model(model)
    x = load_dataset("synthetic").x_test[:16]
    bits = BitConfig.uniform(model.spec, 3).bits
    assert np.array_equal(execute(ir, bits, x).logits, run_reference(fresh, bits, x)[0])


def test_verify_reports_zero_mismatches_and_the_json_keys(ckpt, tmp_path, capsys):
    js = tmp_path / "v.json"
    rc = main(["verify", str(ckpt), "--configs", "3", "--samples", "60", "--json", str(js)])
    out = capsys.readouterr().out
    assert rc == 0, out
    data = json.loads(js.read_text())
    for key in ("configs_checked", "samples", "integer_mismatches", "code_agreement", "top1_agreement", "configs"):
        assert key in data
    assert data["configs_checked"] == 3 + 3 and data["samples"] == 60 and data["integer_mismatches"] == 0
    assert 0.9 <= data["code_agreement"] <= 1 and 0.9 <= data["top1_agreement"] <= 1
    first = data["configs"][0]
    assert first["config"] == "W2A2" and {l["op"] for l in first["layers"]} >= {"conv1", "layer1.0.add", "fc"}
    assert all(l["mismatches"] == 0 for c in data["configs"] for l in c["layers"])
    sites = [l for l in first["layers"] if l["code_agreement"] is not None]
    assert {l["tensor"] for l in sites} == {"act1", "layer1.0.act1", "layer1.0.act_out", "layer2.0.act1",
                                            "layer2.0.act_out"}
    assert "integer mismatches 0" in out


def test_verify_exits_nonzero_on_an_integer_mismatch(ckpt, monkeypatch, capsys):
    def corrupt(*a, **kw):
        res = execute(*a, **kw)
        t = res.codes["layer1.0.act1"]
        t.flat[0] = t.flat[0] + 1      # one wrong code in one layer
        return res
    monkeypatch.setattr(verify_mod, "execute", corrupt)
    rc = main(["verify", str(ckpt), "--configs", "0", "--samples", "8"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "MISMATCH W2A2: op layer1.0.conv1: 1 values differ" in out


def test_verify_rejects_a_tampered_ir_file(ckpt, tmp_path, capsys):
    out = tmp_path / "m.npz"
    assert main(["export", str(ckpt), "-o", str(out)]) == 0
    data = bytearray(out.read_bytes())
    out.write_bytes(bytes(data[: len(data) // 3]))
    assert main(["verify", str(ckpt), "--ir", str(out), "--configs", "0", "--samples", "4"]) == 2
    assert "not a readable integer model" in capsys.readouterr().err


def test_verify_rejects_bad_arguments(ckpt, capsys):
    assert main(["verify", str(ckpt), "--configs", "-1"]) == 2
    assert "--configs" in capsys.readouterr().err
