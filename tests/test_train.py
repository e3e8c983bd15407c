"""The trainer: what each stage quantises, distillation targets, resume, divergence, configs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwsim.bits import BitConfig
from quantnet.checkpoint import load_checkpoint, read_checkpoint
from quantnet.layers import QConv2d
from quantnet.models import build_model
from quantnet.quantizers import ActQuantizer
from quantnet.train import (ResumeError, StageConfig, TrainConfigError, Trainer, TrainingDiverged, load_config,
                            train)
from quantnet.train import loop as loop_mod
from quantnet.train.bn_init import warm_start_untrained_bns
from quantnet.train.calibrate import calibrate_bn
from quantnet.train.loop import subnet_losses
from quantnet.train.sampling import sample_subnets

TINY = ["data=synthetic", "model=digits_resnet", "width=4", "batch_size=64", "eval_every=1", "threads=1", "calibration_configs=4"]


def tiny_cfg(*extra, stages="[{name: s1, kind: act, epochs: 1}]"):
    return load_config(None, TINY + [f"stages={stages}", *extra])


def small_model(**kw):
    torch.manual_seed(0)
    return build_model("digits_resnet", width=4, num_classes=4, **kw)


# ---- config ---------------------------------------------------------------------------------------
def test_config_rejects_unknown_key_naming_file_and_key(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("optim: {lr: 0.01, lrr: 2}\n")
    with pytest.raises(TrainConfigError, match=r"bad\.yaml.*optim\.lrr"):
        load_config(p)


def test_config_rejects_bad_values_and_paths(tmp_path):
    with pytest.raises(TrainConfigError, match=r"stages\[0\].*kind.*'stage9'"):
        load_config(None, ["stages=[{name: a, kind: stage9, epochs: 1}]"])
    with pytest.raises(TrainConfigError, match="needs 'max' first"):
        load_config(None, ["stages=[{name: a, kind: uniform, epochs: 1, subnets: [min, max], distill: true}]"])
    with pytest.raises(TrainConfigError, match="unknown key 'optim.nope'"):
        load_config(None, ["optim.nope=1"])
    with pytest.raises(TrainConfigError, match="batch_size: expected an integer"):
        load_config(None, ["batch_size=big"])
    with pytest.raises(TrainConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("text, match", [
    ("optim: {name: adamw}\n", r"bad\.yaml: optim\.name: 'adamw' is not one of \['adam', 'sgd'\]"),
    ("optim: {schedule: step}\n", r"bad\.yaml: optim\.schedule: 'step' is not one of \['cosine', 'constant'\]"),
    ("distill: {teacher: ema}\n", r"bad\.yaml: distill\.teacher: 'ema' is not one of \['inplace', 'checkpoint'\]"),
    ("stages: [{name: a, kind: act, epochs: 1, subnets: [max, mid]}]\n", r"bad\.yaml: stages\[0\]\.subnets\[1\]: 'mid'"),
    ("stages: [{name: a, kind: mixed, epochs: 1, granularity: net}]\n", r"bad\.yaml: stages\[0\]\.granularity: 'net'"),
    ("bn_mode: batch\n", r"bad\.yaml: bn_mode: 'batch' is not one of \['transitional', 'switchable', 'shared'\]"),
    ("device: tpu\n", r"bad\.yaml: device: 'tpu' is not one of \['cpu', 'cuda'\]"),
])
def test_config_names_outside_their_set_rejected_with_file_and_key(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(TrainConfigError, match=match):
        load_config(p)


def test_config_file_then_overrides_and_roundtrip(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("bn_mode: shared\noptim: {lr: 0.02}\n")
    cfg = load_config(p, ["stages.1.epochs=7", "candidate_bits=[2, 4]"])
    assert (cfg.bn_mode, cfg.optim.lr, cfg.stages[1].epochs, cfg.candidate_bits) == ("shared", 0.02, 7, (2, 4))
    out = tmp_path / "resolved.yaml"
    from quantnet.train import save_config
    save_config(cfg, out)
    assert load_config(out) == cfg


def test_shipped_configs_load():
    from pathlib import Path
    files = sorted(Path(__file__).resolve().parents[1].glob("configs/train/*.yaml"))
    assert files, "configs/train/*.yaml missing"
    for f in files:
        load_config(f)


# ---- what each stage quantises ------------------------------------------------------------------
def _record_forward(model):
    """Per forward of conv layers: did the conv use float or quantised weights? checked by recomputing
    the conv from the input with the latent float weight and with codes * step, independently of flags."""
    seen = {"float_w": 0, "quant_w": 0, "act_sites": []}

    def conv_hook(m, inp, out):
        x = inp[0]
        w_float = F.conv2d(x, m.weight, None, m.stride, m.padding)
        w_q = F.conv2d(x, m.weight_codes(m.w_bits).float() * m.weight_step(m.w_bits), None, m.stride, m.padding)
        if torch.allclose(out, w_float, atol=1e-5) and not torch.allclose(w_float, w_q, atol=1e-5):
            seen["float_w"] += 1
        elif torch.allclose(out, w_q, atol=1e-5):
            seen["quant_w"] += 1

    def act_hook(m, inp, out):
        codes = out.detach() / m.step().detach()
        seen["act_sites"].append((m.bits, float((codes - codes.round()).abs().max()), float(codes.max())))

    hooks = [m.register_forward_hook(conv_hook) for n, m in model.named_modules()
             if isinstance(m, QConv2d) and n != "conv1"]
    hooks += [m.register_forward_hook(act_hook) for m in model.modules() if isinstance(m, ActQuantizer)]
    return seen, hooks


@pytest.mark.parametrize("kind", ["float", "act", "uniform", "mixed"])
def test_each_stage_quantises_what_it_should(kind, tmp_path, monkeypatch):
    extra = ", subnets: [max, random], distill: true" if kind in ("uniform", "mixed") else ""
    cfg = tiny_cfg(stages=f"[{{name: s, kind: {kind}, epochs: 1{extra}}}]")
    tr = Trainer(cfg, tmp_path / "run", progress=False)
    seen, hooks = _record_forward(tr.model)
    monkeypatch.setattr(loop_mod, "evaluate_stage", lambda *a, **k: {})  # record training forwards only
    tr.fit()
    for h in hooks:
        h.remove()
    if kind == "float":
        assert seen["act_sites"] == [] and seen["quant_w"] == 0 and seen["float_w"] > 0
        return
    # activations: every site emits integer codes within its bit-width's range
    assert seen["act_sites"]
    assert all(frac < 1e-3 and mx <= 2**b - 1 + 1e-3 for b, frac, mx in seen["act_sites"])
    if kind == "act":
        assert seen["float_w"] > 0 and seen["quant_w"] == 0
    else:
        assert seen["quant_w"] > 0 and seen["float_w"] == 0


def test_mixed_stage_ramps_share_of_deviating_layers():
    model = small_model()
    stage = StageConfig("s3", "mixed", 4, subnets=("max", "random", "random"), ramp=0.5)
    rng = np.random.default_rng(0)

    def non_uniform(progress):
        cfgs = [c for _ in range(40) for k, c in sample_subnets(stage, model.spec, rng, progress) if k == "random"]
        return np.mean([len({c.w(l.name) for l in model.spec.switchable}) > 1 for c in cfgs])

    assert non_uniform(0.0) == 0.0          # p_deviate 0: every layer at the batch's bit-width
    assert 0.2 < non_uniform(0.25) < 0.95   # halfway up the ramp
    assert non_uniform(0.9) > 0.9           # p_deviate 1: independent per-layer bits
    first = sample_subnets(stage, model.spec, rng, 1.0)[0]
    assert first[0] == "max" and first[1].name == "W4A4"


def test_uniform_stage_uses_one_bit_width_per_subnet():
    model = small_model()
    stage = StageConfig("s2", "uniform", 1, subnets=("max", "min", "random"))
    for kind, c in sample_subnets(stage, model.spec, np.random.default_rng(1), 0.5):
        assert len({c.w(l.name) for l in model.spec.switchable} | {c.a(l.name) for l in model.spec.switchable}) == 1
    assert [c.name for _, c in sample_subnets(stage, model.spec, np.random.default_rng(1), 0.5)][:2] == ["W4A4", "W2A2"]


# ---- distillation -------------------------------------------------------------------------------
def _batch():
    from quantnet.data import make_synthetic
    d = make_synthetic(n_train=32)
    return torch.from_numpy(d.x_train), torch.from_numpy(d.y_train)


def test_inplace_distillation_students_learn_from_highest_bit_outputs():
    model = small_model()
    model.train()
    x, y = _batch()
    stage = StageConfig("s2", "uniform", 1, subnets=("max", "min"), distill=True)
    subnets = [("max", BitConfig.uniform(model.spec, 4)), ("min", BitConfig.uniform(model.spec, 2))]
    out = list(subnet_losses(model, stage, subnets, x, y, teacher=None, temperature=2.0))
    (_, _, t_logits, t_loss), (_, _, s_logits, s_loss) = out
    assert torch.allclose(t_loss, F.cross_entropy(t_logits, y))          # teacher: labels
    p_t = F.softmax(t_logits.detach() / 2.0, 1)
    expect = (p_t * -F.log_softmax(s_logits / 2.0, 1)).sum(1).mean() * 4.0
    assert torch.allclose(s_loss, expect)                                 # student: teacher's soft outputs
    assert not torch.allclose(s_loss, F.cross_entropy(s_logits, y))


def test_checkpoint_teacher_outputs_drive_every_student_loss():
    model = small_model()
    model.train()
    x, y = _batch()
    stage = StageConfig("s2", "uniform", 1, subnets=("max", "min"), distill=True)
    subnets = [("max", BitConfig.uniform(model.spec, 4)), ("min", BitConfig.uniform(model.spec, 2))]
    g = torch.Generator().manual_seed(0)
    fixed = torch.randn(len(y), 4, generator=g)

    def run(teacher_logits):
        return [(lg.detach(), float(l.detach())) for *_, lg, l in
                subnet_losses(model, stage, subnets, x, y, lambda _: teacher_logits, 1.0)]

    a, b = run(fixed), run(fixed * 5.0)
    for (logits, loss), (_, loss_b) in zip(a, b):
        p_t = torch.softmax(fixed, 1)   # every sub-network, the highest-bit one included, follows the teacher
        assert loss == pytest.approx(float(-(p_t * torch.log_softmax(logits, 1)).sum(1).mean()), rel=1e-5)
        assert loss != pytest.approx(loss_b)


# ---- the run: files, resume, divergence -----------------------------------------------------------
STAGES2 = "[{name: a, kind: act, epochs: 2}, {name: b, kind: uniform, epochs: 2, subnets: [max, random], distill: true}]"


def _state(path):
    return read_checkpoint(path)["state_dict"]


def _metrics(run):
    return [{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in (run / "metrics.jsonl").read_text().splitlines()]


def test_how_often_the_test_split_is_evaluated_does_not_change_the_weights(tmp_path):
    runs = {n: tmp_path / f"every{n}" for n in (1, 3)}
    for n, run in runs.items():
        train(tiny_cfg(f"eval_every={n}", stages=STAGES2), run, progress=False)
    a, b = _state(runs[1] / "checkpoint.pt"), _state(runs[3] / "checkpoint.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # every 3 epochs and at each stage's end: epochs 2 (end of a), 3 and 4 (end of b), not 1
    assert [("test_acc/W2A2" in r) for r in _metrics(runs[3])] == [False, True, True, True]


def test_run_writes_files_and_resume_matches_uninterrupted(tmp_path, monkeypatch):
    cfg = tiny_cfg("calibrate_bn=true", stages=STAGES2)
    full = tmp_path / "full"
    train(cfg, full, progress=False)
    assert load_config(full / "config.yaml") == cfg
    m = _metrics(full)
    assert [r["epoch"] for r in m] == [1, 2, 3, 4] and [r["stage"] for r in m] == ["a", "a", "b", "b"]
    assert "test_acc/W2A2" in m[-1] and "loss/max" in m[-1] and m[-1]["bn_calibrated"] > 0
    model, extra = load_checkpoint(full / "checkpoint.pt")
    assert extra["complete"] and extra["epochs_done"] == 4 and extra["data"] == "synthetic"

    # interrupt the second run in the middle of stage b (after 3 epochs), then resume
    part = tmp_path / "part"
    real_epoch = Trainer._epoch
    calls = {"n": 0}

    def flaky(self, pos, opt, done):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_epoch(self, pos, opt, done)

    monkeypatch.setattr(Trainer, "_epoch", flaky)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, part, progress=False)
    monkeypatch.setattr(Trainer, "_epoch", real_epoch)
    assert read_checkpoint(part / "checkpoint.pt")["extra"]["epochs_done"] == 3
    with pytest.raises(ResumeError, match="--resume"):
        train(cfg, part, progress=False)
    train(cfg, part, resume=True, progress=False)
    a, b = _state(full / "checkpoint.pt"), _state(part / "checkpoint.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(part) == m


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ResumeError, match="nothing to resume"):
        train(tiny_cfg(), tmp_path / "empty", resume=True, progress=False)


def test_diverging_run_stops_without_writing_a_checkpoint(tmp_path):
    run = tmp_path / "nan"
    with pytest.raises(TrainingDiverged, match="diverged.*(lr|learning rate)"):
        train(tiny_cfg("optim.lr=1e30", "optim.warmup_epochs=0",
                       stages="[{name: a, kind: uniform, epochs: 3}]"), run, progress=False)
    assert not (run / "checkpoint.pt").exists() and not (run / "train_state.pt").exists()


def test_divergence_in_a_later_stage_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "nan2"
    stages = "[{name: a, kind: act, epochs: 1}, {name: b, kind: uniform, epochs: 2, lr: 1.0e+30}]"
    with pytest.raises(TrainingDiverged, match="stage 'b'"):
        train(tiny_cfg("optim.warmup_epochs=0", stages=stages), run, progress=False)
    payload = read_checkpoint(run / "checkpoint.pt")
    assert payload["extra"]["epochs_done"] == 1 and payload["extra"]["stage"] == "a"
    assert all(torch.isfinite(t).all() for t in payload["state_dict"].values() if t.is_floating_point())
    assert [json.loads(l)["epoch"] for l in (run / "metrics.jsonl").read_text().splitlines()] == [1]


# ---- BN handling ------------------------------------------------------------------------------------
def test_untrained_bn_entries_start_from_trained_neighbours():
    model = small_model()
    bank = model.get_submodule("layer1.0.bn2")    # statistics (prev, a, w), affine (w, next)
    with torch.no_grad():
        for key, mean in (("3_3_3", 0.5), ("4_2_3", 0.25), ("2_4_4", 0.75)):
            bank.stats[key].running_mean.fill_(mean)
            bank.stats[key].num_batches_tracked.fill_(5)
        bank.affine["3_3"].weight.fill_(2.0)
        bank.affine["3_3"].uses.fill_(5)
        bank.affine["4_4"].uses.fill_(1)          # trained: must stay as it is
    warm_start_untrained_bns(model)
    m = {k: float(bn.running_mean[0]) for k, bn in bank.stats.items()}
    assert m["3_2_3"] == 0.25            # same w: nearest a wins (4_2_3 has a = 2), ...
    assert m["2_3_3"] == m["4_3_3"] == 0.5 and m["4_4_3"] == 0.5   # ... then nearest prev
    assert m["3_4_4"] == 0.75
    assert m["3_3_3"] == 0.5 and int(bank.stats["4_2_3"].num_batches_tracked) == 5
    assert torch.all(bank.affine["3_2"].weight == 2.0) and torch.all(bank.affine["3_4"].weight == 2.0)
    assert torch.all(bank.affine["4_4"].weight == 1.0)
    other = model.get_submodule("layer2.0.bn2")   # a bank with nothing trained stays as it was
    assert all(torch.all(bn.running_var == 1.0) for bn in other.stats.values())
    assert all(torch.all(af.weight == 1.0) for af in other.affine.values())


def test_bn_calibration_sets_running_mean_to_average_of_batch_means():
    from quantnet.data import make_synthetic
    model = small_model()
    d = make_synthetic(n_train=100)
    cfg = BitConfig.uniform(model.spec, 3)
    bn = model.get_submodule("layer1.0.bn1").stats["8_3_3"]
    means = []
    h = bn.register_forward_pre_hook(lambda m, i: means.append(i[0].detach().mean((0, 2, 3))))
    calibrate_bn(model, [("full", cfg)], d.x_train, torch.device("cpu"), batch_size=40)
    h.remove()
    assert len(means) == 3  # 40 + 40 + 20 samples: equal weight per batch
    assert torch.allclose(bn.running_mean, torch.stack(means).mean(0), atol=1e-6)
    untouched = model.get_submodule("layer1.0.bn1").stats["8_2_2"]
    assert torch.all(untouched.running_mean == 0) and int(untouched.num_batches_tracked) == 0


def test_bn_calibration_others_reach_only_entries_no_anchor_reaches():
    from quantnet.data import make_synthetic
    model = small_model()
    x = make_synthetic(n_train=64).x_train
    u2 = BitConfig.uniform(model.spec, 2)
    mixed = BitConfig.from_dict({"default": 2, "layers": {"layer1.0.conv2": 3}}, model.spec)
    bank = model.get_submodule("layer1.0.bn2")   # mixed: (prev, a, w) = (2, 3, 3); uniform: (2, 2, 2)
    calibrate_bn(model, [("full", u2)], x, torch.device("cpu"))
    alone = bank.stats["2_2_2"].running_mean.clone()
    calibrate_bn(model, [("full", u2)], x, torch.device("cpu"), others=[("full", mixed)])
    assert torch.equal(bank.stats["2_2_2"].running_mean, alone)  # the uniform entry ignores the mixed pass
    assert int(bank.stats["2_3_3"].num_batches_tracked) > 0 and not torch.all(bank.stats["2_3_3"].running_mean == 0)
    assert all(bn.momentum == 0.1 for bn in bank.stats.values())


# ---- CLI ----------------------------------------------------------------------------------------------
def test_cli_train_and_bad_config(tmp_path, capsys):
    from bitmixer.cli import main
    out = tmp_path / "cli"
    rc = main(["train", "--out", str(out), "--no-progress", "--data", "synthetic", "--width", "4",
               "--set", "stages=[{name: f, kind: float, epochs: 1}, {name: a, kind: act, epochs: 1}]"])
    assert rc == 0 and (out / "checkpoint.pt").exists() and (out / "config.yaml").exists()
    assert "test_acc/W2A2" in capsys.readouterr().out
    js = tmp_path / "abl.json"
    assert main(["ablation", str(out), "--config", "fp,uniform,random:3:0", "--json", str(js)]) == 0
    table = capsys.readouterr().out
    assert "rand mean" in table and "W3A3" in table and str(out) in table
    summary = json.loads(js.read_text())["runs"][0]["summary"]
    assert summary["random_n"] == 3 and summary["random_min"] <= summary["random_mean"] <= summary["random_max"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("stagez: []\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "stagez" in capsys.readouterr().err


# ---- augmentation ---------------------------------------------------------------------------------
def test_random_shift_translates_each_image_and_is_seeded():
    from quantnet.train.augment import default_shift, random_shift

    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, size=(200, 2, 5, 6)).astype(np.uint8)  # no zero codes: the fill is visible
    y = np.arange(200)
    out = random_shift(x, 1, np.random.default_rng(7))
    assert out.dtype == np.uint8 and out.shape == x.shape
    assert np.array_equal(out, random_shift(x, 1, np.random.default_rng(7)))
    seen = set()
    for i in range(len(x)):  # out[i] is x[i] moved by exactly one (dy, dx) in [-1, 1]^2, zero-filled
        match = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                 if np.array_equal(out[i], np.roll(x[i], (dy, dx), axis=(1, 2)) * _shift_mask(x.shape[2:], dy, dx))]
        assert len(match) == 1, i
        seen.add(match[0])
    assert len(seen) == 9  # every offset occurs
    assert random_shift(x, 0, np.random.default_rng(7)) is x
    assert default_shift("digits") == 1 and default_shift("synthetic") == 0
    with pytest.raises(ValueError, match="shift"):
        random_shift(x, -1, rng)
    assert np.array_equal(y, np.arange(200))  # labels are never touched (the function never sees them)


def _shift_mask(hw, dy, dx):
    m = np.ones(hw, np.uint8)
    if dy > 0:
        m[:dy] = 0
    if dy < 0:
        m[dy:] = 0
    if dx > 0:
        m[:, :dx] = 0
    if dx < 0:
        m[:, dx:] = 0
    return m


def test_training_batches_are_shifted_when_asked(tmp_path, monkeypatch):
    seen = []
    real = loop_mod.batches

    def spy(x, y, *a, **k):
        seen.append((x, y))
        return real(x, y, *a, **k)

    monkeypatch.setattr(loop_mod, "batches", spy)
    tr = Trainer(tiny_cfg("augment_shift=1"), tmp_path / "r", progress=False)
    tr.fit()
    x, y = seen[0]
    assert x.shape == tr.data.x_train.shape and not np.array_equal(x, tr.data.x_train)
    assert np.array_equal(y, tr.data.y_train)
    with pytest.raises(TrainConfigError, match="augment_shift"):
        tiny_cfg("augment_shift=-1")
