"""eval --config worst:N: parsing, the report's shape, and the per-transition table against hand figures."""
import json

import numpy as np
import pytest

from hwsim.bits import BitConfig, BitConfigError
from quantnet.checkpoint import save_checkpoint
from quantnet.data import load_dataset
from quantnet.models import build_model
from quantnet.sensitivity import parse_worst_spec, sensitivity_table, worst_report


def test_worst_spec_parses_count_and_seed():
    assert parse_worst_spec("worst:5") == (5, 0)
    assert parse_worst_spec("worst:1000:7") == (1000, 7)


@pytest.mark.parametrize("text, match", [("worst:0", r"N must be an integer in \[1, 10001\), got '0'"),
                                         ("worst:many", "N must be an integer"),
                                         ("worst:5:-1", "SEED must be an integer"),
                                         ("worst:5:1:2", "expected worst:N or worst:N:SEED"),
                                         ("worst", "expected worst:N")])
def test_worst_spec_rejects_bad_text_naming_it(text, match):
    with pytest.raises(BitConfigError, match=match):
        parse_worst_spec(text)


def test_transition_table_matches_hand_figures():
    model = build_model("digits_resnet", width=2)
    spec = model.spec
    low, high = BitConfig.uniform(spec, 2), BitConfig.uniform(spec, 4)
    wide_middle = BitConfig.from_dict({"default": 2, "layers": {"layer1.0.conv2": 4}}, spec)   # 2 -> 4 -> 2
    table = sensitivity_table(model, [(low, 0.9), (high, 0.7), (wide_middle, 0.5)])   # mean of all: 0.7
    row = {(t["layer"], t["prev"], t["prev_shortcut"], t["bits"]): t for t in table}
    first = row[("layer1.0.conv1", 8, None, 2)]
    assert first["configs"] == 2 and first["mean"] == pytest.approx(0.7)
    assert first["min"] == 0.5 and first["drop"] == pytest.approx(0.0)
    assert row[("layer1.0.conv2", 2, None, 4)]["mean"] == 0.5 and row[("layer1.0.conv2", 2, None, 4)]["drop"] == pytest.approx(0.2)
    assert row[("layer1.0.conv2", 2, None, 2)]["drop"] == pytest.approx(-0.2)
    # the layer after the wide one reads a residual sum: its main summand from those 4-bit weights, its identity
    # shortcut carrying the 8-bit stem's output
    assert row[("layer2.0.conv1", 4, 8, 2)]["configs"] == 1 and row[("layer2.0.conv1", 4, 8, 2)]["mean"] == 0.5
    assert ("layer2.0.conv1", 2, 8, 4) not in row and ("layer2.0.conv1", 4, None, 2) not in row
    assert sum(t["configs"] for t in table if t["layer"] == "layer2.0.shortcut") == 3


def test_worst_report_shape_on_a_tiny_model():
    model = build_model("digits_resnet", width=2, num_classes=4)
    data = load_dataset("synthetic")
    x, y = data.x_test[:40], data.y_test[:40]
    r = worst_report(model, x, y, n=7, seed=3, k=3, progress=False)
    accs = [w["accuracy"] for w in r["worst"]]
    assert len(accs) == 3 and accs == sorted(accs) and accs[0] == r["random"]["min"]
    assert set(r["uniform"]) == {"W2A2", "W3A3", "W4A4"} and r["samples"] == 40
    assert r["layers"] == [l.name for l in model.spec.switchable]
    for name in r["layers"]:
        assert sum(t["configs"] for t in r["transitions"] if t["layer"] == name) == 7
    assert all(len(w["widths"].split("-")) == 5 for w in r["worst"])


def test_cli_worst_writes_json(tmp_path, capsys):
    from bitmixer.cli import main

    p = tmp_path / "c.pt"
    save_checkpoint(build_model("digits_resnet", width=2), p)
    out = tmp_path / "w.json"
    assert main(["eval", str(p), "--config", "worst:6:1", "--worst", "2", "--samples", "30", "--no-progress",
                 "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["n"] == 6 and r["seed"] == 1 and len(r["worst"]) == 2
    text = capsys.readouterr().out
    assert "6 random per-layer configs (seed 1) on 30 samples" in text and "prev[+sc] -> bits" in text
    assert " 2+8 -> " in text or " 3+8 -> " in text or " 4+8 -> " in text      # layer2.0's residual-sum readers
    assert main(["eval", str(p), "--config", "worst:0", "--no-progress"]) == 2
    assert "N must be an integer" in capsys.readouterr().err
