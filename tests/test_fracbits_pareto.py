"""The pareto study's FracBits series, on a tiny synthetic net priced by the real cost model."""
from __future__ import annotations

import json

import pytest

from hwsim.dataflow.graph import shapes_from_ir
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config
from quantnet.data import make_synthetic
from quantnet.export import export_model
from studies import pareto
from studies.costs import Accelerator
from studies.fracbits_points import FracBitsSection
from studies.hw import HW_DIR, accelerator
from studies.network import from_model
from studies.output import StudyOutput

from small_models import calibrated_model


@pytest.fixture(scope="module")
def net():
    data = make_synthetic(n_train=128, n_test=64, num_classes=4, noise=90.0)
    model = calibrated_model(n_random=8)
    n = from_model(model, data.x_test, data.y_test, source="torch", data_name="synthetic")
    n.x_train, n.y_train = data.x_train, data.y_train
    return n


@pytest.fixture(scope="module")
def accels(net):
    shapes = shapes_from_ir(export_model(net.model))
    return [accelerator(load_hw_config(HW_DIR / f"{n}.yaml"), shapes) for n in ("stripes", "bitfusion")]


def test_pareto_fracbits_points_fit_their_budgets_and_are_priced_by_the_study(net, accels, tmp_path):
    cfg = pareto.ParetoConfig(random=4, greedy=pareto.GreedySection(enabled=False),
                              fracbits=FracBitsSection(enabled=True, budgets=(0.3, 0.8), steps=8))
    out = StudyOutput(tmp_path, "pareto", "Pareto")
    res = pareto.run(cfg, net, accels, out, progress=False)
    out.finish()
    rows = json.loads((tmp_path / "fracbits.json").read_text())
    assert [(r["accelerator"], r["budget_fraction"]) for r in rows] == [(a.name, f) for a in accels for f in (0.3, 0.8)]
    points = {p["config"]: p for p in json.loads((tmp_path / "points.json").read_text())}
    for r in rows:
        p = points[r["config"]]
        assert p["origin"] == "fracbits"
        assert r["cost"] == p[f"{r['accelerator']}.energy_pj"] <= r["budget"]
        assert r["accuracy"] == p["accuracy"]
        widest = {l.name: (max(l.w_choices), max(l.a_choices)) for l in net.spec.layers}
        lowest = {l.name: (min(l.w_choices), min(l.a_choices)) for l in net.spec.layers}
        a = next(a for a in accels if a.name == r["accelerator"])
        lo, hi = a.cost_of([lowest])[0][0], a.cost_of([widest])[0][0]
        assert r["budget"] == pytest.approx(lo + r["budget_fraction"] * (hi - lo))
    assert "fracbits" in {p["origin"] for p in points.values()} and len(res.fracbits) == 4


def test_pareto_fracbits_needs_a_cost_table_and_training_samples(net, accels, tmp_path):
    a = accels[0]
    bare = Accelerator(a.name, a.layers, a.totals, a.per_layer, a.clock_hz, a.pe_kind)
    cfg = pareto.ParetoConfig(random=0, greedy=pareto.GreedySection(enabled=False),
                              fracbits=FracBitsSection(enabled=True, budgets=(0.5,), steps=2))
    with pytest.raises(UserError, match="no per-layer cost table"):
        pareto.compute(cfg, net, [bare], progress=False)
    with pytest.raises(ValueError, match=r"fractions in \[0, 1\]"):
        FracBitsSection(budgets=(1.5,))
