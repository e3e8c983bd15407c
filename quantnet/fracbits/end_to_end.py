"""FracBits end to end, as the paper: from a float checkpoint, the weights, step sizes, BN entries and λ
train together under the budget penalty (Q_frac as on the frozen network: qfrac.py), then the hard
assignment fixes an integer config and the network is fine-tuned at it with the penalty off. The
result is a network for that one config (its other entries are left as training left them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from hwsim.dataflow.cost_table import CostTable
from hwsim.errors import UserError

from hwsim.bits import BitConfig
from ..models import MetaResNet
from .assign import hard_assign
from .penalty import CostPenalty
from .qfrac import fractional
from .search import batches_forever, cosine, penalised_step
from .widths import FracWidths


@dataclass(frozen=True)
class EndToEndSettings:
    search_steps: int = 300       # weights and λ together
    finetune_steps: int = 200     # at the hard-assigned config, penalty off
    lr: float = 1e-3              # weights, steps and BN affines (Adam, cosine-decayed per phase)
    lam_lr: float = 0.05
    kappa: float = 2.0
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self):
        if min(self.search_steps, self.finetune_steps, self.batch_size) < 1 or self.lr <= 0 or self.lam_lr <= 0 \
                or self.kappa < 0:
            raise UserError(f"end-to-end settings out of range: {self} (steps, batch_size >= 1; rates > 0; kappa >= 0)")


def train_end_to_end(model: MetaResNet, table: CostTable, target: float, x: np.ndarray, y: np.ndarray,
                     s: EndToEndSettings = EndToEndSettings(), progress: bool = True,
                     name: str = "fracbits-e2e") -> tuple[BitConfig, list[dict]]:
    """Trains `model` in place; returns the hard-assigned config and the per-step history."""
    widths = FracWidths(model.spec)
    penalty = CostPenalty(table, widths)
    rng = np.random.default_rng(s.seed)
    stream = batches_forever(x, y, s.batch_size, rng)
    history = []
    model.train()
    model.configure(widths.config())          # 'full' mode at the widest widths; the hooks mix the rest
    opt = torch.optim.Adam([{"params": list(model.parameters()), "lr": s.lr},
                            {"params": [widths.lam], "lr": s.lam_lr}])
    sched = cosine(opt, s.search_steps)
    for step in tqdm(range(s.search_steps), desc="fracbits e2e: search", disable=not progress, leave=False):
        xb, yb = next(stream)
        with fractional(model, widths):
            task = F.cross_entropy(model(xb), yb)
        history.append({"phase": "search", "step": step,
                        **penalised_step(opt, sched, widths, penalty, task, target, s.kappa)})
    cfg, _ = hard_assign(widths, table.total, target, name)
    model.configure(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    sched = cosine(opt, s.finetune_steps)
    for step in tqdm(range(s.finetune_steps), desc="fracbits e2e: fine-tune", disable=not progress, leave=False):
        xb, yb = next(stream)
        task = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        task.backward()
        opt.step()
        sched.step()
        history.append({"phase": "finetune", "step": step, "task_loss": task.item(), "cost": table.total(cfg.bits)})
    model.eval()
    return cfg, history
