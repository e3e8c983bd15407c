"""The torch int64 reference on a batch of per-sample configs (grouped as hwsim.per_sample does), and
the bit-for-bit check of a policy's chosen configs."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from hwsim.ir import IntModel
from hwsim.per_sample import Bits, execute_per_sample, group_by_config, run_grouped

from ..intref import run_reference
from ..models import MetaResNet
from ..verify import check_config
from .policy import AdaptivePolicy
from .rollout import run_policy


def reference_per_sample(ir: IntModel, configs: Sequence[Bits], x: np.ndarray) -> np.ndarray:
    """int64 logits (N, classes) of the torch reference, sample i at configs[i]."""
    return run_grouped(lambda bits, xg: run_reference(ir, bits, xg)[0], configs, x)


def check_policy(model: MetaResNet, ir: IntModel, policy: AdaptivePolicy, x: np.ndarray, y: np.ndarray,
                 acc_bits: int = 32) -> tuple[list[dict], int]:
    """check_config on each distinct config the policy picks, over the samples that picked it; and the
    logit mismatches between the executor and the reference run on the whole mixed batch."""
    run = run_policy(model, policy, x)
    results = []
    for bits, idx in group_by_config([c.bits for c in run.configs]):
        cfg = run.configs[idx[0]]
        results.append({**check_config(model, ir, cfg, x[idx], y[idx], acc_bits), "samples": int(len(idx))})
    bits = [c.bits for c in run.configs]
    mixed = int(np.count_nonzero(execute_per_sample(ir, bits, x, acc_bits) != reference_per_sample(ir, bits, x)))
    return results, mixed
