"""Hard assignment: shift every λ by one offset and round, so that the integer config meets the budget.

The paper bisects the offset in [−1, 0]. The rounded config is a step function of the offset that
changes only where some λ + offset crosses a midpoint between candidates, so we try exactly those
offsets (and 0), from the highest down, and keep the first that fits: the same answer as bisection
when cost falls with width, and still the highest fitting offset when it does not. The range reaches
down to −(max − min candidate), where every width rounds to its lowest, so whenever the all-lowest
config fits, some offset does.
"""
from __future__ import annotations

import itertools
from typing import Callable, Mapping

import numpy as np

from hwsim.errors import UserError

from hwsim.bits import BitConfig
from .widths import FracWidths


class BudgetUnreachable(UserError):
    pass


def offsets(values: np.ndarray, widths: FracWidths) -> np.ndarray:
    """Every offset in [−(max − min), 0] at which the rounded config changes, and 0; highest first."""
    span = max(max(v.candidates) - min(v.candidates) for v in widths.vars) if widths.vars else 0
    pts = [0.0]
    for x, v in zip(values, widths.vars):
        c = np.asarray(v.candidates, np.float64)
        # just past the midpoint, so that float rounding of x + offset cannot land on its upper side
        pts += [m - x - 1e-9 for m in (c[:-1] + c[1:]) / 2 if -span <= m - x <= 0]
    return np.unique(np.asarray(pts))[::-1]


def hard_assign(widths: FracWidths, total: Callable[[Mapping[str, tuple[int, int]]], float], target: float,
                name: str = "fracbits") -> tuple[BitConfig, float]:
    """(config, offset): the rounded λ + offset of the highest offset whose config costs <= target."""
    values = widths.values()
    for off in offsets(values, widths):
        cfg = widths.config(values + off, name)
        if total(cfg.bits) <= target:
            return cfg, float(off)
    lowest = widths.config(values - 1e9, name)
    raise BudgetUnreachable(f"budget {target:.6g} is below every rounded config's cost; the all-lowest config "
                            f"costs {total(lowest.bits):.6g}")


def fill_path(widths: FracWidths, cfg: BitConfig, shifted: np.ndarray,
              total: Callable[[Mapping[str, tuple[int, int]]], float], target: float) -> list[BitConfig]:
    """What rounding left of the budget, spent one width at a time: from `cfg`, raise by one candidate
    the width rounding cut most (largest λ + offset − its width) among those whose raise still fits,
    until none fits. Returns every config on the way, `cfg` first. (Not in the paper.)"""
    current, path = widths.at_config(cfg), [cfg]
    while True:
        for i in np.argsort(-(shifted - current), kind="stable"):
            up = [c for c in widths.vars[i].candidates if c > current[i]]
            if not up:
                continue
            trial = current.copy()
            trial[i] = min(up)
            c = widths.config(trial, cfg.name)
            if total(c.bits) <= target:
                current = trial
                path.append(c)
                break
        else:
            return path


def box_configs(widths: FracWidths, values: np.ndarray, total: Callable[[Mapping[str, tuple[int, int]]], float],
                low: float, target: float, name: str = "fracbits") -> list[BitConfig]:
    """Every config with each width at one of the two candidates around its λ whose cost lies in
    [low, target] (at most 2^n configs: λ has settled by then, so n is the few widths between two)."""
    opts = []
    for x, v in zip(values, widths.vars):
        c = np.asarray(v.candidates, np.float64)
        opts.append(sorted({c[c <= x + 1e-9].max(), c[c >= x - 1e-9].min()}))
    out = []
    for combo in itertools.product(*opts):
        cfg = widths.config(np.array(combo), name)
        if low <= total(cfg.bits) <= target:
            out.append(cfg)
    return out
