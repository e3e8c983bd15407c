"""Per-sample configs on the integer model: a mixed batch equals each sample run alone, on the numba
executor, the torch int64 reference and the PE simulator; the two integer paths agree on a policy's
configs; `verify --policy` checks them."""
import numpy as np
import pytest

from hwsim.executor import execute
from hwsim.hwconfig import load_hw_config
from hwsim.pe.sim import PESimulator
from hwsim.per_sample import execute_per_sample, simulate_per_sample
from quantnet.adaptive.decisions import decision_points
from quantnet.adaptive.integer import reference_per_sample
from quantnet.verify import check_policy
from quantnet.adaptive.policy import AdaptivePolicy, save_policy
from quantnet.adaptive.tree import leaf_configs
from quantnet.checkpoint import save_checkpoint
from bitmixer.cli import main
from quantnet.data import load_dataset
from quantnet.export import export_model
from quantnet.intref import run_reference

from small_models import calibrated_model


@pytest.fixture(scope="module")
def setup():
    model = calibrated_model(random_affine=True)
    ir = export_model(model)
    x = load_dataset("synthetic").x_test[:24]
    leaves = leaf_configs(model, decision_points(model, "layer"))
    rng = np.random.default_rng(0)
    configs = [leaves[i].bits for i in rng.integers(0, len(leaves), len(x))]
    configs[3] = configs[0]                       # at least one config shared by two samples
    return model, ir, x, configs


def test_mixed_batch_equals_each_sample_alone(setup):
    model, ir, x, configs = setup
    sim = execute_per_sample(ir, configs, x)
    ref = reference_per_sample(ir, configs, x)
    alone_sim = np.concatenate([execute(ir, c, x[i:i + 1]).logits for i, c in enumerate(configs)])
    alone_ref = np.concatenate([run_reference(ir, c, x[i:i + 1])[0] for i, c in enumerate(configs)])
    assert np.array_equal(sim, alone_sim)
    assert np.array_equal(ref, alone_ref)
    assert np.array_equal(sim, ref)               # the two independent integer paths


def test_pe_simulator_counts_each_config_as_its_samples_alone(setup):
    model, ir, x, configs = setup
    hw = load_hw_config("hw_configs/stripes.yaml")
    logits, groups = simulate_per_sample(hw, ir, configs[:6], x[:6])
    assert np.array_equal(logits, execute_per_sample(ir, configs[:6], x[:6]))
    total = 0
    for i in range(6):
        pe = PESimulator(hw, overflow="report")
        execute(ir, configs[i], x[i:i + 1], overflow="report", conv_impl=pe.conv_impl)
        total += sum(c.cycles for c in pe.counts.values())
    assert sum(g["cycles"] for g in groups) == total
    assert sum(g["samples"] for g in groups) == 6 and len(groups) < 6


def test_policy_configs_bit_exact_and_verify_cli(setup, tmp_path, capsys):
    model, ir, x, _ = setup
    import torch
    torch.manual_seed(3)
    policy = AdaptivePolicy(decision_points(model, "layer"), model.candidate_bits, hidden=4)
    y = load_dataset("synthetic").y_test[:24]
    results, mixed = check_policy(model, ir, policy, x, y)
    assert mixed == 0 and all(r["integer_mismatches"] == 0 for r in results)
    assert sum(r["samples"] for r in results) == len(x)
    ckpt, pol = tmp_path / "c.pt", tmp_path / "p.pt"
    save_checkpoint(model, ckpt, {"data": "synthetic", "data_dir": None})
    save_policy(policy, model, pol)
    assert main(["verify", str(ckpt), "--policy", str(pol), "--samples", "24"]) == 0
    assert "integer mismatches 0" in capsys.readouterr().out
