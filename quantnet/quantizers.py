"""LSQ quantisers with one learned step size per candidate bit-width.

Integer ranges (the integer contract, ../docs/integer_contract.md):
  weights     signed symmetric  q_w in [-(2^(b-1) - 1), 2^(b-1) - 1], per output channel step
  activations unsigned          q_a in [0, 2^b - 1], one step per (site, bit-width)

Forward: v_hat = round(clamp(v / s, Qn, Qp)) * s, rounding straight-through.
Backward on s is scaled by g = 1 / sqrt(N * Qp) (LSQ), N = elements sharing the step:
per output channel for weights, per sample for activations.
Init (first use of a bit-width): s = 2 * mean|v| / sqrt(Qp).

Nested weight codes (WeightQuantizer(nested=True), docs/integer_contract.md): only the widest width B has a
learned step; at b < B the codes are q_b = nested_round(q_B, B - b) and the step s_B * 2^(B - b), so an
accelerator stores q_B alone. Both roundings are straight-through.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

_EPS = 1e-8


def weight_range(bits: int) -> tuple[int, int]:
    """(Qn, Qp) for signed symmetric weight codes of `bits` bits."""
    qp = 2 ** (bits - 1) - 1
    return -qp, qp


def act_range(bits: int) -> tuple[int, int]:
    """(Qn, Qp) for unsigned activation codes of `bits` bits."""
    return 0, 2**bits - 1


def scale_grad(x: torch.Tensor, g: float) -> torch.Tensor:
    """Identity forward; gradient multiplied by g."""
    return (x - x * g).detach() + x * g


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half to even forward, identity gradient."""
    return (torch.round(x) - x).detach() + x


def lsq(v: torch.Tensor, step: torch.Tensor, qn: int, qp: int, g: float) -> torch.Tensor:
    """Fake-quantise v with a learned step (LSQ). Returns codes * step."""
    s = scale_grad(step, g)
    codes = round_ste(torch.clamp(v / s, qn, qp))
    return codes * s


def nested_round(q: torch.Tensor, k: int, bits: int) -> torch.Tensor:
    """sign(q) * floor((|q| + 2^(k-1)) / 2^k) clamped to +-(2^(bits-1) - 1): q / 2^k rounded half away from
    zero, saturated to the symmetric `bits`-bit range; exact on integer-valued q (float or int64)."""
    if k == 0:
        return q
    qp = 2 ** (bits - 1) - 1
    return (torch.sign(q) * torch.floor((q.abs() + 2 ** (k - 1)) / 2**k)).clamp(-qp, qp)


def nested_lsq(v: torch.Tensor, step: torch.Tensor, wide_bits: int, bits: int, g: float) -> torch.Tensor:
    """Fake-quantise v at `bits` through the widest codes: q_B by LSQ at step s_B, then nested_round by
    B - bits (straight-through), scaled by s_B * 2^(B - bits)."""
    qn, qp = weight_range(wide_bits)
    s = scale_grad(step, g)
    q_wide = round_ste(torch.clamp(v / s, qn, qp))
    k = wide_bits - bits
    # straight through q_B / 2^k, not saturated at the narrow range: saturating it (LSQ's gradient at the tied
    # step) measured no better on the default network (README, "The storage study")
    q = q_wide / 2**k
    q = q + (nested_round(q_wide.detach(), k, bits) - q).detach()
    return q * (s * 2**k)


def lsq_codes(v: torch.Tensor, step: torch.Tensor, qn: int, qp: int) -> torch.Tensor:
    """The integer codes the fake quantiser uses (no gradient), as int64."""
    with torch.no_grad():
        return torch.round(torch.clamp(v / step, qn, qp)).to(torch.int64)


