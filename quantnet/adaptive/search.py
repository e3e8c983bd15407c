"""Train a per-sample policy on a meta-network's training split against one accelerator's cost, and
measure it on the test split: the library behind `search adaptive` and the lambda sweeps."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hwsim.hwconfig import HwConfig

from ..data import Dataset
from ..models import MetaResNet
from .cost import Pricer
from .decisions import decision_points
from .policy import DEFAULT_HIDDEN, AdaptivePolicy, new_policy
from .train import TrainSettings, greedy_leaves, train_policy
from .tree import DecisionTree, build_tree


@dataclass
class Problem:
    """One meta-network, one accelerator, one cost kind, its decision trees on both splits."""
    model: MetaResNet
    pricer: Pricer
    granularity: str
    train: DecisionTree
    test: DecisionTree | None
    cost_ref: float

    def leaf_cost(self, tree: DecisionTree) -> torch.Tensor:
        """Per-leaf cost of the config alone (no policy), in units of the widest config."""
        return torch.tensor([self.pricer.config(c.bits) for c in tree.leaf_configs]) / self.cost_ref


def make_problem(model: MetaResNet, data: Dataset, hw: HwConfig | None, cost: str = "energy",
                 granularity: str = "layer", progress: bool = False, ir=None, with_test: bool = True) -> Problem:
    points = decision_points(model, granularity)
    pricer = Pricer(model, hw, cost, ir)
    train = build_tree(model, points, data.x_train, data.y_train, progress)
    test = build_tree(model, points, data.x_test, data.y_test, progress) if with_test else None
    return Problem(model, pricer, granularity, train, test, pricer.reference())


def fit(problem: Problem, lam: float, settings: TrainSettings, hidden: int = DEFAULT_HIDDEN,
        progress: bool = False) -> AdaptivePolicy:
    policy = new_policy(problem.model, problem.granularity, hidden)
    train_policy(policy, problem.train, problem.leaf_cost(problem.train), lam, settings, progress)
    p = problem.pricer
    policy.meta.update({"cost": p.kind, "unit": p.unit, "hw": p.hw.name if p.hw else None,
                        "hw_source": str(p.hw.source) if p.hw else None, "cost_ref": problem.cost_ref})
    return policy


def tree_point(problem: Problem, policy: AdaptivePolicy, split: str = "test") -> dict:
    """Accuracy and mean cost per sample (config + policy) of the greedy policy on a split's tree."""
    tree = problem.test if split == "test" else problem.train
    leaves = greedy_leaves(policy, tree).numpy()
    correct = tree.leaf_correct()[torch.from_numpy(leaves), torch.arange(tree.n_samples)].numpy()
    cost = problem.leaf_cost(tree).numpy()[leaves] * problem.cost_ref + problem.pricer.policy(policy)
    return {"accuracy": float(correct.mean()), "cost": float(cost.mean()), "cost_std": float(cost.std()),
            "policy_cost": problem.pricer.policy(policy), "distinct_configs": int(len(np.unique(leaves))),
            "unit": problem.pricer.unit}


def policy_points(problem: Problem, lams, seeds=(0, 1, 2), settings: TrainSettings = TrainSettings(),
                  hidden: int = DEFAULT_HIDDEN, progress: bool = False) -> list[dict]:
    """(lambda, seed) -> the trained policy's test accuracy and mean cost per sample incl. its heads."""
    rows = []
    for lam in lams:
        for seed in seeds:
            s = TrainSettings(**{**settings.to_dict(), "seed": int(seed)})
            pol = fit(problem, float(lam), s, hidden, progress)
            rows.append({"method": f"adaptive-{s.method}", "lambda": float(lam), "seed": int(seed),
                         **tree_point(problem, pol)})
    return rows


def static_points(problem: Problem, configs, x: np.ndarray, y: np.ndarray) -> list[dict]:
    """Test accuracy (fake-quant) and cost per sample of static configs: every sample pays the same."""
    from ..evaluate import accuracy
    return [{"config": c.name, "accuracy": accuracy(problem.model, c, x, y), "cost": problem.pricer.config(c.bits),
             "unit": problem.pricer.unit} for c in configs]


def search_adaptive(model: MetaResNet, data: Dataset, hw: HwConfig | None, cost: str, lam: float,
                    settings: TrainSettings, out: str | Path, granularity: str = "layer", hidden: int = DEFAULT_HIDDEN,
                    progress: bool = False) -> dict:
    """Train on the training split, save DIR/policy.pt and DIR/result.json, evaluate on the test split."""
    from .evaluate import evaluate_policy
    from .policy import save_policy
    problem = make_problem(model, data, hw, cost, granularity, progress, with_test=False)
    policy = fit(problem, lam, settings, hidden, progress)
    out = Path(out)
    save_policy(policy, model, out / "policy.pt")
    result = {"policy": str(out / "policy.pt"), "lambda": float(lam), "granularity": granularity, "hidden": hidden,
              "settings": settings.to_dict(), "cost_ref": problem.cost_ref, "data": data.name,
              "train": tree_point(problem, policy, "train"),
              "test": evaluate_policy(model, policy, data.x_test, data.y_test, problem.pricer)}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def search_adaptive_checkpoint(checkpoint, hw_path, cost: str, lam: float, settings: TrainSettings, out,
                               granularity: str = "layer", hidden: int = DEFAULT_HIDDEN, data: str | None = None,
                               data_dir: str | None = None, progress: bool = True) -> dict:
    """search_adaptive on a saved meta-network and its data set (default: the one it was trained on),
    priced on the accelerator config at `hw_path` (None: BitOps only)."""
    from hwsim.hwconfig import load_hw_config
    from ..checkpoint import load_checkpoint
    from ..data import dataset_for_checkpoint
    model, extra = load_checkpoint(checkpoint)
    hw = load_hw_config(hw_path) if hw_path else None
    return search_adaptive(model, dataset_for_checkpoint(extra, data, data_dir), hw, cost, lam, settings, out,
                           granularity, hidden, progress)
