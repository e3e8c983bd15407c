"""Nested weight codes: a narrower width's codes derived from the widest stored codes by a rounding shift.

Rule (docs/integer_contract.md, "Nested weight codes"): with B the widest width, b < B and k = B - b,
    q_b = clamp((q_B + 2^(k-1) - [q_B < 0]) >> k, -(2^(b-1) - 1), 2^(b-1) - 1)
`>>` an arithmetic (floor) shift. This is q_B / 2^k rounded half away from zero (gemmlowp's
RoundingDivideByPOT), then saturated to the symmetric b-bit range; step sizes are tied, s_b = s_B * 2^k.
Half away from zero keeps the rule odd (derive(-q) = -derive(q)), as the symmetric code range is: half up
would move every tie (half of all codes at k = 1) up by half a step, biasing the weights by +s_B/4 on average.
Pure numpy; the torch reference (quantnet/intref.py) has its own copy of the rule, written independently.
"""
from __future__ import annotations

import numpy as np

from .errors import UserError

PER_WIDTH = "per_width"     # one stored code array per candidate width
NESTED = "nested"           # only the widest codes stored; narrower ones derived by `derive`
WEIGHT_CODES = (PER_WIDTH, NESTED)


class NestedCodesError(UserError):
    """A derivation asked for from a narrower width, or outside the 2..8-bit code range."""


def derive(q: np.ndarray, from_bits: int, to_bits: int) -> np.ndarray:
    """int8 codes at `to_bits` from int8 codes at `from_bits` >= to_bits (the rule above); a copy when equal."""
    if not 2 <= to_bits <= from_bits <= 8:
        raise NestedCodesError(f"nested codes derive 2 <= to_bits <= from_bits <= 8, got {from_bits} -> {to_bits}")
    k = from_bits - to_bits
    wide = q.astype(np.int16)
    if k == 0:
        return wide.astype(np.int8)
    qp = 2 ** (to_bits - 1) - 1
    r = (wide + (1 << (k - 1)) - (wide < 0)) >> k
    return np.clip(r, -qp, qp).astype(np.int8)
