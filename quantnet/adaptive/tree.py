"""The whole decision tree of a small meta-network, precomputed: features at every prefix, logits at
every leaf, for every sample. The meta-network is frozen, so these are exact; policy training then
needs no forward pass of the network (REINFORCE samples paths, the Gumbel variant mixes them).

Node numbering: a prefix (c_0, ..., c_{k-1}) at level k is the base-K number c_0 c_1 ... c_{k-1}.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from hwsim.errors import UserError

from hwsim.bits import BitConfig
from ..models import MetaResNet
from .decisions import DecisionPoint, config_from_widths
from .rollout import producer_features

MAX_LEAVES = 4096


@dataclass
class DecisionTree:
    feats: list[torch.Tensor]    # level k: (K^k, N, C_k)
    leaf_logits: torch.Tensor    # (K^D, N, classes)
    y: torch.Tensor              # (N,)
    leaf_configs: list[BitConfig]
    n_choices: int

    @property
    def n_samples(self) -> int:
        return len(self.y)

    def leaf_correct(self) -> torch.Tensor:
        """(K^D, N) 1.0 where the leaf's config classifies the sample correctly."""
        return (self.leaf_logits.argmax(-1) == self.y[None, :]).float()


def leaf_configs(model: MetaResNet, points: list[DecisionPoint]) -> list[BitConfig]:
    cands = model.candidate_bits
    return [config_from_widths(model, points, [cands[c] for c in path])
            for path in itertools.product(range(len(cands)), repeat=len(points))]


@torch.no_grad()
def build_tree(model: MetaResNet, points: list[DecisionPoint], x: np.ndarray, y: np.ndarray,
               progress: bool = False) -> DecisionTree:
    cands = model.candidate_bits
    K, D = len(cands), len(points)
    if K ** D > MAX_LEAVES:
        raise UserError(f"the decision tree has {K}^{D} = {K ** D} leaves (limit {MAX_LEAVES}): decide per "
                        f"block (`--granularity block`; in a study, `adaptive.granularity: block`) or train "
                        f"with fewer candidate widths")
    xt = torch.from_numpy(np.ascontiguousarray(x))
    bar = tqdm(total=sum(K ** k for k in range(D + 1)), desc="decision tree", disable=not progress, leave=False)
    feats = []
    for k, p in enumerate(points):
        level = []
        for prefix in itertools.product(range(K), repeat=k):
            level.append(producer_features(model, config_from_widths(model, points, [cands[c] for c in prefix]),
                                           xt, p.producer))
            bar.update()
        feats.append(torch.stack(level))
    leaves = leaf_configs(model, points)
    logits = []
    for cfg in leaves:
        model.configure(cfg)
        logits.append(model(xt))
        bar.update()
    bar.close()
    return DecisionTree(feats, torch.stack(logits), torch.from_numpy(np.asarray(y, np.int64)), leaves, K)
