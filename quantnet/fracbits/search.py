"""FracBits on a trained meta-network: the network stays frozen, only λ trains.

By default a layer's weights and input share one λ (widths.py, `per_layer`): a meta-network is
trained on configs with w = a per layer, and its configs with w != a are points worse on average
(their BN transitions were never trained), so the search stays where the network was trained.

loss = task loss + κ·|cost(λ)/target − 1|, task loss = cross-entropy (optionally mixed with the KL
divergence from the widest config's logits, weight `distill`). λ starts at the widest widths (as the
paper), Adam with a cosine-decayed step, projected back into [min, max] after every step. Then the
hard assignment (assign.py) rounds λ to an integer config within the budget. With `select` (not in
the paper) that config is only the first candidate: with it, the configs on the way of spending the
budget its rounding left (assign.fill_path) and every config with each width at one of the two
candidates around its λ that costs between it and the budget (assign.box_configs); the one with the
lowest training loss is kept, and from it a local search (climb.py) moves to a fitting neighbour of
lower training loss while there is one (at most `climb` moves). A meta-network's accuracy is far from monotone in each width (its BN
entries per transition differ in quality: configs next to each other differ by points), and the
training loss of an integer config ranks them well; the choice never sees the test samples.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hwsim.dataflow.cost_table import CostTable
from hwsim.errors import UserError

from hwsim.bits import BitConfig
from ..data import batches
from ..models import MetaResNet
from .assign import box_configs, fill_path, hard_assign
from .climb import climb
from .penalty import CostPenalty
from .qfrac import fractional
from .widths import FracWidths


@dataclass(frozen=True)
class SearchSettings:
    steps: int = 150              # optimiser steps on λ
    lr: float = 0.05
    kappa: float = 2.0            # weight of the budget penalty
    batch_size: int = 256
    distill: float = 0.0          # weight of the KL from the widest config (0: cross-entropy only)
    seed: int = 0
    threads: int = 1              # torch CPU threads (0: torch's default)
    select: bool = True           # after the hard assignment, choose among nearby configs by training loss
    climb: int = 8                # then at most this many local-search moves by training loss (climb.py; 0: none)
    climb_evals: int = 200        # scoring at most this many configs (each a pass over the training samples)
    per_layer: bool = True        # one λ per layer for its weights and input (w = a), as the meta-network trains;
                                  # False: the paper's separate λ_w and λ_a

    def __post_init__(self):
        bad = {k: v for k, v, ok in (("steps", self.steps, self.steps >= 1), ("lr", self.lr, self.lr > 0),
                                     ("kappa", self.kappa, self.kappa >= 0), ("climb", self.climb, self.climb >= 0),
                                     ("climb_evals", self.climb_evals, self.climb_evals >= 1),
                                     ("batch_size", self.batch_size, self.batch_size >= 1),
                                     ("distill", self.distill, 0 <= self.distill <= 1)) if not ok}
        if bad:
            raise UserError(f"FracBits search settings out of range: {bad} (steps, batch_size >= 1; lr > 0; "
                            f"kappa, climb >= 0; climb_evals >= 1; distill in [0, 1])")


@dataclass
class SearchResult:
    config: BitConfig
    rounded: BitConfig             # the paper's hard assignment alone
    candidates: int                # how many configs `select` scored by training loss
    target: float                  # in the table's unit
    cost: float                    # of the integer config, from the table (= the cost model's figure)
    offset: float                  # of the hard assignment
    lam: dict[str, float]          # λ at the end of the search, by variable
    trajectory: list[dict] = field(default_factory=list)   # per step: λ, soft cost, losses
    seconds: float = 0.0


def search_frozen(model: MetaResNet, table: CostTable, target: float, x: np.ndarray, y: np.ndarray,
                  s: SearchSettings = SearchSettings(), progress: bool = True, name: str = "fracbits") -> SearchResult:
    """Learn λ on (x, y) (uint8 codes, labels) against `target` in table's unit; the model is not changed."""
    t0 = time.perf_counter()
    before = torch.get_num_threads()
    if s.threads > 0:
        torch.set_num_threads(s.threads)
    frozen = []
    try:
        widths = FracWidths(model.spec, per_layer=s.per_layer)
        penalty = CostPenalty(table, widths)
        widest = widths.config(np.array([max(v.candidates) for v in widths.vars]), "widest")
        frozen = [p for p in model.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        model.eval()
        model.configure(widest)       # 'full' mode; the hooks replace every switchable entry
        opt = torch.optim.Adam([widths.lam], lr=s.lr)
        sched = cosine(opt, s.steps)
        rng = np.random.default_rng(s.seed)
        traj = []
        stream = batches_forever(x, y, s.batch_size, rng)
        for step in tqdm(range(s.steps), desc="fracbits", disable=not progress, leave=False):
            xb, yb = next(stream)
            with fractional(model, widths):
                logits = model(xb)
            task = F.cross_entropy(logits, yb)
            if s.distill > 0:
                with torch.no_grad():
                    teacher = model(xb)          # the widest config, hooks removed
                kl = F.kl_div(F.log_softmax(logits, 1), F.log_softmax(teacher, 1), log_target=True, reduction="batchmean")
                task = (1 - s.distill) * task + s.distill * kl
            traj.append({"step": step, **penalised_step(opt, sched, widths, penalty, task, target, s.kappa)})
        rounded, offset = hard_assign(widths, table.total, target, name)
        cfg, scored = rounded, 1
        if s.select:
            candidates = fill_path(widths, rounded, widths.values() + offset, table.total, target)
            seen = {tuple(c.bits.items()) for c in candidates}
            candidates += [c for c in box_configs(widths, widths.values(), table.total, table.total(rounded.bits),
                                                  target, name) if tuple(c.bits.items()) not in seen]
            cfg, scored = climb(widths, candidates, lambda c: task_loss(model, c, x, y), table.total, target,
                                s.climb, s.climb_evals)
        return SearchResult(cfg, rounded, scored, target, table.total(cfg.bits), offset, dict(zip(widths.names, widths.values().tolist())),
                            traj, time.perf_counter() - t0)
    finally:
        for p in frozen:
            p.requires_grad_(True)
        torch.set_num_threads(before)


def cosine(opt, steps: int):
    """The optimiser's rate decayed from its value to 0 over `steps` (half a cosine)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))


def penalised_step(opt, sched, widths: FracWidths, penalty: CostPenalty, task: torch.Tensor, target: float,
                   kappa: float) -> dict:
    """One step on task + κ·|cost/target − 1|, λ projected back into range; returns the step's record."""
    pen, cost = penalty.loss(target, kappa)
    opt.zero_grad()
    (task + pen).backward()
    opt.step()
    sched.step()
    widths.clamp_()
    return {"task_loss": task.item(), "penalty": pen.item(), "cost": cost.item(),
            **dict(zip(widths.names, widths.values().tolist()))}


@torch.no_grad()
def task_loss(model: MetaResNet, cfg: BitConfig, x: np.ndarray, y: np.ndarray, batch_size: int = 1024) -> float:
    """Mean cross-entropy of the integer config on (x, y)."""
    model.configure(cfg)
    total = 0.0
    for xb, yb in batches(x, y, batch_size):
        total += F.cross_entropy(model(xb), yb, reduction="sum").item()
    return total / len(y)


def batches_forever(x, y, batch_size, rng):
    while True:
        yield from batches(x, y, batch_size, shuffle=True, rng=rng)
