"""The storage study: accuracy rows against independent evaluation, winners and crossovers on lines written
by hand, and a whole run on two tiny checkpoints (per-width and nested) producing its tables."""
import csv
import dataclasses

import numpy as np
import pytest
import torch

from hwsim.bits import all_uniform, random_configs
from quantnet.checkpoint import save_checkpoint
from quantnet.data import make_synthetic
from quantnet.evaluate import accuracy
from quantnet.models import build_model
from studies.network import ModelSection, from_model, torch_threads
from studies.runner import load_study_config, run_study
from studies.storage import StorageConfig, accuracy_rows
from studies.storage_costs import best_at, winners
from test_studies import _quick_train


@pytest.fixture(scope="module")
def nets():
    data = make_synthetic(n_train=128, n_test=64, num_classes=4, noise=90.0)
    out = {}
    for kind in ("per_width", "nested"):
        torch.manual_seed(0)
        model = build_model("digits_resnet", num_classes=4, width=4, weight_codes=kind)
        with torch_threads(1):
            _quick_train(model, data)
        out[kind] = from_model(model, data.x_test, data.y_test, source="torch", data_name="synthetic")
    return out


def test_accuracy_rows_match_independent_evaluation(nets):
    cfg = StorageConfig(random_configs=6, seed=3)
    rows, worst = accuracy_rows(cfg, nets)
    spec = nets["per_width"].spec
    for row, c in zip(rows, all_uniform(spec)):
        for k, n in nets.items():
            assert row[f"accuracy_{k}"] == accuracy(n.model, c, n.x, n.y)
    rand = random_configs(spec, 6, 3)
    for k, n in nets.items():
        assert worst[k] == min(accuracy(n.model, c, n.x, n.y) for c in rand)
    assert rows[-2]["config"] == "worst of 6 random"


def _priced(lines):
    return {"strategies": {n: {"lines": {r: {"per_inference_pj": e, "switch_pj": s} for r, (e, s) in ls.items()}}
                           for n, ls in lines.items()}}


def test_winner_changes_at_the_hand_computed_crossover():
    # per_width streams at 120 pJ, switch free; nested resident at 100 pJ + 100 pJ per switch:
    # 100 + 100 / P < 120 from P = 5
    p = _priced({"per_width": {"stream": (120.0, 0.0)}, "nested": {"resident": (100.0, 100.0), "stream": (150.0, 0.0)},
                 "master8": {"stream": (200.0, 0.0)}})
    assert best_at(p, "nested", 1.0) == (150.0, "stream") and best_at(p, "nested", 100.0) == (101.0, "resident")
    spans = winners(p)
    assert [s["strategy"] for s in spans] == ["per_width", "nested"]
    assert spans[0]["to_period"] == pytest.approx(5.0) and spans[1]["from_period"] == pytest.approx(5.0)


@pytest.mark.slow
def test_study_runs_on_two_tiny_checkpoints(nets, tmp_path):
    for k, n in nets.items():
        save_checkpoint(n.model, tmp_path / f"{k}.pt", {"data": "synthetic"})
    cfg = dataclasses.replace(load_study_config("storage"), random_configs=4, hardware=("tpu_int8",), zoo=("lenet5",),
                              nested_checkpoint=str(tmp_path / "nested.pt"),
                              model=ModelSection(str(tmp_path / "per_width.pt"), samples=32))
    index = run_study("storage", out=tmp_path / "out", progress=False, cfg=cfg)
    assert index.is_file()
    memory = list(csv.DictReader(open(tmp_path / "out" / "memory.csv")))
    assert {(r["network"], r["strategy"]) for r in memory} == {(n, s) for n in ("meta-network", "lenet5")
                                                                for s in ("per_width", "nested", "master8")}
    energy = list(csv.DictReader(open(tmp_path / "out" / "energy.csv")))
    assert len(energy) == 2 * 3 * 3 and all(float(r["energy_per_inference_nj"]) > 0 for r in energy)
