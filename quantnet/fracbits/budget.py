"""A search budget: an absolute figure with its unit ('12.5uJ', '3.1GBitOps', '40us', '1.2kB'), or a
fraction between the all-lowest (0) and all-highest (1) uniform config's cost ('0.6' or '60%').
Resolved to the unit the cost table holds (pJ, cycles, BitOps, bits)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from hwsim.errors import UserError

# metric -> unit -> multiplier to the table's unit (pJ, cycles, BitOps, bits); seconds are scaled by the clock
UNITS = {
    "energy": {"pJ": 1.0, "nJ": 1e3, "uJ": 1e6, "µJ": 1e6, "mJ": 1e9, "J": 1e12},
    "latency": {"cycles": 1.0, "kcycles": 1e3, "Mcycles": 1e6, "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
                "s": 1.0},
    "bitops": {"BitOps": 1.0, "kBitOps": 1e3, "MBitOps": 1e6, "GBitOps": 1e9, "TBitOps": 1e12},
    "size": {"bit": 1.0, "kbit": 1e3, "Mbit": 1e6, "B": 8.0, "kB": 8e3, "MB": 8e6, "GB": 8e9,
             "KiB": 8.0 * 2**10, "MiB": 8.0 * 2**20},
}
TABLE_UNIT = {"energy": "pJ", "latency": "cycles", "bitops": "BitOps", "size": "bit"}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(%|[A-Za-zµ]*)\s*$")


class BudgetError(UserError):
    pass


@dataclass(frozen=True)
class Budget:
    text: str
    target: float        # in the table's unit
    fraction: float      # where it lies between the all-lowest (0) and all-highest (1) config
    unit: str


def parse_budget(text: str, metric: str, lowest: float, highest: float, clock_hz: float | None = None) -> Budget:
    """Resolve `text` against the cost of the all-lowest and all-highest configs (in the table's unit)."""
    m = _BUDGET.match(str(text))
    if not m:
        raise BudgetError(f"--budget {text!r}: expected a fraction (0.6, 60%) or a figure with a unit "
                          f"({', '.join(UNITS[metric])})")
    value, unit = float(m.group(1)), m.group(2)
    if unit in ("", "%"):
        frac = value / 100 if unit == "%" else value
        if not 0.0 <= frac <= 1.0:
            raise BudgetError(f"--budget {text!r}: a fraction must lie in [0, 1] (0: all-lowest config, "
                              f"1: all-highest); give an absolute budget with its unit otherwise")
        return Budget(str(text), lowest + frac * (highest - lowest), frac, TABLE_UNIT[metric])
    if unit not in UNITS[metric]:
        raise BudgetError(f"--budget {text!r}: unit {unit!r} is not one of {metric}'s: {', '.join(UNITS[metric])}")
    target = value * UNITS[metric][unit]
    if metric == "latency" and unit.endswith("s") and not unit.endswith("cycles"):
        target *= clock_hz
    span = f"[{lowest:.6g}, {highest:.6g}] {TABLE_UNIT[metric]}"
    if target < lowest:
        raise BudgetError(f"--budget {text!r} = {target:.6g} {TABLE_UNIT[metric]} is below the cheapest config's "
                          f"{metric} (all-lowest widths); reachable: {span}")
    if target > highest:
        raise BudgetError(f"--budget {text!r} = {target:.6g} {TABLE_UNIT[metric]} is above the all-highest config's "
                          f"{metric}: every config fits; reachable: {span}")
    frac = (target - lowest) / (highest - lowest) if highest > lowest else 1.0
    return Budget(str(text), target, frac, TABLE_UNIT[metric])


def format_cost(value: float, metric: str, clock_hz: float | None = None) -> str:
    """A figure in the table's unit, shown with a readable unit ('1.234 uJ', '3.1 MBitOps')."""
    if metric == "energy":
        scaled = [(1e12, "J"), (1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ"), (1, "pJ")]
    elif metric == "latency":
        return f"{value:.0f} cycles" + (f" ({value / clock_hz * 1e6:.4g} us)" if clock_hz else "")
    elif metric == "bitops":
        scaled = [(1e12, "TBitOps"), (1e9, "GBitOps"), (1e6, "MBitOps"), (1e3, "kBitOps"), (1, "BitOps")]
    else:
        scaled = [(8e9, "GB"), (8e6, "MB"), (8e3, "kB"), (8, "B")]
    div, unit = next(((d, u) for d, u in scaled if abs(value) >= d), scaled[-1])
    return f"{value / div:.4g} {unit}"
