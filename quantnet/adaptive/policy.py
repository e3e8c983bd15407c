"""The policy network: one small MLP head per decision point, and its file format.

Head k reads the standardised global-average-pooled raw output of the point's producer layer plus the
one-hot widths chosen at points 0..k-1, and gives logits over the candidate widths. The file holds
plain tensors and a metadata dict (torch.load(weights_only=True)); loading checks that the policy
belongs to the given meta-network.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from hwsim.dataflow.layers import LayerShape, linear_shape
from hwsim.errors import UserError

from ..checkpoint import read_tagged
from ..models import MetaResNet
from .decisions import DecisionPoint, decision_points

FORMAT = "bitmixer-adaptive-policy"
VERSION = 1
POLICY_BITS = 8          # the heads run as 8-bit linear layers on the accelerator
# Linear heads by default: per sample the accelerator fetches every head's 8-bit weights, and on the
# digits net a 16-wide hidden layer cost ~15% of the network's own energy (more than most savings).
DEFAULT_HIDDEN = 0


class PolicyFileError(UserError):
    pass


class AdaptivePolicy(nn.Module):
    def __init__(self, points: Sequence[DecisionPoint], candidate_bits: Sequence[int], hidden: int = DEFAULT_HIDDEN,
                 granularity: str = "layer"):
        super().__init__()
        if hidden < 0:
            raise UserError(f"policy hidden width must be >= 0, got {hidden}")
        self.points, self.candidate_bits = list(points), tuple(candidate_bits)
        self.hidden, self.granularity = int(hidden), granularity
        k = len(self.candidate_bits)
        self.heads = nn.ModuleList()
        for i, p in enumerate(self.points):
            d = p.channels + k * i
            self.heads.append(nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, k)) if hidden
                              else nn.Sequential(nn.Linear(d, k)))
            self.register_buffer(f"feat_mean{i}", torch.zeros(p.channels))
            self.register_buffer(f"feat_std{i}", torch.ones(p.channels))
        self.meta: dict = {}

    @property
    def n_choices(self) -> int:
        return len(self.candidate_bits)

    def set_feature_scale(self, i: int, feats: torch.Tensor) -> None:
        """Standardise head i's pooled features by their mean and std over (samples, prefixes)."""
        f = feats.reshape(-1, feats.shape[-1])
        getattr(self, f"feat_mean{i}").copy_(f.mean(0))
        getattr(self, f"feat_std{i}").copy_(f.std(0).clamp_min(1e-6))

    def logits(self, i: int, feats: torch.Tensor, prev_onehot: torch.Tensor | None) -> torch.Tensor:
        """feats (N, C_i) pooled producer output; prev_onehot (N, K*i) the widths chosen so far."""
        z = (feats - getattr(self, f"feat_mean{i}")) / getattr(self, f"feat_std{i}")
        if i:
            z = torch.cat([z, prev_onehot], dim=1)
        return self.heads[i](z)

    def layer_shapes(self) -> list[LayerShape]:
        """The heads as linear layers for the cost model (hidden outputs stored at 8 bits, logits wide)."""
        shapes = []
        for i, head in enumerate(self.heads):
            lins = [m for m in head if isinstance(m, nn.Linear)]
            for j, m in enumerate(lins):
                out = "acc" if j == len(lins) - 1 else f"const:{POLICY_BITS}"
                shapes.append(linear_shape(f"policy.{i}.{j}", m.in_features, m.out_features, out))
        return shapes

    def macs(self) -> int:
        return sum(s.macs for s in self.layer_shapes())


def new_policy(model: MetaResNet, granularity: str = "layer", hidden: int = DEFAULT_HIDDEN) -> AdaptivePolicy:
    return AdaptivePolicy(decision_points(model, granularity), model.candidate_bits, hidden, granularity)


def _identity(model: MetaResNet, policy: AdaptivePolicy) -> dict:
    return {"model": model.name, "arch_kwargs": dict(getattr(model, "arch_kwargs", {})),
            "candidate_bits": list(policy.candidate_bits), "granularity": policy.granularity,
            "points": [[p.site, p.producer, p.channels, list(p.layers)] for p in policy.points]}


def save_policy(policy: AdaptivePolicy, model: MetaResNet, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "hidden": policy.hidden, "network": _identity(model, policy),
               "state_dict": {k: v.detach().cpu() for k, v in policy.state_dict().items()}, "meta": policy.meta}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_policy(path: str | Path, model: MetaResNet) -> AdaptivePolicy:
    """Read a policy file for `model`; errors name the file and what does not match."""
    payload = read_tagged(path, FORMAT, VERSION, ("hidden", "network", "state_dict"), PolicyFileError, "policy file",
                          "bitmixer adaptive-policy file")
    net = payload["network"]
    gran = net.get("granularity", "layer")
    policy = AdaptivePolicy(decision_points(model, gran), model.candidate_bits, int(payload["hidden"]), gran)
    mine = _identity(model, policy)
    if isinstance(net.get("arch_kwargs"), dict) and "width" not in net["arch_kwargs"]:
        mine["arch_kwargs"].pop("width", None)    # a file from before models recorded their default width
    for key in ("model", "arch_kwargs", "candidate_bits", "points"):
        if net.get(key) != mine[key]:
            raise PolicyFileError(f"{path}: policy was trained for {key} = {net.get(key)!r}, "
                                  f"this meta-network has {mine[key]!r}")
    try:
        policy.load_state_dict(payload["state_dict"])
    except RuntimeError as e:
        raise PolicyFileError(f"{path}: weights do not fit the policy ({str(e).splitlines()[0][:200]})") from None
    policy.meta = dict(payload.get("meta") or {})
    policy.eval()
    return policy
