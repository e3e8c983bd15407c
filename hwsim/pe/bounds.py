"""Bounds on a PE's digit-pair partial sums and running sums from the operands' actual code ranges.

For codes in [lo, hi] split into d-bit digits (hwsim.pe.digits), |digit_j| <= `digit_max`. A digit pair's
dot product over K terms is then |P_ij| <= K * max|x_i| * max|w_j| (zero padding has zero digits), and
every running sum of the PE's order, a sum of some of the terms P_ij << (da*i + dw*j), is bounded by the
sum of all the terms' bounds. Python ints: exact at any width.
"""
from __future__ import annotations

from dataclasses import dataclass


def digit_max(lo: int, hi: int, bits: int, d: int) -> list[int]:
    """max |digit_j| over every code in [lo, hi]: a low digit is masked to d bits (and below hi >> d*j when
    no code is negative); the top digit is the arithmetic shift, monotone in the code, so extreme at lo or hi."""
    n = -(-bits // d)
    top = d * (n - 1)
    low = [min((1 << d) - 1, hi >> (d * j)) if lo >= 0 else (1 << d) - 1 for j in range(n - 1)]
    return low + [max(abs(lo >> top), abs(hi >> top))]


@dataclass(frozen=True)
class PEBounds:
    psum: int      # >= every |digit-pair dot product|
    acc: int       # >= every |running sum|, the final accumulator included


def pe_bounds(x_range: tuple[int, int], w_range: tuple[int, int], k: int, a_bits: int, w_bits: int,
              da: int, dw: int) -> PEBounds:
    """The bounds of a layer whose activation codes lie in x_range and weight codes in w_range, K terms
    per dot product, digits of da (activations) and dw (weights) bits."""
    mx, mw = digit_max(*x_range, a_bits, da), digit_max(*w_range, w_bits, dw)
    terms = [(k * xi * wj, da * i + dw * j) for i, xi in enumerate(mx) for j, wj in enumerate(mw)]
    return PEBounds(max(p for p, _ in terms), sum(p << sh for p, sh in terms))
