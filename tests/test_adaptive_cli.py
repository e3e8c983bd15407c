"""`search adaptive` trains and saves a policy; `eval --policy` reports accuracy, cost with units and
the configs chosen, and agrees with what search measured."""
import json

from quantnet.checkpoint import save_checkpoint
from bitmixer.cli import main

from small_models import calibrated_model


def test_search_adaptive_then_eval_policy(tmp_path, capsys):
    ckpt = tmp_path / "c.pt"
    save_checkpoint(calibrated_model(), ckpt, {"data": "synthetic", "data_dir": None})
    out = tmp_path / "pol"
    assert main(["search", "adaptive", str(ckpt), "--hw", "hw_configs/stripes.yaml", "--cost", "energy",
                 "--lambda", "0.5", "--out", str(out), "--epochs", "3", "--granularity", "block",
                 "--no-progress", "--json", str(tmp_path / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "µJ" in text and (out / "policy.pt").is_file() and (out / "result.json").is_file()
    searched = json.loads((tmp_path / "s.json").read_text())["test"]
    assert main(["eval", str(ckpt), "--policy", str(out / "policy.pt"), "--json", str(tmp_path / "e.json")]) == 0
    text = capsys.readouterr().out
    assert "top-1" in text and "µJ" in text and "widths per decision" in text
    ev = json.loads((tmp_path / "e.json").read_text())
    assert ev["accuracy"] == searched["accuracy"] and ev["cost"] == searched["cost"]
    assert ev["cost"]["unit"] == "pJ" and ev["hw"] == "stripes" and ev["trained"]["lambda"] == 0.5
    assert sum(c["samples"] for c in ev["configs"]) == ev["samples"]     # block: at most 9 configs


def test_search_adaptive_rejects_bad_input(tmp_path, capsys):
    ckpt = tmp_path / "c.pt"
    save_checkpoint(calibrated_model(n_random=0), ckpt, {"data": "synthetic", "data_dir": None})
    assert main(["search", "adaptive", str(ckpt), "--cost", "energy", "--lambda", "0.1", "--out", str(tmp_path)]) == 2
    assert "needs an accelerator config" in capsys.readouterr().err
    assert main(["search", "adaptive", str(ckpt), "--cost", "bitops", "--lambda", "-1", "--out", str(tmp_path)]) == 2
    assert "lambda must be >= 0" in capsys.readouterr().err
    assert main(["eval", str(ckpt), "--policy", str(ckpt)]) == 2
    assert "not a bitmixer adaptive-policy file" in capsys.readouterr().err
