"""Statistics of the global batch when N ranks each hold a shard of it: batch normalisation and the
first-use initialisation of activation step sizes (LSQ: 2 mean|v| / sqrt(Qp)).

torch's SyncBatchNorm refuses CPU tensors (so gloo runs cannot use it); this module does the same on any
device. In training it all-reduces the per-channel sum and count, then the centred sum of squares, each
through a differentiable all_reduce (its backward sums the gradients of every rank), so every rank
normalises with the statistics one process would compute on the whole batch and the gradients are those of
the whole batch too. Running statistics get the same update as nn.BatchNorm2d's on that batch (unbiased
variance), so they stay identical on every rank. Outside training, or with one rank, it is BatchNorm2d.
The twins keep their classes' state_dict keys, so a checkpoint does not know it was trained this way.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn

from ..quantizers import ActQuantizer


class _SumOverRanks(torch.autograd.Function):
    """y = sum of x over ranks; the gradient of each rank's x is the sum of every rank's gradient of y."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        g = g.clone()
        dist.all_reduce(g)
        return g


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    return _SumOverRanks.apply(x)


class _CrossRank:
    sync = True   # False: this rank's batch alone (BN calibration, which runs on rank 0 only)

    def _across_ranks(self) -> bool:
        return self.training and self.sync and dist.is_initialized() and dist.get_world_size() > 1


class CrossRankBatchNorm2d(_CrossRank, nn.BatchNorm2d):
    """nn.BatchNorm2d whose training statistics are those of the global batch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._across_ranks():
            return super().forward(x)
        c = x.shape[1]
        sums = all_reduce(torch.cat([x.sum((0, 2, 3)), x.new_tensor([x.numel() // c])]))
        count = sums[-1].detach()
        mean = sums[:c] / count
        d = x - mean.view(1, c, 1, 1)
        var = all_reduce((d * d).sum((0, 2, 3))) / count      # biased: what the batch is normalised with
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * count / (count - 1).clamp_min(1))
        out = d * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            out = out * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return out

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        f = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.mul_(1 - f).add_(mean, alpha=f)
        self.running_var.mul_(1 - f).add_(unbiased_var, alpha=f)


class CrossRankActQuantizer(_CrossRank, ActQuantizer):
    """ActQuantizer whose step, at a bit-width's first use, comes from mean |v| over the global batch."""

    def _mean_abs(self, v: torch.Tensor) -> torch.Tensor:
        if not self._across_ranks():
            return super()._mean_abs(v)
        total = all_reduce(torch.stack([v.detach().abs().sum(), v.new_tensor(float(v.numel()))]))
        return (total[0] / total[1]).view(1)


def _cross_rank_twin(m: nn.Module) -> nn.Module | None:
    if type(m) is nn.BatchNorm2d:
        return CrossRankBatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    if type(m) is ActQuantizer:
        twin = CrossRankActQuantizer(m.candidates)
        twin.bits = m.bits
        return twin
    return None


def use_global_batch_statistics(model: nn.Module) -> int:
    """Swap every BatchNorm2d and ActQuantizer for its cross-rank twin (state kept); returns how many.
    Call it before making the optimiser: the twins' parameters are new tensors."""
    n = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            twin = _cross_rank_twin(child)
            if twin is not None:
                twin.load_state_dict(child.state_dict())
                setattr(parent, name, twin.to(next(child.buffers()).device))
                n += 1
    return n


@contextmanager
def local_statistics(model: nn.Module):
    """Within: the cross-rank twins take statistics of this rank's batch alone."""
    mods = [m for m in model.modules() if isinstance(m, _CrossRank)]
    for m in mods:
        m.sync = False
    try:
        yield
    finally:
        for m in mods:
            m.sync = True
