"""Studies on a tiny synthetic meta-network, priced by stand-in cost models built here (the real
accelerator models are tested by their own suite): check the tables, not just that files exist."""
import csv
import re
import json

import numpy as np
import pytest
import torch

from hwsim.bits import BitConfig
from quantnet.data import make_synthetic
from quantnet.models import build_model
from studies import pareto, runtime_switch
from studies.costs import Accelerator
from studies.network import from_model, torch_threads
from studies.output import StudyOutput
from studies.pareto_front import best_within, pareto_mask
from studies.schema import StudyConfigError, build


def standin(name, spec, serial_a: bool):
    """Energy ~ MACs * w * a; cycles ~ MACs * a (bit-serial) or ~ MACs (bit-parallel)."""
    macs = np.array([l.macs for l in spec.layers], float)

    def per_layer(c):
        w = np.array([c[l.name][0] for l in spec.layers], float)
        a = np.array([c[l.name][1] for l in spec.layers], float)
        return macs * (0.02 * w * a + 0.3), macs * (a if serial_a else np.ones_like(a)) / 16

    def totals(configs):
        e, c = zip(*(per_layer(c) for c in configs))
        return np.sum(e, 1), np.sum(c, 1)
    return Accelerator(name, tuple(spec.names), totals, per_layer, clock_hz=None if serial_a else 5e8, pe_kind=name)


def _quick_train(model, data, steps=20):
    """A few steps at random configs, so that accuracy differs between configs (an untrained net
    predicts one class whatever its bits)."""
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    model.train()
    for i in range(steps):
        model.configure(BitConfig.random(model.spec, rng))
        idx = torch.from_numpy(rng.choice(len(y), 32, replace=False))
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    data = make_synthetic(n_train=128, n_test=64, num_classes=4, noise=90.0)
    model = build_model("digits_resnet", num_classes=4, width=4)
    with torch_threads(1):
        _quick_train(model, data)
    return from_model(model, data.x_test, data.y_test, source="torch", data_name="synthetic")


@pytest.fixture(scope="module")
def accels(net):
    return [standin("serial", net.spec, True), standin("parallel", net.spec, False)]


def brute_force_front(cost, acc):
    n = len(cost)
    out = np.ones(n, bool)
    for i in range(n):
        for j in range(n):
            if cost[j] <= cost[i] and acc[j] >= acc[i] and (cost[j] < cost[i] or acc[j] > acc[i]):
                out[i] = False
    return out


def test_pareto_mask_matches_brute_force_on_random_points():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 40))
        cost = rng.integers(0, 8, n).astype(float)    # small ranges: many ties
        acc = rng.integers(0, 5, n) / 4
        assert np.array_equal(pareto_mask(cost, acc), brute_force_front(cost, acc))


def test_best_within_is_the_most_accurate_affordable_point():
    cost, acc = np.array([1.0, 2.0, 3.0, 2.0]), np.array([0.2, 0.5, 0.9, 0.5])
    assert best_within(cost, acc, 0.5) is None
    assert best_within(cost, acc, 2.5) in (1, 3)
    assert best_within(cost, acc, 3.0) == 2


