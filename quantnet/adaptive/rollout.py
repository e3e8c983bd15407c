"""Running a frozen meta-network under a per-sample policy: samples grouped by the widths chosen so far.

At decision point k the samples that share their first k choices share a partial config, so one
fake-quant forward per group (with the undecided units at any width: they cannot reach the producer's
raw output, see decisions.py) gives their features; the group's head picks choice k per sample. After
the last point the samples are grouped by full config and run once per config.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hwsim.bits import BitConfig
from ..models import MetaResNet
from .decisions import config_from_widths
from .policy import AdaptivePolicy


class _Stop(Exception):
    """Raised by the feature hook: nothing after the producer is needed."""


@torch.no_grad()
def producer_features(model: MetaResNet, cfg: BitConfig, x: torch.Tensor, producer: str) -> torch.Tensor:
    """Global-average-pooled raw output (before BN) of layer `producer`, (N, C), at config cfg."""
    model.eval()
    model.configure(cfg)
    got = {}

    def hook(mod, inp, out):
        got["f"] = out.mean(dim=(2, 3))
        raise _Stop

    h = model.get_submodule(producer).register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        h.remove()
    return got["f"]


def group_rows(rows: np.ndarray) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Distinct rows of an int matrix and the indices holding each, in first-seen order."""
    if rows.shape[1] == 0:
        return [((), np.arange(len(rows)))]
    keys, inv = np.unique(rows, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort([np.flatnonzero(inv == i)[0] for i in range(len(keys))])
    return [(tuple(int(v) for v in keys[i]), np.flatnonzero(inv == i)) for i in order]


@dataclass
class PolicyRun:
    choices: np.ndarray          # (N, points) index into candidate_bits
    configs: list[BitConfig]     # per sample
    logits: np.ndarray           # (N, classes) fake-quant logits at each sample's config


@torch.no_grad()
def choose(model: MetaResNet, policy: AdaptivePolicy, x: np.ndarray) -> np.ndarray:
    """Greedy (argmax) choices, (N, points), for uint8 codes x."""
    xt = torch.from_numpy(np.ascontiguousarray(x))
    K, cands = policy.n_choices, policy.candidate_bits
    choices = np.zeros((len(x), len(policy.points)), np.int64)
    for k, p in enumerate(policy.points):
        for prefix, idx in group_rows(choices[:, :k]):
            cfg = config_from_widths(model, policy.points, [cands[c] for c in prefix])
            f = producer_features(model, cfg, xt[idx], p.producer)
            prev = torch.nn.functional.one_hot(torch.tensor(prefix, dtype=torch.long), K).float().reshape(1, -1)
            lg = policy.logits(k, f, prev.expand(len(idx), -1))
            choices[idx, k] = lg.argmax(1).numpy()
    return choices


def configs_of(model: MetaResNet, policy: AdaptivePolicy, choices: np.ndarray) -> list[BitConfig]:
    cache: dict[tuple, BitConfig] = {}
    out = []
    for row in choices:
        key = tuple(int(v) for v in row)
        if key not in cache:
            cache[key] = config_from_widths(model, policy.points, [policy.candidate_bits[c] for c in key])
        out.append(cache[key])
    return out


@torch.no_grad()
def run_policy(model: MetaResNet, policy: AdaptivePolicy, x: np.ndarray) -> PolicyRun:
    choices = choose(model, policy, x)
    configs = configs_of(model, policy, choices)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    logits = np.zeros((len(x), model.arch.num_classes), np.float32)
    for _, idx in group_rows(choices):
        model.configure(configs[idx[0]])
        logits[idx] = model(xt[idx]).numpy()
    return PolicyRun(choices, configs, logits)
