"""FracBits: Q_frac at integer widths, the interpolated cost against the cost model, the penalty's
gradient, hard assignment, budgets and the `search fracbits` command, on a small calibrated net."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config
from hwsim.bits import BitConfig, random_configs
from quantnet.checkpoint import save_checkpoint
from bitmixer.cli import main
from quantnet.config_spec import parse_config_spec
from quantnet.data import load_dataset
from quantnet.export import export_model
from quantnet.fracbits.assign import BudgetUnreachable, box_configs, fill_path, hard_assign
from quantnet.fracbits.budget import BudgetError, parse_budget
from quantnet.fracbits.costs import cost_table, extreme_configs
from quantnet.fracbits.penalty import CostPenalty
from quantnet.fracbits.qfrac import fractional
from quantnet.fracbits.widths import FracWidths, round_to
from studies.hw import HW_DIR

from small_models import calibrated_model

ACCELERATORS = ("stripes", "bitfusion", "tpu_int8", "loom")


@pytest.fixture(scope="module")
def model():
    """Steps and BN statistics from data (calibration passes, no training), so every width differs."""
    return calibrated_model(n_random=12)


@pytest.fixture(scope="module")
def shapes(model):
    return shapes_from_ir(export_model(model))


def hw(name):
    return load_hw_config(HW_DIR / f"{name}.yaml")


def every_config(spec) -> list[dict]:
    """All integer configs of the switchable widths (3^9 for the small net), as plain layer -> (w, a) maps."""
    w = FracWidths(spec)

    def at(ref, vals):
        return ref[0] if isinstance(ref, tuple) else vals[ref]
    return [{l.name: (at(w.w_ref[l.name], vals), at(w.a_ref[l.name], vals)) for l in spec.layers}
            for vals in itertools.product(*[v.candidates for v in w.vars])]


# ---- Q_frac ---------------------------------------------------------------------------------------
def test_qfrac_at_integer_widths_is_the_integer_config_exactly(model):
    x = torch.from_numpy(load_dataset("synthetic").x_test[:32])
    w = FracWidths(model.spec)
    for cfg in extreme_configs(model.spec) + tuple(random_configs(model.spec, 6, seed=3)):
        model.configure(cfg)
        ref = model(x)
        w.set_config(cfg)
        with fractional(model, w):
            got = model(x)
        assert torch.equal(got, ref), cfg.name


def test_qfrac_between_widths_moves_continuously_and_sends_lambda_a_gradient(model):
    """Half-way in one weight width the logits lie strictly between their neighbours' on average, and
    every λ the loss depends on gets a gradient."""
    x = torch.from_numpy(load_dataset("synthetic").x_test[:64])
    lo, hi = extreme_configs(model.spec)
    w = FracWidths(model.spec)
    model.configure(hi)
    with fractional(model, w):
        top = model(x).detach()
    w.lam.data[:] = 3.5
    with fractional(model, w):
        loss = torch.nn.functional.cross_entropy(model(x), torch.zeros(64, dtype=torch.long))
    loss.backward()
    assert torch.all(w.lam.grad != 0), dict(zip(w.names, w.lam.grad.tolist()))
    w.lam.data[:] = 4.0
    with fractional(model, w):
        assert torch.equal(model(x), top)


def test_round_to_breaks_ties_to_the_lower_width():
    assert round_to(np.array([2.49, 2.5, 2.51, 3.5, 4.0]), (2, 3, 4)).tolist() == [2, 2, 3, 3, 4]
    assert round_to(np.array([3.0, 3.1, 5.0]), (2, 4, 8)).tolist() == [2, 4, 4]


# ---- costs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("accel", ACCELERATORS)
@pytest.mark.parametrize("metric", ["energy", "latency"])
def test_table_equals_the_cost_model_at_every_integer_config(model, shapes, accel, metric):
    cm = NetworkCost(shapes, hw(accel))
    table = cost_table(metric, model.spec, hw(accel), shapes)
    configs = list(every_config(model.spec))
    names = [s.name for s in shapes]
    wb = np.array([[c[n][0] for n in names] for c in configs])
    ab = np.array([[c[n][1] for n in names] for c in configs])
    ref = cm.evaluate_many(wb, ab)["energy_pj" if metric == "energy" else "cycles"]
    got = np.array([table.total(c) for c in configs])
    assert np.array_equal(got, ref)
    # the torch penalty at integer λ: exactly the same figure (a sample of configs, plus the ends)
    widths = FracWidths(model.spec)
    pen = CostPenalty(table, widths)
    for i in list(np.random.default_rng(1).choice(len(configs), 40, replace=False)) + [0, len(configs) - 1]:
        widths.set_config(BitConfig(configs[i]))
        assert pen.cost().item() == ref[i]
    assert table.total(configs[0]) == cm.total(configs[0])["energy_pj" if metric == "energy" else "cycles"]


def width_of(widths, ref) -> float:
    return ref[0] if isinstance(ref, tuple) else widths.lam[ref].item()


def test_bitops_penalty_is_lambda_w_times_lambda_a_times_macs_everywhere(model):
    widths = FracWidths(model.spec)
    pen = CostPenalty(cost_table("bitops", model.spec), widths)
    rng = np.random.default_rng(0)
    for _ in range(20):
        widths.lam.data = torch.tensor(rng.uniform(2, 4, len(widths.vars)))
        expect = 0.0
        for l in model.spec.layers:
            expect += width_of(widths, widths.w_ref[l.name]) * width_of(widths, widths.a_ref[l.name]) * l.macs
        assert pen.cost().item() == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("accel", ["stripes", "bitfusion"])
def test_penalty_gradient_matches_finite_differences(model, shapes, accel):
    table = cost_table("energy", model.spec, hw(accel), shapes)
    widths = FracWidths(model.spec)
    pen = CostPenalty(table, widths)
    rng = np.random.default_rng(2)
    target = 0.5 * sum(table.total(c.bits) for c in extreme_configs(model.spec))
    for _ in range(5):
        # away from the candidates, where the interpolation has a kink
        lam = np.floor(rng.uniform(2, 4, len(widths.vars))) + rng.uniform(0.1, 0.9, len(widths.vars))
        widths.lam.data = torch.tensor(lam)
        widths.lam.grad = None
        loss, _ = pen.loss(target, kappa=1.7)
        loss.backward()
        grad = widths.lam.grad.numpy().copy()
        h = 1e-5
        for i in range(len(lam)):
            vals = []
            for s in (+h, -h):
                widths.lam.data = torch.tensor(lam)
                widths.lam.data[i] += s
                vals.append(pen.loss(target, 1.7)[0].item())
            fd = (vals[0] - vals[1]) / (2 * h)
            assert grad[i] == pytest.approx(fd, rel=1e-6, abs=1e-9), widths.names[i]


def test_table_rejects_a_width_the_accelerator_cannot_run(model, shapes, tmp_path):
    text = (HW_DIR / "tpu_int8.yaml").read_text().replace("w_bits_max: 8", "w_bits_max: 3")
    p = tmp_path / "narrow.yaml"
    p.write_text(text)
    with pytest.raises(UserError, match=r"w_bits <= 3.*layer 'conv1'"):
        cost_table("energy", model.spec, load_hw_config(p), shapes)
    with pytest.raises(UserError, match="unknown cost 'joules'"):
        cost_table("joules", model.spec)
    with pytest.raises(UserError, match="priced on an accelerator"):
        cost_table("energy", model.spec)


# ---- budgets and hard assignment --------------------------------------------------------------------
def test_budget_units_and_fractions():
    assert parse_budget("0.25", "energy", 100.0, 300.0).target == 150.0
    assert parse_budget("50%", "energy", 100.0, 300.0).target == 200.0
    assert parse_budget("0.25nJ", "energy", 100.0, 300.0).target == 250.0
    assert parse_budget("2.5 MBitOps", "bitops", 1e6, 4e6).target == 2.5e6
    assert parse_budget("0.2us", "latency", 100.0, 300.0, clock_hz=1e9).target == pytest.approx(200.0)
    assert parse_budget("250cycles", "latency", 100.0, 300.0).target == 250.0
    assert parse_budget("30B", "size", 100.0, 300.0).target == 240.0
    with pytest.raises(BudgetError, match="below the cheapest"):
        parse_budget("50pJ", "energy", 100.0, 300.0)
    with pytest.raises(BudgetError, match="above the all-highest"):
        parse_budget("1uJ", "energy", 100.0, 300.0)
    with pytest.raises(BudgetError, match="not one of energy's"):
        parse_budget("3GBitOps", "energy", 100.0, 300.0)
    with pytest.raises(BudgetError, match=r"lie in \[0, 1\]"):
        parse_budget("1.5", "energy", 100.0, 300.0)
    with pytest.raises(BudgetError, match="expected a fraction"):
        parse_budget("cheap", "energy", 100.0, 300.0)


def scan_offsets(widths, vals, total, target):
    """Reference: a fine scan of the offset from 0 down, the first rounded config that fits."""
    offs = np.linspace(0.0, -2.0, 4001)
    rounded = np.stack([round_to(vals[i] + offs, v.candidates) for i, v in enumerate(widths.vars)], axis=1)
    for row in dict.fromkeys(map(tuple, rounded)):         # distinct configs, in scan order
        cfg = widths.config(np.array(row, np.float64))
        if total(cfg.bits) <= target:
            return cfg
    return None


@pytest.mark.parametrize("accel", ["stripes", "bitfusion"])
def test_hard_assignment_meets_every_reachable_target_with_the_highest_offset(model, shapes, accel):
    table = cost_table("energy", model.spec, hw(accel), shapes)
    lo, hi = (table.total(c.bits) for c in extreme_configs(model.spec))
    widths = FracWidths(model.spec)
    rng = np.random.default_rng(4)
    for _ in range(30):
        vals = rng.uniform(2, 4, len(widths.vars))
        widths.lam.data = torch.tensor(vals)
        target = rng.uniform(lo, hi)
        cfg, off = hard_assign(widths, table.total, target)
        assert table.total(cfg.bits) <= target
        assert -2.0 <= off <= 0.0
        assert cfg.bits == scan_offsets(widths, vals, table.total, target).bits
        path = fill_path(widths, cfg, vals + off, table.total, target)
        assert path[0] is cfg and all(table.total(c.bits) <= target for c in path)
        steps = np.diff([widths.at_config(c) for c in path], axis=0)
        assert np.all((steps >= 0).sum(1) == len(widths.vars)) and np.all((steps > 0).sum(1) == 1)
        top = widths.at_config(path[-1])
        for i, v in enumerate(widths.vars):        # no single width can still go up within the budget
            up = [c for c in v.candidates if c > top[i]]
            if up:
                trial = top.copy()
                trial[i] = min(up)
                assert table.total(widths.config(trial).bits) > target, v.name
        low = table.total(cfg.bits)
        box = box_configs(widths, vals, table.total, low, target)
        brute = [c for c in (widths.config(np.array(v, np.float64)) for v in itertools.product(
            *[[np.floor(x), np.ceil(x)] for x in vals])) if low <= table.total(c.bits) <= target]
        assert sorted(tuple(c.bits.items()) for c in box) == sorted(tuple(c.bits.items()) for c in brute)
    widths.lam.data[:] = 4.0
    cfg, _ = hard_assign(widths, table.total, lo)          # exactly the all-lowest cost: reachable
    assert table.total(cfg.bits) == lo
    with pytest.raises(BudgetUnreachable, match="below every rounded config"):
        hard_assign(widths, table.total, lo * 0.999)


# ---- the command ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ckpt(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "digits.pt"
    save_checkpoint(model, path, {"data": "synthetic", "data_dir": None})
    return path


def test_search_command_writes_a_config_that_eval_and_estimate_take(ckpt, model, shapes, tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["search", "fracbits", str(ckpt), "--cost", "energy", "--hw", str(HW_DIR / "stripes.yaml"),
               "--budget", "0.5", "--out", str(out), "--steps", "12", "--climb-evals", "12", "--no-progress",
               "--json", str(out / "s.json")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "J against a budget of" in text and "top-1" in text
    for f in ("config.yaml", "trajectory.csv", "trajectory.png", "settings.yaml", "s.json"):
        assert (out / f).stat().st_size > 0, f
    import json
    summary = json.loads((out / "s.json").read_text())
    (name, cfg), = parse_config_spec(str(out / "config.yaml"), model.spec)
    assert {k: list(v) for k, v in cfg.bits.items()} == {k: [v["w"], v["a"]] for k, v in summary["config"]["layers"].items()}
    table = cost_table("energy", model.spec, hw("stripes"), shapes)
    assert table.total(cfg.bits) == summary["cost_of_config"] <= summary["target"]
    assert len((out / "trajectory.csv").read_text().splitlines()) == 13
    assert main(["eval", str(ckpt), "--config", str(out / "config.yaml")]) == 0
    assert main(["estimate", str(ckpt), "--hw", str(HW_DIR / "stripes.yaml"), "--config", str(out / "config.yaml"),
                 "--json", str(tmp_path / "e.json")]) == 0
    est = json.loads((tmp_path / "e.json").read_text())
    assert est["total"]["energy_pj"] == summary["cost_of_config"]
    assert main(["verify", str(ckpt), "--config", str(out / "config.yaml"), "--samples", "8",
                 "--json", str(tmp_path / "v.json")]) == 0
    assert [c["config"] for c in json.loads((tmp_path / "v.json").read_text())["configs"]] == ["fracbits"]


def test_search_command_reports_bad_input_without_traceback(ckpt, tmp_path, capsys):
    base = ["search", "fracbits", str(ckpt), "--out", str(tmp_path / "x"), "--no-progress"]
    assert main(base + ["--cost", "power", "--budget", "0.5"]) == 2
    assert "unknown cost 'power'" in capsys.readouterr().err
    assert main(base + ["--cost", "energy", "--hw", str(HW_DIR / "stripes.yaml"), "--budget", "1pJ"]) == 2
    assert "below the cheapest" in capsys.readouterr().err
    assert main(base + ["--cost", "bitops", "--budget", "0.5", "--kappa", "-1"]) == 2
    assert "kappa" in capsys.readouterr().err


def test_end_to_end_trains_the_weights_and_writes_a_checkpoint_for_its_config(ckpt, model, tmp_path):
    out = tmp_path / "e2e"
    assert main(["search", "fracbits", str(ckpt), "--end-to-end", "--e2e-steps", "6", "--finetune-steps", "4",
                 "--cost", "bitops", "--budget", "0.4", "--out", str(out), "--no-progress",
                 "--json", str(out / "s.json")]) == 0
    import json
    summary = json.loads((out / "s.json").read_text())
    from quantnet.checkpoint import load_checkpoint
    trained, _ = load_checkpoint(out / "checkpoint.pt")
    (_, cfg), = parse_config_spec(str(out / "config.yaml"), trained.spec)
    assert cfg.bitops(trained.spec) == summary["cost_of_config"] <= summary["target"]
    assert not torch.equal(trained.layer1[0].conv1.weight, model.layer1[0].conv1.weight)
    rows = (out / "trajectory.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 + 4 and rows[0].startswith("phase,step")
    assert main(["eval", str(out / "checkpoint.pt"), "--config", str(out / "config.yaml")]) == 0
