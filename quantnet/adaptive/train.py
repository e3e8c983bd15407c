"""Training the policy on a precomputed decision tree (tree.py), the meta-network frozen.

reinforce  sample a path per sample; reward r = correct - lam * cost(leaf) / cost_ref; loss
           -(r - b) * sum_k log p(c_k), b a moving average of r; plus an entropy bonus.
gumbel     straight-through Gumbel-softmax: hard one-hot choices forward, soft gradients back. A
           sample's path weight is the product of its one-hots, so the mixed leaf logits and cost equal
           the chosen leaf's forward, and the gradient of choice k compares the leaves its alternatives
           reach (others held). Loss: cross-entropy + lam * cost(leaf) / cost_ref; tau annealed.
`leaf_cost` is cost per leaf already divided by cost_ref; the policy's own cost is the same for every
path, so it does not enter the gradient (it is added to every reported figure).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hwsim.errors import UserError

from .policy import AdaptivePolicy
from .tree import DecisionTree

METHODS = ("reinforce", "gumbel")


@dataclass(frozen=True)
class TrainSettings:
    method: str = "reinforce"
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-2
    entropy: float = 1e-3          # reinforce: entropy bonus weight
    baseline_momentum: float = 0.9
    tau_start: float = 2.0         # gumbel: temperature, annealed geometrically
    tau_end: float = 0.2
    seed: int = 0

    def __post_init__(self):
        if self.method not in METHODS:
            raise UserError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise UserError(f"epochs, batch size and lr must be positive, got {self.epochs}, {self.batch_size}, {self.lr}")

    def to_dict(self) -> dict:
        return asdict(self)


def scale_features(policy: AdaptivePolicy, tree: DecisionTree) -> None:
    for k, f in enumerate(tree.feats):
        policy.set_feature_scale(k, f)


def _reinforce_loss(policy, tree, leaf_cost, lam, idx, correct, state, s: TrainSettings, gen):
    K, B = tree.n_choices, len(idx)
    node = torch.zeros(B, dtype=torch.long)
    prev, logp, ent = [], torch.zeros(B), torch.zeros(B)
    for k in range(len(tree.feats)):
        lg = policy.logits(k, tree.feats[k][node, idx], torch.cat(prev, 1) if prev else None)
        p = torch.softmax(lg, 1)
        c = torch.multinomial(p, 1, generator=gen).squeeze(1)
        lp = torch.log_softmax(lg, 1)
        logp = logp + lp.gather(1, c[:, None]).squeeze(1)
        ent = ent - (p * lp).sum(1)
        prev.append(F.one_hot(c, K).float())
        node = node * K + c
    r = correct[node, idx] - lam * leaf_cost[node]
    b = state.get("baseline", float(r.mean()))
    state["baseline"] = s.baseline_momentum * b + (1 - s.baseline_momentum) * float(r.mean())
    return -((r - b) * logp).mean() - s.entropy * ent.mean(), float(r.mean())


def _gumbel_loss(policy, tree, leaf_cost, lam, idx, tau, gen):
    B = len(idx)
    path = torch.ones(B, 1)
    prev = []
    for k in range(len(tree.feats)):
        f = torch.einsum("bn,nbc->bc", path, tree.feats[k][:, idx])
        lg = policy.logits(k, f, torch.cat(prev, 1) if prev else None)
        g = -torch.log(-torch.log(torch.rand(lg.shape, generator=gen).clamp(1e-10, 1 - 1e-7)))
        soft = torch.softmax((lg + g) / tau, 1)
        hard = F.one_hot(soft.argmax(1), tree.n_choices).float()
        h = hard - soft.detach() + soft
        prev.append(h)
        path = (path[:, :, None] * h[:, None, :]).reshape(B, -1)
    logits = torch.einsum("bn,nbc->bc", path, tree.leaf_logits[:, idx])
    cost = path @ leaf_cost
    loss = F.cross_entropy(logits, tree.y[idx]) + lam * cost.mean()
    correct = (logits.argmax(1) == tree.y[idx]).float()
    return loss, float((correct - lam * cost.detach()).mean())


def train_policy(policy: AdaptivePolicy, tree: DecisionTree, leaf_cost: torch.Tensor, lam: float,
                 settings: TrainSettings = TrainSettings(), progress: bool = False) -> list[float]:
    """Train in place; returns the mean reward (correct - lam * cost) per epoch."""
    if lam < 0:
        raise UserError(f"lambda must be >= 0, got {lam}")
    torch.manual_seed(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    for head in policy.heads:   # re-initialise: the seed alone decides the start
        for m in head:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    scale_features(policy, tree)
    policy.train()
    opt = torch.optim.Adam(policy.parameters(), lr=settings.lr)
    correct = tree.leaf_correct()
    leaf_cost = leaf_cost.float()
    rng = np.random.default_rng(settings.seed)
    state: dict = {}
    history = []
    n = tree.n_samples
    for epoch in tqdm(range(settings.epochs), desc=f"policy ({settings.method})", disable=not progress, leave=False):
        frac = epoch / max(1, settings.epochs - 1)
        tau = settings.tau_start * (settings.tau_end / settings.tau_start) ** frac
        rewards = []
        order = torch.from_numpy(rng.permutation(n))
        for i0 in range(0, n, settings.batch_size):
            idx = order[i0:i0 + settings.batch_size]
            if settings.method == "reinforce":
                loss, r = _reinforce_loss(policy, tree, leaf_cost, lam, idx, correct, state, settings, gen)
            else:
                loss, r = _gumbel_loss(policy, tree, leaf_cost, lam, idx, tau, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rewards.append(r)
        history.append(float(np.mean(rewards)))
    policy.eval()
    policy.meta.update({"train": settings.to_dict(), "lambda": float(lam)})
    return history


@torch.no_grad()
def greedy_leaves(policy: AdaptivePolicy, tree: DecisionTree) -> torch.Tensor:
    """The leaf each sample of the tree reaches under argmax choices, (N,)."""
    K, n = tree.n_choices, tree.n_samples
    idx = torch.arange(n)
    node = torch.zeros(n, dtype=torch.long)
    prev = []
    for k in range(len(tree.feats)):
        c = policy.logits(k, tree.feats[k][node, idx], torch.cat(prev, 1) if prev else None).argmax(1)
        prev.append(F.one_hot(c, K).float())
        node = node * K + c
    return node
