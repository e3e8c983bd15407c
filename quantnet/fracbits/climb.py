"""Local search after the hard assignment (not in the paper): from the chosen config, move to the best
fitting neighbour while that lowers the training loss. A neighbour moves one λ variable by one
candidate (up or down), or one up and another down (spending elsewhere what one width gave back), so
with n variables there are at most 2n + n(n − 1) of them. A meta-network's loss over configs is rugged
(each transition has its own BN entries), and the relaxed λ can settle between two good configs, one
trade away from either; the climb reaches them by training loss alone.
"""
from __future__ import annotations

import itertools
from typing import Callable, Mapping

import numpy as np

from hwsim.bits import BitConfig
from .widths import FracWidths


def _step(v: float, cands, up: bool) -> float | None:
    """The next candidate above (or below) v, or None at the end."""
    nxt = [c for c in cands if (c > v if up else c < v)]
    return (min(nxt) if up else max(nxt)) if nxt else None


def neighbours(widths: FracWidths, cfg: BitConfig, total: Callable[[Mapping[str, tuple[int, int]]], float],
               target: float) -> list[BitConfig]:
    """Every config one move from `cfg` (one variable one candidate up or down, or one up and another
    down) whose cost is within `target`."""
    at = widths.at_config(cfg)
    cands = [v.candidates for v in widths.vars]
    moves = [{i: _step(at[i], cands[i], up)} for i in range(len(at)) for up in (True, False)]
    moves += [{i: _step(at[i], cands[i], True), j: _step(at[j], cands[j], False)}
              for i, j in itertools.permutations(range(len(at)), 2)]
    out = []
    for m in moves:
        if any(v is None for v in m.values()):
            continue
        vals = at.copy()
        for i, v in m.items():
            vals[i] = v
        c = widths.config(vals, cfg.name)
        if total(c.bits) <= target:
            out.append(c)
    return out


def climb(widths: FracWidths, starts: list[BitConfig], loss: Callable[[BitConfig], float],
          total: Callable[[Mapping[str, tuple[int, int]]], float], target: float, rounds: int,
          max_scored: int | None = None) -> tuple[BitConfig, int]:
    """(config, configs scored): from the start of lowest loss (the first on a tie), up to `rounds` moves
    to the fitting neighbour of lowest loss, each only if it is lower than the current config's. Once
    `max_scored` configs have been scored (the starts always are), a round stops at the first neighbour
    not yet scored and moves only among those that were."""
    seen: dict[tuple, float] = {}

    def scored(c: BitConfig) -> float:
        key = tuple(sorted(c.bits.items()))
        if key not in seen:
            seen[key] = loss(c)
        return seen[key]

    def room(c: BitConfig) -> bool:
        return max_scored is None or len(seen) < max_scored or tuple(sorted(c.bits.items())) in seen

    losses = [scored(c) for c in starts]
    k = int(np.argmin(losses))
    cur, cur_loss = starts[k], losses[k]
    for _ in range(rounds):
        nb = []
        for c in neighbours(widths, cur, total, target):
            if not room(c):
                break
            nb.append((scored(c), c))
        if not nb:
            break
        best_loss, best = min(nb, key=lambda t: t[0])
        if best_loss >= cur_loss:
            break
        cur, cur_loss = best, best_loss
    return cur, len(seen)
