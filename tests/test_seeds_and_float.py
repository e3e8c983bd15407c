"""Rows over training seeds (mean ± sample std) and the refusal of a meta-network's untrained float mode."""
import json
import math

import pytest
import torch

from quantnet.checkpoint import save_checkpoint
from quantnet.evaluate import FloatModeUntrained, evaluate_checkpoint
from quantnet.models import build_model
from studies.seeds import SeedsError, aggregate, mean_std, parse_seeds, pm

META = {"train_config": {"stages": [{"name": "float", "kind": "float"}, {"name": "stage3", "kind": "mixed"}]}}
FLOAT = {"train_config": {"stages": [{"name": "float", "kind": "float"}]}}


def test_seeds_parse_a_list_or_a_count():
    assert parse_seeds("0,2,5") == (0, 2, 5)
    assert parse_seeds("3") == (0, 1, 2)


@pytest.mark.parametrize("text", ["", "a", "1,1", "0", "-1,2", "1,,2"])
def test_seeds_reject_bad_text(text):
    with pytest.raises(SeedsError, match="--seeds"):
        parse_seeds(text)


def test_mean_and_sample_std_by_hand():
    m, s = mean_std([0.90, 0.80, 0.70])
    assert m == pytest.approx(0.80) and s == pytest.approx(0.10)           # sqrt((0.01 + 0 + 0.01) / 2)
    assert mean_std([0.5]) == (0.5, 0.0)
    row = aggregate([{"a": 0.9, "b": 0.5}, {"a": 0.8, "b": 0.7}, {"a": 0.7, "b": None}], ["a", "b"])
    assert row["seeds"] == 3 and row["a"] == pytest.approx(0.8) and row["a_seed_std"] == pytest.approx(0.1)
    assert "b" not in row                                                   # not a number in every seed
    assert pm(0.97123, 0.0031) == "97.12 ± 0.31"


def _seed_runs(tmp_path):
    run = tmp_path / "meta"
    for s in (0, 1):
        torch.manual_seed(s)
        save_checkpoint(build_model("digits_resnet", width=2), run / f"seed{s}" / "checkpoint.pt", META)
    return run


def test_ablation_row_is_the_mean_over_seed_runs(tmp_path):
    from studies.ablation_table import ablation_table

    run = _seed_runs(tmp_path)
    table = ablation_table([str(run)], "w2a2,w4a4", samples=40, progress=False, seeds=(0, 1))
    per_seed = [evaluate_checkpoint(run / f"seed{s}" / "checkpoint.pt", "w2a2,w4a4", samples=40, progress=False)
                for s in (0, 1)]
    for i, name in enumerate(("W2A2", "W4A4")):
        accs = [p["results"][i]["accuracy"] for p in per_seed]
        row = table["rows"][0]
        assert row[name] == pytest.approx(sum(accs) / 2)
        assert row[f"{name}_seed_std"] == pytest.approx(abs(accs[0] - accs[1]) / math.sqrt(2))
    assert row["seeds"] == 2 and [r["seed"] for r in table["runs"]] == [0, 1]


def test_cli_ablation_seeds_prints_mean_pm_std(tmp_path, capsys):
    from bitmixer.cli import main

    run = _seed_runs(tmp_path)
    out = tmp_path / "a.json"
    assert main(["ablation", str(run), "--seeds", "2", "--config", "uniform:2", "--samples", "20", "--no-progress",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mean ± sample std over training seeds [0, 1]" in text and " ± " in text
    assert json.loads(out.read_text())["seeds"] == [0, 1]
    assert main(["ablation", str(run), "--seeds", "0,0"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_float_mode_of_a_meta_network_refused_with_its_last_stage(tmp_path):
    p = tmp_path / "meta.pt"
    save_checkpoint(build_model("digits_resnet", width=2), p, META)
    with pytest.raises(FloatModeUntrained, match=r"meta\.pt: --config fp: this network's float mode is not trained "
                                                 r"\(.*ending with mixed stage 'stage3'\).*configs/train/float\.yaml"):
        evaluate_checkpoint(p, "uniform:2,fp", samples=10, progress=False)
    assert evaluate_checkpoint(p, "uniform:2", samples=10, progress=False)["results"][0]["config"] == "W2A2"


def test_float_mode_of_a_float_network_evaluates(tmp_path):
    from studies.ablation_table import run_row

    p = tmp_path / "float.pt"
    save_checkpoint(build_model("digits_resnet", width=2), p, FLOAT)
    assert evaluate_checkpoint(p, "fp", samples=10, progress=False)["results"][0]["config"] == "fp"
    q = tmp_path / "meta.pt"
    save_checkpoint(build_model("digits_resnet", width=2), q, META)
    row, _ = run_row(str(q), "fp,uniform:2", samples=10, progress=False)      # the table leaves float out
    assert "fp" not in row and "W2A2" in row
