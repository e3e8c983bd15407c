"""Batch-norm banks selected by bit-width.

A BN site sits between a producing layer and the quantiser of its consumer. Which BN runs
depends on the bank's mode:
  transitional  one BN per (producer w_bits, consumer a_bits) pair  (Bit-Mixer)
  switchable    one BN per producer w_bits                          (AdaBits)
  shared        one BN for every bit-width
Each bank also holds a float BN ("fp") used when the network runs unquantised.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

BN_MODES = ("transitional", "switchable", "shared")
FLOAT_KEY = "fp"


def bn_key(mode: str, this_bits: int, next_bits: int) -> str:
    """The bank entry a (producer, consumer) bit-width pair selects."""
    if mode == "transitional":
        return f"{this_bits}_{next_bits}"
    if mode == "switchable":
        return f"{this_bits}"
    if mode == "shared":
        return "q"
    raise ValueError(f"unknown BN mode {mode!r}; expected one of {BN_MODES}")


class TransitionalBN(nn.Module):
    def __init__(self, num_features: int, this_candidates: Sequence[int], next_candidates: Sequence[int],
                 mode: str = "transitional"):
        super().__init__()
        if mode not in BN_MODES:
            raise ValueError(f"unknown BN mode {mode!r}; expected one of {BN_MODES}")
        self.mode = mode
        self.this_candidates = tuple(sorted(set(this_candidates)))
        self.next_candidates = tuple(sorted(set(next_candidates)))
        keys = {bn_key(mode, t, n) for t in self.this_candidates for n in self.next_candidates}
        keys.add(FLOAT_KEY)
        self.bns = nn.ModuleDict({k: nn.BatchNorm2d(num_features) for k in sorted(keys)})
        self.active = FLOAT_KEY

    def set_pair(self, this_bits: int, next_bits: int) -> None:
        if this_bits not in self.this_candidates or next_bits not in self.next_candidates:
            raise ValueError(f"bit pair ({this_bits}, {next_bits}) outside this BN bank's candidates "
                             f"{self.this_candidates} x {self.next_candidates}")
        self.active = bn_key(self.mode, this_bits, next_bits)

    def set_float(self) -> None:
        self.active = FLOAT_KEY

    def current(self) -> nn.BatchNorm2d:
        return self.bns[self.active]

    def forward(self, x):
        return self.bns[self.active](x)
