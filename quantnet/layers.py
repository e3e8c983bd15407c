"""Meta-quantised conv and linear layers: one latent float weight, a weight-step bank per bit-width.

A layer's input is already quantised by the site that produced it (one format per tensor), so
a layer quantises only its weight. Its (w_bits, a_bits) are set at run time by the network.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .quantizers import WeightQuantizer

QUANT_MODES = ("fp", "act", "full")  # float; activations only (stage 1); weights and activations
WEIGHT_CODES = ("per_width", "nested")   # a step and codes per width; or narrower codes derived from the widest


class _MetaLayer:
    w_bits: int
    a_bits: int
    quantize_weights: bool

    def _init_meta(self, w_candidates: Sequence[int], per_channel: bool) -> None:
        self.wq = WeightQuantizer(self.weight.shape, w_candidates, per_channel=per_channel)
        self.w_bits = self.wq.candidates[-1]
        self.a_bits = 8
        self.quantize_weights = False

    @property
    def weight_codes_kind(self) -> str:
        return "nested" if self.wq.nested else "per_width"

    def set_weight_codes(self, kind: str) -> None:
        if kind not in WEIGHT_CODES:
            raise ValueError(f"weight_codes must be one of {list(WEIGHT_CODES)}, got {kind!r}")
        self.wq.nested = kind == "nested"

    def set_bits(self, w_bits: int, a_bits: int) -> None:
        self.wq.set_bits(w_bits)
        self.w_bits, self.a_bits = w_bits, a_bits

    def effective_weight(self) -> torch.Tensor:
        return self.wq(self.weight) if self.quantize_weights else self.weight

    def weight_codes(self, bits: int) -> torch.Tensor:
        """Signed integer weight codes at `bits`, int64."""
        return self.wq.codes(self.weight, bits)

    def weight_step(self, bits: int) -> torch.Tensor:
        return self.wq.step(bits).detach().clamp_min(1e-8)


class QConv2d(nn.Conv2d, _MetaLayer):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, w_candidates: Sequence[int],
                 stride: int = 1, padding: int = 0, groups: int = 1):
        super().__init__(in_ch, out_ch, kernel_size, stride=stride, padding=padding, groups=groups, bias=False)
        self._init_meta(w_candidates, per_channel=True)

    def forward(self, x):
        return F.conv2d(x, self.effective_weight(), None, self.stride, self.padding, self.dilation, self.groups)


class QLinear(nn.Linear, _MetaLayer):
    """The classifier: per-tensor weight step, so that its int32 logits share one scale (argmax on them)."""

    def __init__(self, in_features: int, out_features: int, w_candidates: Sequence[int]):
        super().__init__(in_features, out_features, bias=True)
        self._init_meta(w_candidates, per_channel=False)

    def forward(self, x):
        return F.linear(x, self.effective_weight(), self.bias)
