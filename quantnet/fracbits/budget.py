"""A search budget: an absolute figure with its unit ('12.5uJ', '3.1GBitOps', '40us', '1.2kB'), or a
fraction between the all-lowest (0) and all-highest (1) uniform config's cost ('0.6' or '60%').
Resolved to the unit the cost table holds (pJ, cycles, BitOps, bits)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from hwsim.errors import UserError

_PREFIX = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
# metric -> unit -> multiplier to the table's unit ("clock" scales seconds to cycles)
UNITS = {
    "energy": {f"{p}J": m * 1e12 for p, m in _PREFIX.items() if m <= 1},
    "latency": {**{f"{p}s": m for p, m in _PREFIX.items() if m <= 1},
                **{f"{p}cycles": m for p, m in _PREFIX.items() if m >= 1}},
    "bitops": {f"{p}BitOps": m for p, m in _PREFIX.items() if m >= 1},
    "size": {"bit": 1, "kbit": 1e3, "Mbit": 1e6, "B": 8, "kB": 8e3, "MB": 8e6, "GB": 8e9,
             "KiB": 8 * 2**10, "MiB": 8 * 2**20},
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