@pytest.fixture(scope="module")
def pareto_run(net, accels, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("pareto")
    cfg = pareto.ParetoConfig(random=12, greedy=pareto.GreedySection(budgets=(0.95, 0.9), accelerators=("serial",)))
    out = StudyOutput(out_dir, "pareto", "Pareto")
    res = pareto.run(cfg, net, accels, out, progress=False)
    out.finish()
    return res, out_dir


def test_pareto_tables_mark_exactly_the_undominated_points(pareto_run, accels):
    res, out_dir = pareto_run
    rows = json.loads((out_dir / "points.json").read_text())
    assert len(rows) == len(res.configs) >= 12 + 3
    assert {"uniform", "random", "greedy"} <= {r["origin"] for r in rows}
    acc = np.array([r["accuracy"] for r in rows])
    for a in accels:
        for metric, col in (("energy", "energy_pj"), ("cycles", "cycles")):
            cost = np.array([r[f"{a.name}.{col}"] for r in rows])
            flags = np.array([r[f"{a.name}.front_{metric}"] for r in rows])
            assert np.array_equal(flags, brute_force_front(cost, acc)), (a.name, metric)
            # the cost in the table is the accelerator's, recomputed independently of the study
            e, c = a.cost_of([json_bits(r["bits"]) for r in rows])
            assert np.allclose(cost, e if metric == "energy" else c)
    front = json.loads((out_dir / "front.json").read_text())
    assert {(r["accelerator"], r["metric"]) for r in front} == {(a.name, m) for a in accels for m in ("energy", "cycles")}


def test_pareto_greedy_picks_fit_their_budgets(pareto_run, net, accels):
    res, out_dir = pareto_run
    rows = json.loads((out_dir / "greedy.json").read_text())
    assert len(rows) == 2 and {r["accelerator"] for r in rows} == {"serial"}
    for r in rows:
        if r["cost"] is not None:
            assert r["cost"] <= r["budget"] + 1e-9
    # the widest config's energy on the serial stand-in: budgets are fractions of it
    widest = {l.name: (max(l.w_choices), max(l.a_choices)) for l in net.spec.layers}
    ref = accels[0].cost_of([widest])[0][0]
    assert rows[0]["budget"] == pytest.approx(0.95 * ref)


def test_pareto_plots_are_nonempty_pngs(pareto_run):
    _, out_dir = pareto_run
    for name in ("pareto_energy.png", "pareto_latency.png"):
        data = (out_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    html = (out_dir / "index.html").read_text()
    assert 'src="pareto_energy.png"' in html and "<table>" in html
    assert (out_dir / "resolved_config.yaml").is_file()


def json_bits(text):
    return {k: tuple(v) for k, v in json.loads(text).items()}


def test_runtime_switch_choices_fit_the_budget_or_are_flagged(pareto_run, net, accels, tmp_path):
    res, _ = pareto_run
    trace = (runtime_switch.Segment("drain", 10, start=1.0, end=0.3),
             runtime_switch.Segment("competing", 8, level=0.6, share=0.5, period=2),
             runtime_switch.Segment("constant", 3, level=0.01))   # below every config: infeasible
    cfg = runtime_switch.RuntimeConfig(accelerator="serial", trace=trace)
    out = StudyOutput(tmp_path, "runtime-switch", "Runtime")
    rows = runtime_switch.run(cfg, net, accels[0], out, pareto=res, progress=False)
    out.finish()
    assert len(rows) == 21
    cost_all = res.costs["serial"]["energy"]
    table = json.loads((tmp_path / "trace.json").read_text())
    with (tmp_path / "trace.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 21
    assert len(table) == 21
    for r in table:
        budget = r["budget"]
        if r["feasible"]:
            assert r["cost"] <= budget
            # nothing affordable is more accurate than the pick
            assert r["accuracy"] == res.accuracy[cost_all <= budget].max()
        else:
            assert r["cost"] is None and (cost_all > budget).all()
    assert [r["feasible"] for r in table[-3:]] == [False] * 3
    assert table[0]["feasible"] and len({r["config"] for r in table if r["feasible"]}) > 1
    assert (tmp_path / "runtime_switch.png").stat().st_size > 5000


def test_study_config_rejects_unknown_and_mistyped_keys():
    with pytest.raises(StudyConfigError, match=r"pareto.yaml: randm: unknown key"):
        build(pareto.ParetoConfig, {"randm": 3}, "pareto.yaml")
    with pytest.raises(StudyConfigError, match=r"pareto.yaml: greedy.budgets\[1\]: expected a finite number"):
        build(pareto.ParetoConfig, {"greedy": {"budgets": [0.5, "x"]}}, "pareto.yaml")
    with pytest.raises(StudyConfigError, match="needs"):
        build(runtime_switch.RuntimeConfig, {"trace": [{"kind": "drain", "steps": 3}]}, "rs.yaml")
    cfg = build(runtime_switch.RuntimeConfig, {"trace": [{"kind": "constant", "steps": 2, "level": 0.5}]}, "rs.yaml")
    assert cfg.trace[0].fractions().tolist() == [0.5, 0.5]


def test_accelerator_study_layers_sum_to_totals_and_gains_are_ratios(net, accels, tmp_path):
    from studies import accelerators

    cfg = accelerators.AcceleratorsConfig(configs="uniform,random:1", accuracy=False)
    out = StudyOutput(tmp_path, "accelerators", "Accelerators")
    gains = accelerators.run(cfg, net, accels, out, progress=False)
    out.finish()
    layers = json.loads((tmp_path / "layers.json").read_text())
    totals = json.loads((tmp_path / "totals.json").read_text())
    assert len(totals) == len(accels) * 4 and len(layers) == len(totals) * len(net.spec.layers)
    for t in totals:
        mine = [r for r in layers if r["accelerator"] == t["accelerator"] and r["config"] == t["config"]]
        assert sum(r["energy_pj"] for r in mine) == pytest.approx(t["energy_nj"] * 1e3)
        assert sum(r["cycles"] for r in mine) == pytest.approx(t["cycles"])
    by = {(t["accelerator"], t["config"]): t for t in totals}
    for g in gains:
        hi, lo = by[(g["accelerator"], "W4A4")], by[(g["accelerator"], "W2A2")]
        assert g["cycles_gain"] == pytest.approx(hi["cycles"] / lo["cycles"])
        assert g["energy_gain"] == pytest.approx(hi["energy_nj"] / lo["energy_nj"])
    # the bit-parallel stand-in cannot turn lower bits into fewer cycles; the bit-serial one can
    assert {g["accelerator"]: g["cycles_gain"] for g in gains} == pytest.approx({"serial": 2.0, "parallel": 1.0}, rel=0.5)
    assert [g["cycles_gain"] for g in gains if g["accelerator"] == "parallel"] == [1.0]
    for name in ("layers_energy.png", "layers_cycles.png", "gains.png"):
        assert (tmp_path / name).stat().st_size > 5000


def test_ablation_plan_merges_variant_fields_over_the_base():
    from studies import ablation

    cfg = ablation.AblationConfig(base={"data": "synthetic", "optim": {"lr": 0.01, "name": "adam"}},
                                  variants=(ablation.Variant("a", {"optim": {"lr": 0.1}}),
                                            ablation.Variant("b", {"bn_mode": "shared"})),
                                  independent_bits=(3,), independent_train={"stages": [{"name": "s", "kind": "uniform",
                                                                                        "epochs": 1}]})
    plan = {n: (k, t) for n, k, t in ablation.plan(cfg)}
    assert plan["a"] == ("meta", {"data": "synthetic", "optim": {"lr": 0.1, "name": "adam"}})
    assert plan["b"][1]["bn_mode"] == "shared" and plan["b"][1]["optim"]["lr"] == 0.01
    assert plan["fixed-3bit"][0] == "independent" and plan["fixed-3bit"][1]["candidate_bits"] == [3]
    assert cfg.base["optim"]["lr"] == 0.01          # merging never edits the base
    with pytest.raises(ValueError, match="unique"):
        ablation.AblationConfig(variants=(ablation.Variant("a"), ablation.Variant("a")))


def test_ablation_trainer_fields_checked_when_the_study_file_is_read(tmp_path):
    from studies.runner import load_study_config

    p = tmp_path / "abl.yaml"
    p.write_text("base: {data: synthetic}\nvariants: [{name: a, train: {bn_mode: batch}}]\nindependent_bits: []\n")
    with pytest.raises(StudyConfigError, match=r"abl\.yaml: trainer config of 'a': bn_mode: 'batch' is not one of"):
        load_study_config("ablation", p)


def test_cli_reports_bad_study_input_without_traceback(tmp_path, capsys):
    from bitmixer.cli import main

    assert main(["study", "pareto", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "o")]) == 2
    assert "none.pt does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("random: 3\ngreedy: {budget: [0.5]}\n")
    assert main(["study", "pareto", "--config", str(bad)]) == 2
    assert "bad.yaml: greedy.budget: unknown key" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "no study.json" in capsys.readouterr().err


@pytest.mark.slow
def test_ablation_trains_each_variant_and_tabulates_it(tmp_path):
    from studies import ablation

    cfg = ablation.AblationConfig(
        base={"data": "synthetic", "width": 4,
              "stages": [{"name": "s2", "kind": "uniform", "epochs": 1, "subnets": ["max", "min"]}]},
        variants=(ablation.Variant("transitional", {"bn_mode": "transitional"}),
                  ablation.Variant("shared", {"bn_mode": "shared"})),
        independent_bits=(2,), random=4)
    out = StudyOutput(tmp_path, "ablation", "Ablation")
    table = ablation.run(cfg, out, progress=False)
    out.finish()
    rows = json.loads((tmp_path / "ablation_configs.json").read_text())
    assert [t["network"] for t in table] == ["transitional", "shared", "fixed-2bit"]
    for t in table[:2]:
        acc = [r["accuracy"] for r in rows if r["network"] == t["network"] and r["group"] == "random"]
        assert len(acc) == 4 and t["mean"] == pytest.approx(np.mean(acc)) and t["min"] == min(acc)
    assert table[2]["random_configs"] == 0 and "W2A2" in table[2] and "W3A3" not in table[2]
    assert (tmp_path / "ablation_box.png").stat().st_size > 5000


@pytest.mark.slow
def test_demo_end_to_end_on_a_tiny_budget(tmp_path):
    """The demo's whole flow with 1-epoch stages and small studies: every plot present and non-empty."""
    from bitmixer.demo import run_demo

    (tmp_path / "p.yaml").write_text("model: {samples: 100}\nrandom: 6\ngreedy: {budgets: [0.9], accelerators: [stripes]}\n")
    (tmp_path / "r.yaml").write_text("accelerator: stripes\ntrace: [{kind: drain, steps: 6, start: 1.0, end: 0.5}]\n")
    (tmp_path / "demo.yaml").write_text(f"""
train:
  data: digits
  stages: [{{name: s2, kind: uniform, epochs: 1, subnets: [max, min]}}, {{name: s3, kind: mixed, epochs: 1}}]
verify: {{random_configs: 1, samples: 20}}
simulate: {{configs: uniform:2, samples: 4}}
pareto: {tmp_path / 'p.yaml'}
runtime_switch: {tmp_path / 'r.yaml'}
""")
    index = run_demo(tmp_path / "demo", tmp_path / "demo.yaml", progress=False)
    page = index.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert {"training.png", "pareto/pareto_energy.png", "pareto/pareto_latency.png",
            "runtime-switch/runtime_switch.png"} <= set(images)
    for src in images:
        data = (index.parent / src).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 5000, src
    verify = json.loads((index.parent / "verify.json").read_text())
    assert len(verify) == 4 and all(r["integer_mismatches"] == 0 for r in verify)
    sim = json.loads((index.parent / "simulate.json").read_text())
    assert len({r["accelerator"] for r in sim}) >= 4
