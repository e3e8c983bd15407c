"""Batch-norm banks selected by bit-width: Transitional BN, factorised into statistics and affine.

A BN site normalises the output of one layer and feeds the quantiser of the next. Two different
things depend on bit-widths there, and on different ones:
  statistics (mean, var)  are set by what flows in: the width `a` of the tensor the layer reads, its
                          weight width `w`, and the weight width `prev` of the layer that produced
                          that tensor (whose entry shaped the distribution the quantiser at `a`
                          sampled). A tensor that is a block's output, relu(main + shortcut), has two
                          producers: such a bank also names the shortcut summand's producer width
                          `prev_sc` (measured on digits_resnet10 at width 8, same weights and calibration: it
                          lifted the worst of 1000 mixed configs by 1.6 points, where 8x more
                          calibration gave 0.2). The next layer's width cannot move them.
  affine (gamma, beta)    shapes what flows out, for the quantiser of the next layer: it depends on
                          `w` and the next layer's width `next`.
Keying one BN by (w, next) alone would leave the statistics blind to the input side (measured:
per-config recalibration recovered up to 3 points on the worst mixed configs). Keying one BN by
(prev, a, w) alone would leave the affine blind to the next quantiser. Folded for inference the two are one
affine map per (prev[, prev_sc], a, w, next), so the integer model carries exactly that table.

Which entries exist depends on the bank's mode:
  transitional  statistics per (prev, a, w), or (prev, prev_sc, a, w) in a bank reading a block's output;
                affine per (w, next)  (Bit-Mixer's transitions)
  switchable    statistics and affine per w                        (AdaBits)
  shared        one of each for every bit-width
Each bank also holds a float entry ("fp") used when the network runs unquantised.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

BN_MODES = ("transitional", "switchable", "shared")
FLOAT_KEY = "fp"
TRANSITION = ("prev", "a", "w", "next", "prev_sc")


def stat_key(mode: str, prev_bits: int, a_bits: int, w_bits: int, prev_sc_bits: int | None = None) -> str:
    """The statistics entry an input side (producer's w, this layer's a, this layer's w; and for an input
    that is a residual sum, the shortcut summand's producer's w) selects: 'prev_a_w' or 'prev_prevsc_a_w'."""
    if mode == "transitional":
        sc = "" if prev_sc_bits is None else f"{prev_sc_bits}_"
        return f"{prev_bits}_{sc}{a_bits}_{w_bits}"
    return _other_key(mode, w_bits)


def affine_key(mode: str, w_bits: int, next_bits: int) -> str:
    """The affine entry an output side (this layer's w, the next layer's a) selects."""
    if mode == "transitional":
        return f"{w_bits}_{next_bits}"
    return _other_key(mode, w_bits)


def _other_key(mode: str, w_bits: int) -> str:
    if mode == "switchable":
        return f"{w_bits}"
    if mode == "shared":
        return "q"
    raise ValueError(f"unknown BN mode {mode!r}; expected one of {BN_MODES}")


def key_bits(key: str) -> tuple[int, ...]:
    """The bit-widths a quantised entry key names, in key order ('3_2_4' -> (3, 2, 4))."""
    return tuple(int(v) for v in key.split("_"))


class ChannelAffine(nn.Module):
    """gamma * x + beta per channel; `uses` counts training passes (0: never trained)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("uses", torch.zeros((), dtype=torch.long))

    def forward(self, x):
        if self.training:
            self.uses += 1
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


@dataclass(frozen=True)
class FoldedBN:
    """One transition's BN as the integer model folds it: y = (x - mean) / sqrt(var + eps) * gamma + beta."""
    gamma: torch.Tensor
    beta: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor
    eps: float


class TransitionalBN(nn.Module):
    def __init__(self, num_features: int, prev_candidates: Sequence[int], a_candidates: Sequence[int],
                 w_candidates: Sequence[int], next_candidates: Sequence[int], mode: str = "transitional",
                 prev_sc_candidates: Sequence[int] | None = None):
        """prev_sc_candidates: the widths of the shortcut summand's producer when the input is a block's
        output (its statistics are then keyed by it too); None otherwise."""
        super().__init__()
        if mode not in BN_MODES:
            raise ValueError(f"unknown BN mode {mode!r}; expected one of {BN_MODES}")
        self.mode = mode
        self.candidates = tuple(tuple(sorted(set(c))) for c in
                                (prev_candidates, a_candidates, w_candidates, next_candidates))
        self.sc_candidates = None if prev_sc_candidates is None else tuple(sorted(set(prev_sc_candidates)))
        p, a, w, n = self.candidates
        sc = (None,) if self.sc_candidates is None else self.sc_candidates
        skeys = {stat_key(mode, pb, ab, wb, s) for pb, s, ab, wb in itertools.product(p, sc, a, w)} | {FLOAT_KEY}
        akeys = {affine_key(mode, *t) for t in itertools.product(w, n)} | {FLOAT_KEY}
        self.stats = nn.ModuleDict({k: nn.BatchNorm2d(num_features, affine=False) for k in sorted(skeys)})
        self.affine = nn.ModuleDict({k: ChannelAffine(num_features) for k in sorted(akeys)})
        self.active = (FLOAT_KEY, FLOAT_KEY)

    def _keys(self, prev_bits: int, a_bits: int, w_bits: int, next_bits: int,
              prev_sc_bits: int | None) -> tuple[str, str]:
        t = (prev_bits, a_bits, w_bits, next_bits, prev_sc_bits)
        cands = self.candidates + (self.sc_candidates or (None,),)
        if any(b not in c for b, c in zip(t, cands)):
            names = " x ".join(f"{n} {c}" for n, c in zip(TRANSITION, cands))
            raise ValueError(f"transition {TRANSITION} = {t} outside this BN bank's candidates {names}")
        return stat_key(self.mode, prev_bits, a_bits, w_bits, prev_sc_bits), affine_key(self.mode, w_bits, next_bits)

    def select(self, prev_bits: int, a_bits: int, w_bits: int, next_bits: int, prev_sc_bits: int | None = None) -> None:
        self.active = self._keys(prev_bits, a_bits, w_bits, next_bits, prev_sc_bits)

    def set_float(self) -> None:
        self.active = (FLOAT_KEY, FLOAT_KEY)

    def entry(self, prev_bits: int, a_bits: int, w_bits: int, next_bits: int,
              prev_sc_bits: int | None = None) -> FoldedBN:
        """The BN a transition selects, as plain tensors (for export)."""
        s, a = self._keys(prev_bits, a_bits, w_bits, next_bits, prev_sc_bits)
        st, af = self.stats[s], self.affine[a]
        return FoldedBN(af.weight.detach(), af.bias.detach(), st.running_mean, st.running_var, st.eps)

    def forward(self, x):
        s, a = self.active
        return self.affine[a](self.stats[s](x))
