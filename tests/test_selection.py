"""The selection study on a small calibrated net, priced by the real cost model of one accelerator."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hwsim.bits import BitConfig
from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config
from quantnet.data import load_dataset
from quantnet.export import export_model
from studies import selection
from studies.hw import HW_DIR, accelerator
from studies.network import from_model
from studies.output import StudyOutput
from studies.runner import load_study_config

from small_models import calibrated_model


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    data = load_dataset("synthetic")
    model = calibrated_model()
    net = from_model(model, data.x_test[:64], data.y_test[:64], data_name="synthetic")
    net.x_train, net.y_train = data.x_train[:128], data.y_train[:128]
    net.ir = export_model(model)
    hw = load_hw_config(HW_DIR / "stripes.yaml")
    acc = accelerator(hw, shapes_from_ir(net.ir))
    cfg = selection.SelectionConfig(random=6, fracbits=selection.FracBitsSeries(budgets=(0.3, 0.7), steps=6),
                                    adaptive=selection.AdaptiveSeries(lambdas=(0.0, 2.0), seeds=(0, 1), epochs=4,
                                                                      behaviour_lambda=0.5, granularity="layer"))
    out_dir = tmp_path_factory.mktemp("selection")
    out = StudyOutput(out_dir, "selection", selection.TITLE)
    res = selection.run(cfg, net, acc, hw, out, progress=False)
    out.finish()
    return res, net, hw, out_dir


def test_every_method_is_a_row(result):
    res, _, _, out_dir = result
    methods = [p["method"] for p in res["points"]]
    assert methods.count("uniform") == 3 and methods.count("random") == 6
    for m in ("fracbits[bitops]", "fracbits[energy]"):
        assert [p["budget_fraction"] for p in res["points"] if p["method"] == m] == [0.3, 0.7]
    ada = [p for p in res["points"] if p["method"] == "adaptive[gumbel]"]
    assert [p["lambda"] for p in ada] == [0.0, 2.0] and all(p["seeds"] == 2 for p in ada)
    rows = json.loads((out_dir / "points.json").read_text())
    assert len(rows) == len(res["points"])
    for f in ("selection.png", "behaviour.png", "versus_static.csv", "index.html", "resolved_config.yaml"):
        assert (out_dir / f).is_file(), f


def test_static_and_searched_points_are_priced_by_the_cost_model(result):
    res, net, hw, _ = result
    cost = NetworkCost(shapes_from_ir(net.ir), hw)
    for p in res["points"]:
        if not p["method"].startswith("adaptive"):
            assert p["energy_pj"] == pytest.approx(cost.total(p["bits"])["energy_pj"], rel=1e-12), p["config"]
    lo, hi = (cost.total(BitConfig.uniform(net.spec, b).bits)["energy_pj"] for b in (2, 4))
    for p in res["points"]:
        if p["method"] == "fracbits[energy]":      # the accelerator-paid search meets its energy budget
            assert p["energy_pj"] <= lo + p["budget_fraction"] * (hi - lo) + 1e-6


def test_the_policy_pays_for_its_heads_and_lambda_moves_it(result):
    res, net, hw, _ = result
    cost = NetworkCost(shapes_from_ir(net.ir), hw)
    cheapest = cost.total(BitConfig.uniform(net.spec, 2).bits)["energy_pj"]
    free, dear = sorted((p for p in res["points"] if p["method"].startswith("adaptive")), key=lambda p: p["lambda"])
    assert free["policy_energy_pj"] > 0
    assert dear["energy_pj"] >= cheapest + dear["policy_energy_pj"] - 1e-6
    assert dear["energy_pj"] < free["energy_pj"]           # a large lambda buys cheaper configs


def test_each_comparison_names_a_static_config_that_costs_no_more(result):
    res, *_ = result
    static = {p["config"]: p for p in res["points"] if p["method"] in ("uniform", "random")}
    for r in res["comparison"]:
        if r["best_static_within"] is not None:
            s = static[r["best_static_within"]]
            assert s["energy_pj"] / 1e6 <= r["energy_uj"] + 1e-12
            assert r["gain_points"] == pytest.approx(100 * (r["accuracy"] - s["accuracy"]))


def test_the_packaged_config_loads_and_a_bad_one_is_named(tmp_path):
    cfg = load_study_config("selection")
    assert cfg.hardware == "stripes" and cfg.random == 100 and len(cfg.adaptive.seeds) == 3
    assert cfg.adaptive.granularity == "block"
    bad = tmp_path / "s.yaml"
    bad.write_text("adaptive: {lambdas: [-1]}\n")
    with pytest.raises(UserError, match="s.yaml.*lambdas"):
        load_study_config("selection", bad)
    bad.write_text("fracbits: {budget: [0.5]}\n")
    with pytest.raises(UserError, match=r"s.yaml: fracbits\.budget"):
        load_study_config("selection", bad)
    assert np.isfinite(cfg.adaptive.behaviour_lambda)


def test_a_tree_too_large_is_refused_before_any_other_work(tmp_path, monkeypatch):
    """The default network's per-layer tree (3^8 leaves) once failed after 20 minutes of random configs and
    FracBits searches: the study must refuse it first, naming the study's own knob."""
    from quantnet.adaptive import tree
    data = load_dataset("synthetic")
    model = calibrated_model()
    net = from_model(model, data.x_test[:32], data.y_test[:32], data_name="synthetic")
    net.x_train, net.y_train = data.x_train[:32], data.y_train[:32]
    hw = load_hw_config(HW_DIR / "stripes.yaml")
    acc = accelerator(hw, shapes_from_ir(export_model(model)))
    monkeypatch.setattr(tree, "MAX_LEAVES", 8)

    def no_work(*a, **k):
        raise AssertionError("static points were computed before the tree was checked")

    monkeypatch.setattr(selection, "static_points", no_work)
    cfg = selection.SelectionConfig(random=2, adaptive=selection.AdaptiveSeries(granularity="layer"))
    with pytest.raises(UserError, match=r"leaves \(limit 8\).*adaptive\.granularity: block"):
        selection.run(cfg, net, acc, hw, StudyOutput(tmp_path, "selection", selection.TITLE), progress=False)
