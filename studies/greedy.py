"""Greedy bit allocation: from the widest config, repeatedly lower the one bit-width whose step
costs the least accuracy per unit of cost saved, until the cheapest budget is met or nothing is left
to lower. Every config on the path is returned; a budget's pick is the first one under it."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from hwsim.bits import BitConfig, LayerTable

CostFn = Callable[[Sequence[BitConfig]], np.ndarray]
AccFn = Callable[[Sequence[BitConfig]], np.ndarray]


def lower_moves(spec: LayerTable, cfg: BitConfig) -> list[BitConfig]:
    """Every config one candidate step below cfg in one weight width or one activation width.

    An activation width moves together with the layers tied to it (they read the same tensor)."""
    bits = dict(cfg.bits)
    moves = []
    for l in spec.layers:
        w, a = bits[l.name]
        lower_w = [c for c in l.w_choices if c < w]
        if lower_w:
            moves.append(spec.validate({**bits, l.name: (max(lower_w), a)}, f"{cfg.name}|{l.name}.w{max(lower_w)}"))
        lower_a = [c for c in l.a_choices if c < a]
        if lower_a and l.a_tied_to is None:
            na = max(lower_a)
            moves.append(spec.validate(spec.tie({**bits, l.name: (w, na)}), f"{cfg.name}|{l.name}.a{na}"))
    return moves


def greedy_path(spec: LayerTable, cost_fn: CostFn, acc_fn: AccFn, stop_cost: float | None = None,
                progress=None) -> list[tuple[BitConfig, float, float]]:
    """[(config, cost, accuracy)] from the widest config down; names are greedy-<step>."""
    cur = spec.validate({l.name: (max(l.w_choices), max(l.a_choices)) for l in spec.layers}, "greedy-0")
    cost, acc = float(cost_fn([cur])[0]), float(acc_fn([cur])[0])
    path = [(cur, cost, acc)]
    while stop_cost is None or cost > stop_cost:
        moves = lower_moves(spec, cur)
        if not moves:
            break
        costs, accs = np.asarray(cost_fn(moves), float), np.asarray(acc_fn(moves), float)
        saved = cost - costs
        ok = saved > 0
        if not ok.any():
            break   # nothing lower is cheaper on this accelerator
        # accuracy lost per unit of cost saved; a gain in accuracy counts as a negative loss
        score = np.where(ok, (acc - accs) / np.where(ok, saved, 1.0), np.inf)
        k = int(np.lexsort((-saved, score))[0])
        cur = replace(moves[k], name=f"greedy-{len(path)}")
        cost, acc = float(costs[k]), float(accs[k])
        path.append((cur, cost, acc))
        if progress is not None:
            progress.update(1)
    return path


def budget_picks(path: Sequence[tuple[BitConfig, float, float]], budgets: Sequence[float]) -> dict[float, int | None]:
    """Budget (absolute cost) -> index on the path of the first config that fits it, or None."""
    out = {}
    for b in budgets:
        out[b] = next((i for i, (_, c, _) in enumerate(path) if c <= b), None)
    return out
