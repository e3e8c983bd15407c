"""What a policy does on a test set: accuracy, per-sample cost (config + the policy's heads) and the
configs it chooses."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..models import MetaResNet
from .cost import Pricer
from .policy import AdaptivePolicy
from .rollout import run_policy


def cost_summary(per_sample: np.ndarray, unit: str) -> dict:
    q = np.percentile(per_sample, [0, 10, 50, 90, 100])
    return {"unit": unit, "mean": float(per_sample.mean()), "std": float(per_sample.std()),
            "min": float(q[0]), "p10": float(q[1]), "median": float(q[2]), "p90": float(q[3]), "max": float(q[4])}


def evaluate_policy(model: MetaResNet, policy: AdaptivePolicy, x: np.ndarray, y: np.ndarray, pricer: Pricer,
                    top: int = 10) -> dict:
    run = run_policy(model, policy, x)
    head_cost = pricer.policy(policy)
    config_cost = np.array([pricer.config(c.bits) for c in run.configs])
    per_sample = config_cost + head_cost
    correct = run.logits.argmax(1) == np.asarray(y)
    counts = Counter(c.name for c in run.configs)
    by_name = {c.name: c for c in run.configs}
    configs = [{"config": n, "samples": k, "share": k / len(y), "cost": pricer.config(by_name[n].bits),
                "accuracy": float(correct[[c.name == n for c in run.configs]].mean()),
                "bits": {l: list(v) for l, v in by_name[n].bits.items()}}
               for n, k in counts.most_common(top)]
    widths = np.asarray(policy.candidate_bits)[run.choices]
    return {"accuracy": float(correct.mean()), "samples": int(len(y)), "cost_kind": pricer.kind,
            "hw": pricer.hw.name if pricer.hw is not None else None,
            "cost": cost_summary(per_sample, pricer.unit), "policy_cost": head_cost, "policy_macs": policy.macs(),
            "distinct_configs": len(counts), "configs": configs,
            "mean_width_per_point": {p.site: float(w) for p, w in zip(policy.points, widths.mean(0))},
            "per_sample_cost": per_sample.tolist(), "per_sample_correct": correct.tolist(),
            "per_sample_config": [c.name for c in run.configs]}


def evaluate_policy_file(model: MetaResNet, path, x: np.ndarray, y: np.ndarray, hw_path=None,
                         cost: str | None = None) -> dict:
    """evaluate_policy of a saved policy, priced on `hw_path` (default: the accelerator it was trained
    for) in `cost` (default: the cost it was trained on)."""
    from hwsim.errors import UserError
    from hwsim.hwconfig import load_hw_config
    from .policy import load_policy
    policy = load_policy(path, model)
    cost = cost or policy.meta.get("cost", "energy")
    hw_path = hw_path or policy.meta.get("hw_source")
    if hw_path is None and cost != "bitops":
        raise UserError(f"{path}: the policy names no accelerator; give one with --hw")
    hw = load_hw_config(hw_path) if hw_path else None
    return {"policy": str(path), "trained": policy.meta, **evaluate_policy(model, policy, x, y, Pricer(model, hw, cost))}


def evaluate_policy_checkpoint(checkpoint, policy_path, hw_path=None, cost: str | None = None, data: str | None = None,
                               data_dir: str | None = None, samples: int | None = None) -> dict:
    """evaluate_policy_file on a saved meta-network's first `samples` test samples."""
    from ..checkpoint import load_checkpoint
    from ..data import dataset_for_checkpoint, test_split
    model, extra = load_checkpoint(checkpoint)
    dataset = dataset_for_checkpoint(extra, data, data_dir, model)
    return {"checkpoint": str(checkpoint), "data": dataset.name,
            **evaluate_policy_file(model, policy_path, *test_split(dataset, samples), hw_path, cost)}
