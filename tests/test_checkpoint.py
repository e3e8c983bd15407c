import json
import os

import pytest
import torch

from hwsim.bits import BitConfig
from quantnet.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from bitmixer.cli import main
from quantnet.data import make_synthetic
from quantnet.models import build_model


@pytest.fixture()
def trained_ckpt(tmp_path):
    torch.manual_seed(0)
    model = build_model("digits_resnet", num_classes=4, bn_mode="switchable")
    model.train()
    x = torch.randint(0, 256, (16, 1, 8, 8), dtype=torch.uint8)
    for cfg in [None] + [BitConfig.uniform(model.spec, b) for b in (2, 3, 4)]:
        model.configure(cfg)
        model(x)  # initialises every step and moves every BN bank entry
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, {"data": "synthetic"})
    return model, path


def test_round_trip_restores_every_bit_width(trained_ckpt):
    model, path = trained_ckpt
    loaded, extra = load_checkpoint(path)
    assert extra == {"data": "synthetic"} and loaded.bn_mode == "switchable"
    x = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    model.eval()
    for cfg in [None, BitConfig.uniform(model.spec, 2), BitConfig.random(model.spec, 4)]:
        model.configure(cfg)
        loaded.configure(cfg)
        assert torch.equal(model(x), loaded(x))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_checkpoint_with_code_is_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"format": "bitmixer-checkpoint", "version": 1, "payload": _Evil()}, p)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(p)


def test_not_a_checkpoint_and_missing(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"hello": torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match="not a bitmixer checkpoint"):
        load_checkpoint(p)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CheckpointError, match="trunc.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "trunc.pt")


def test_eval_cli_prints_table_and_writes_json(trained_ckpt, tmp_path, capsys):
    _, path = trained_ckpt
    out = tmp_path / "r.json"
    assert main(["eval", str(path), "--config", "fp,uniform:2,random:3:0", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "W2A2" in table and "random x3" in table
    res = json.loads(out.read_text())
    assert res["checkpoint"] == str(path)
    assert [r["config"] for r in res["results"]] == ["fp", "W2A2", "random-0", "random-1", "random-2"]
    n = len(make_synthetic().y_test)
    for r in res["results"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["samples"] == n
    assert res["results"][1]["avg_w_bits"] == 2.0


def test_eval_cli_bad_input_is_one_line_error(trained_ckpt, tmp_path, capsys):
    _, path = trained_ckpt
    assert main(["eval", str(path), "--config", "uniform:9"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "w_bits=9" in err and "Traceback" not in err
    assert main(["eval", str(tmp_path / "missing.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_checkpoint_records_its_width_and_one_without_it_loads_at_its_weights_width(tmp_path):
    model = build_model("digits_resnet10", width=8)
    assert build_model("digits_resnet10").arch_kwargs["width"] == 16     # the default is recorded too
    path = tmp_path / "old.pt"
    save_checkpoint(model, path)
    payload = torch.load(path, weights_only=True)
    assert payload["arch_kwargs"]["width"] == 8
    del payload["arch_kwargs"]["width"]       # as written when the default width (then 8) went unrecorded
    torch.save(payload, path)
    loaded, _ = load_checkpoint(path)
    assert loaded.conv1.weight.shape[0] == 8 and loaded.arch_kwargs["width"] == 8
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
