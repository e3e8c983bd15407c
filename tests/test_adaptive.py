"""The per-sample policy on the fake-quant model: decision order, valid configs, the tree's agreement
with the grouped rollout, costs, the file format, and that the reward moves the policy."""
import itertools

import numpy as np
import pytest
import torch

from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.dataflow.layers import linear_shape
from hwsim.hwconfig import load_hw_config
from quantnet.adaptive.cost import Pricer
from quantnet.adaptive.decisions import config_from_widths, decision_points
from quantnet.adaptive.evaluate import evaluate_policy
from quantnet.adaptive.policy import AdaptivePolicy, PolicyFileError, load_policy, new_policy, save_policy
from quantnet.adaptive.rollout import choose, producer_features, run_policy
from quantnet.adaptive.train import TrainSettings, greedy_leaves, scale_features, train_policy
from quantnet.adaptive.tree import DecisionTree, build_tree, leaf_configs
from quantnet.data import load_dataset
from quantnet.export import export_model
from quantnet.models import build_model

from small_models import calibrated_model

STRIPES = "hw_configs/stripes.yaml"


@pytest.fixture(scope="module")
def model():
    return calibrated_model(random_affine=True)


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic")


@pytest.mark.parametrize("granularity", ["layer", "block"])
def test_every_choice_is_a_valid_config_with_ties_and_shared_unit_widths(model, granularity):
    points = decision_points(model, granularity)
    assert len(points) == (4 if granularity == "layer" else 2)
    for cfg in leaf_configs(model, points):
        model.spec.validate(cfg)
        assert cfg.a("layer2.0.shortcut") == cfg.a("layer2.0.conv1")
        assert cfg.bits["conv1"] == (8, 8) and cfg.bits["fc"] == (8, 8)
        for p in points:
            assert len({cfg.bits[n] for n in p.layers}) == 1


def test_features_do_not_depend_on_undecided_widths(model, data):
    """The decision order: what head k reads is fixed by the choices before k (any filler for the rest)."""
    points = decision_points(model, "layer")
    x = torch.from_numpy(data.x_test[:32])
    for k, p in enumerate(points):
        for prefix in itertools.product((2, 4), repeat=k):
            lo = producer_features(model, config_from_widths(model, points, prefix, fill=2), x, p.producer)
            hi = producer_features(model, config_from_widths(model, points, prefix, fill=4), x, p.producer)
            assert torch.equal(lo, hi), (k, prefix)


def test_tree_and_grouped_rollout_agree(model, data):
    points = decision_points(model, "layer")
    tree = build_tree(model, points, data.x_test, data.y_test)
    torch.manual_seed(1)
    policy = AdaptivePolicy(points, model.candidate_bits, hidden=4)
    scale_features(policy, tree)
    leaves = greedy_leaves(policy, tree).numpy()
    run = run_policy(model, policy, data.x_test)
    K = policy.n_choices
    assert np.array_equal(leaves, run.choices @ (K ** np.arange(len(points))[::-1]))
    assert len(set(leaves.tolist())) > 1          # the check covers mixed batches
    want = tree.leaf_logits[torch.from_numpy(leaves), torch.arange(len(leaves))].numpy()
    np.testing.assert_allclose(run.logits, want, rtol=1e-5, atol=1e-5)


def test_mean_cost_is_the_cost_models_sum_plus_the_policys(model, data):
    hw = load_hw_config(STRIPES)
    policy = new_policy(model, "layer", hidden=0)
    torch.manual_seed(2)
    for h in policy.heads:
        h[0].reset_parameters()
    r = evaluate_policy(model, policy, data.x_test, data.y_test, Pricer(model, hw, "energy"))
    net = NetworkCost(shapes_from_ir(export_model(model)), hw)
    configs = run_policy(model, policy, data.x_test).configs
    chans = [4, 4, 4, 8]                                        # stem, layer1.0.conv1, .conv2, layer2.0.conv1
    heads = [linear_shape(f"h{i}", c + 3 * i, 3) for i, c in enumerate(chans)]
    head_pj = NetworkCost(heads, hw).total({s.name: (8, 8) for s in heads})["energy_pj"]
    want = np.mean([net.total(c.bits)["energy_pj"] for c in configs]) + head_pj
    assert r["cost"]["mean"] == pytest.approx(want, rel=1e-9)
    assert r["cost"]["unit"] == "pJ" and r["policy_macs"] == sum(s.macs for s in heads)
    assert sum(c["samples"] for c in r["configs"]) <= len(data.y_test)


def test_policy_file_round_trip_and_clear_errors(model, data, tmp_path):
    policy = new_policy(model, "layer", hidden=4)
    policy.meta = {"cost": "energy", "lambda": 0.1}
    path = tmp_path / "p.pt"
    save_policy(policy, model, path)
    back = load_policy(path, model)
    assert back.meta == policy.meta
    assert np.array_equal(choose(model, back, data.x_test), choose(model, policy, data.x_test))
    other = build_model("digits_resnet", width=6, num_classes=4)
    with pytest.raises(PolicyFileError, match="arch_kwargs"):
        load_policy(path, other)
    torch.save({"format": "bitmixer-checkpoint"}, tmp_path / "ckpt.pt")
    with pytest.raises(PolicyFileError, match="not a bitmixer adaptive-policy file"):
        load_policy(tmp_path / "ckpt.pt", model)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(PolicyFileError, match="not a readable"):
        load_policy(tmp_path / "junk.pt", model)
    with pytest.raises(PolicyFileError, match="does not exist"):
        load_policy(tmp_path / "missing.pt", model)


def _toy_tree(n=96, seed=0):
    """Two decisions over widths (2, 3, 4); only the widest leaf classifies every sample right, the
    others half of them; cost grows with the widths."""
    g = torch.Generator().manual_seed(seed)
    K, D, classes = 3, 2, 4
    y = torch.randint(0, classes, (n,), generator=g)
    feats = [torch.randn(K ** k, n, 4, generator=g) for k in range(D)]
    good = torch.rand(K ** D, n, generator=g) < 0.5
    good[-1] = True
    logits = torch.zeros(K ** D, n, classes)
    right = torch.nn.functional.one_hot(y, classes).float() * 4
    wrong = torch.nn.functional.one_hot((y + 1) % classes, classes).float() * 4
    logits[:] = torch.where(good[..., None], right, wrong)
    widths = torch.tensor([[a, b] for a in range(K) for b in range(K)], dtype=torch.float)
    cost = 0.5 + widths.sum(1) / 8
    return DecisionTree(feats, logits, y, [], K), cost


@pytest.mark.parametrize("method", ["reinforce", "gumbel"])
def test_lambda_moves_the_policy_between_widest_and_narrowest(method):
    tree, cost = _toy_tree()
    from quantnet.adaptive.decisions import DecisionPoint
    points = [DecisionPoint(f"s{i}", f"p{i}", 4, (f"l{i}",)) for i in range(2)]
    reached = {}
    for lam in (0.0, 5.0):
        policy = AdaptivePolicy(points, (2, 3, 4), hidden=0)
        train_policy(policy, tree, cost, lam, TrainSettings(method=method, epochs=60, batch_size=32, lr=0.05))
        reached[lam] = greedy_leaves(policy, tree)
    assert (reached[0.0] == 8).float().mean() >= 0.9        # leaf (4, 4)
    assert (reached[5.0] == 0).float().mean() >= 0.9        # leaf (2, 2)
