"""Training with nested weight codes (`weight_codes: nested`): the quantiser's narrower codes are the widest
codes shifted and rounded (checked against hwsim's derivation), steps are tied by powers of two, and a tiny
three-stage run exports a nested IR that the two integer paths run with 0 mismatches."""
import numpy as np
import pytest
import torch

from hwsim.nested_codes import derive
from quantnet.checkpoint import load_checkpoint
from quantnet.export import export_model
from quantnet.quantizers import WeightQuantizer
from quantnet.train import load_config, train
from quantnet.verify import verify_checkpoint

TINY = ["data=synthetic", "width=4", "batch_size=64", "eval_every=1", "threads=1", "calibration_configs=4"]
STAGES = ("[{name: f, kind: float, epochs: 1}, {name: a, kind: act, epochs: 1}, "
          "{name: u, kind: uniform, epochs: 1, subnets: [max, min], distill: true}, "
          "{name: m, kind: mixed, epochs: 1, subnets: [max, min, random], distill: true}]")


def _trained_quantizer(nested: bool) -> tuple[WeightQuantizer, torch.Tensor]:
    torch.manual_seed(0)
    w = torch.randn(3, 2, 3, 3)
    q = WeightQuantizer(w.shape, (2, 3, 4), nested=nested)
    q.train()
    q(w)   # initialises the widest step
    return q.eval(), w


def test_first_use_at_a_narrow_width_initialises_the_widest_step():
    torch.manual_seed(0)
    w = torch.randn(3, 2, 3, 3)
    q = WeightQuantizer(w.shape, (2, 3, 4), nested=True)
    q.set_bits(2)
    q.train()
    q(w)
    want = w.abs().flatten(1).mean(1) * 2 / 7 ** 0.5   # LSQ's init at the widest width: 2 mean|w| / sqrt(Qp)
    assert torch.allclose(q.steps["4"].detach().flatten(), want, rtol=1e-5)
    assert bool(q.initialised[2]) and not bool(q.initialised[0])


def test_nested_codes_and_fake_quant_follow_the_widest_codes():
    q, w = _trained_quantizer(nested=True)
    wide = q.codes(w, 4).numpy().astype(np.int8)
    for b in (2, 3, 4):
        want = derive(wide, 4, b).astype(np.int64)
        assert np.array_equal(q.codes(w, b).numpy(), want)
        assert torch.equal(q.step(b), q.step(4) * 2 ** (4 - b))
        q.set_bits(b)
        fake = q(w).detach()
        assert torch.allclose(fake, torch.from_numpy(want).float() * q.step(b).detach(), rtol=0, atol=1e-6)


def test_nested_training_reaches_the_widest_step_only():
    q, w = _trained_quantizer(nested=True)
    q.train()
    q.set_bits(2)
    w.requires_grad_(True)
    q(w).square().sum().backward()
    assert q.steps["4"].grad is not None and q.steps["4"].grad.abs().sum() > 0
    assert q.steps["2"].grad is None and w.grad.abs().sum() > 0


def test_tiny_nested_run_exports_nested_ir_with_zero_mismatches(tmp_path):
    cfg = load_config(None, TINY + [f"stages={STAGES}", "weight_codes=nested"])
    train(cfg, tmp_path / "run", progress=False)
    model, _ = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert model.weight_codes == "nested"
    ir = export_model(model, {})
    switchable = [op for op in ir.ops if op.weights and len(ir.table[op.attrs["layer"]].w_choices) > 1]
    assert switchable and all(op.weight_codes == "nested" and list(op.weights) == [4] for op in switchable)
    summary = verify_checkpoint(tmp_path / "run" / "checkpoint.pt", configs=6, samples=32, progress=False)
    assert summary["integer_mismatches"] == 0 and summary["configs_checked"] == 9


def test_unknown_weight_codes_are_refused_naming_the_key():
    with pytest.raises(Exception, match="weight_codes"):
        load_config(None, TINY + ["weight_codes=shared"])
