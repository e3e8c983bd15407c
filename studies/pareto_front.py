"""Pareto fronts: lower cost and higher accuracy are better."""
from __future__ import annotations

import numpy as np


def pareto_mask(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """True for points that no other point dominates (cost <= and acc >=, one of them strictly).

    Sort by cost ascending, then accuracy descending; a point is on the front when its accuracy beats
    every cheaper-or-equal point before it. Exact duplicates of a front point are all kept.
    """
    cost, acc = np.asarray(cost, np.float64), np.asarray(acc, np.float64)
    if cost.shape != acc.shape or cost.ndim != 1:
        raise ValueError(f"cost and acc must be 1-D of one length, got {cost.shape} and {acc.shape}")
    order = np.lexsort((-acc, cost))
    mask = np.zeros(len(cost), bool)
    best = -np.inf
    prev = None
    for i in order:
        if acc[i] > best:
            mask[i], best, prev = True, acc[i], (cost[i], acc[i])
        elif prev is not None and (cost[i], acc[i]) == prev:
            mask[i] = True
    return mask


def best_within(cost: np.ndarray, acc: np.ndarray, budget: float) -> int | None:
    """Index of the most accurate point with cost <= budget (cheapest among ties), or None."""
    cost, acc = np.asarray(cost, np.float64), np.asarray(acc, np.float64)
    ok = np.flatnonzero(cost <= budget)
    if len(ok) == 0:
        return None
    return int(ok[np.lexsort((cost[ok], -acc[ok]))[0]])