class _SteppedQuantizer(nn.Module):
    """A bank of LSQ steps, one per candidate bit-width, initialised on first use."""

    signed: bool = False

    def __init__(self, candidates: Sequence[int], step_shape: tuple[int, ...]):
        super().__init__()
        cands = sorted(set(int(b) for b in candidates))
        if not cands or any(b < 2 or b > 16 for b in cands):
            raise ValueError(f"candidate bit-widths must be integers in [2, 16], got {list(candidates)}")
        self.candidates = tuple(cands)
        self.steps = nn.ParameterDict({str(b): nn.Parameter(torch.ones(step_shape)) for b in cands})
        self.register_buffer("initialised", torch.zeros(len(cands), dtype=torch.bool))
        self.bits: int = cands[-1]

    def set_bits(self, bits: int) -> None:
        if bits not in self.candidates:
            raise ValueError(f"bit-width {bits} not among this quantiser's candidates {self.candidates}")
        self.bits = bits

    def qrange(self, bits: int) -> tuple[int, int]:
        return weight_range(bits) if self.signed else act_range(bits)

    def step(self, bits: int | None = None) -> torch.Tensor:
        return self.steps[str(self.bits if bits is None else bits)]

    def _init_step(self, v: torch.Tensor) -> None:
        idx = self.candidates.index(self.bits)
        if bool(self.initialised[idx]):
            return
        _, qp = self.qrange(self.bits)
        with torch.no_grad():
            self.step().copy_(self._mean_abs(v) * 2.0 / math.sqrt(qp) + _EPS)
            self.initialised[idx] = True

    def _mean_abs(self, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _elements_per_step(self, v: torch.Tensor) -> int:
        raise NotImplementedError

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._init_step(v)
        qn, qp = self.qrange(self.bits)
        g = 1.0 / math.sqrt(self._elements_per_step(v) * qp)
        return lsq(v, self.step().clamp_min(_EPS), qn, qp, g)

    def codes(self, v: torch.Tensor, bits: int | None = None) -> torch.Tensor:
        """Integer codes of v at `bits` (default: current), int64."""
        b = self.bits if bits is None else bits
        qn, qp = self.qrange(b)
        return lsq_codes(v, self.step(b).clamp_min(_EPS), qn, qp)


class WeightQuantizer(_SteppedQuantizer):
    """Signed symmetric LSQ for a weight of shape (out, ...); per-channel steps unless per_channel=False.
    nested=True: narrower widths derive from the widest codes (see the module docstring); the narrower
    entries of `steps` stay in the state dict, unused."""

    signed = True

    def __init__(self, weight_shape: Sequence[int], candidates: Sequence[int], per_channel: bool = True,
                 nested: bool = False):
        self.per_channel = per_channel
        shape = (int(weight_shape[0]),) + (1,) * (len(weight_shape) - 1) if per_channel else (1,)
        super().__init__(candidates, shape)
        self.nested = nested

    def step(self, bits: int | None = None) -> torch.Tensor:
        b = self.bits if bits is None else bits
        if not self.nested:
            return super().step(b)
        wide = self.candidates[-1]
        # the widest step is returned as the parameter itself: initialisation copies into it
        return self.steps[str(wide)] if b == wide else self.steps[str(wide)] * 2 ** (wide - b)

    def _init_step(self, v: torch.Tensor) -> None:
        if not self.nested:
            return super()._init_step(v)
        bits, self.bits = self.bits, self.candidates[-1]   # the widest step is the one learned
        try:
            super()._init_step(v)
        finally:
            self.bits = bits

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if not self.nested:
            return super().forward(v)
        if self.training:
            self._init_step(v)
        wide = self.candidates[-1]
        g = 1.0 / math.sqrt(self._elements_per_step(v) * weight_range(wide)[1])
        return nested_lsq(v, self.steps[str(wide)].clamp_min(_EPS), wide, self.bits, g)

    def codes(self, v: torch.Tensor, bits: int | None = None) -> torch.Tensor:
        b = self.bits if bits is None else bits
        if not self.nested:
            return super().codes(v, b)
        wide = self.candidates[-1]
        q = super().codes(v, wide)
        with torch.no_grad():
            return nested_round(q, wide - b, b).to(torch.int64)

    def _mean_abs(self, v):
        if self.per_channel:
            return v.detach().abs().flatten(1).mean(1).view(self.step().shape)
        return v.detach().abs().mean().view(1)

    def _elements_per_step(self, v):
        return v[0].numel() if self.per_channel else v.numel()


class ActQuantizer(_SteppedQuantizer):
    """Unsigned LSQ for activations, one scalar step per candidate bit-width."""

    signed = False

    def __init__(self, candidates: Sequence[int]):
        super().__init__(candidates, (1,))

    def _mean_abs(self, v):
        return v.detach().abs().mean().view(1)

    def _elements_per_step(self, v):
        return max(1, v[0].numel())
