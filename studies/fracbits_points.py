"""The pareto study's searched series: FracBits on the frozen meta-network, paying each accelerator's
own energy (or cycles), at budgets given as fractions of the way from the all-lowest to the
all-highest uniform config's cost (as `bitmixer search fracbits --budget F`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hwsim.errors import UserError
from hwsim.bits import BitConfig
from quantnet.fracbits.costs import choices_of, extreme_configs
from quantnet.fracbits.search import SearchResult, SearchSettings, search_frozen

from .costs import Accelerator
from .network import MetaNet

TABLE_METRIC = {"energy": "energy", "cycles": "latency"}   # the study's metric -> the cost table's


@dataclass(frozen=True)
class FracBitsSection:
    enabled: bool = False
    metric: Literal["energy", "cycles"] = "energy"
    budgets: tuple[float, ...] = (0.25, 0.5, 0.75)   # 0: all-lowest config's cost, 1: all-highest's
    steps: int = SearchSettings.steps
    accelerators: tuple[str, ...] = ()               # search on these only; empty: on every accelerator

    def __post_init__(self):
        bad = [b for b in self.budgets if not 0 <= b <= 1]
        if bad:
            raise ValueError(f"fracbits.budgets must be fractions in [0, 1], got {bad}")


def searched_at_budgets(net: MetaNet, table, fractions, settings: SearchSettings, label: str,
                        progress: bool = True) -> list[tuple[float, float, SearchResult]]:
    """(fraction, target, result) per budget: FracBits on the frozen meta-network paying `table`, the target
    `fraction` of the way from the all-lowest to the all-highest uniform config's cost in that table."""
    if net.x_train is None:
        raise UserError("FracBits learns its widths on training samples: the study's network has none")
    lo, hi = (table.total(c.bits) for c in extreme_configs(net.spec))
    out = []
    for f in fractions:
        target = lo + f * (hi - lo)
        r = search_frozen(net.model, table, target, net.x_train, net.y_train, settings, progress, name=f"{label}-{f:g}")
        out.append((f, target, r))
    return out


def fracbits_series(sec: FracBitsSection, net: MetaNet, acc: Accelerator,
                    progress: bool = True) -> list[tuple[BitConfig, dict]]:
    """(config, row) per budget: the config FracBits chose on `acc` and what it cost."""
    if acc.tabulate is None:
        raise UserError(f"accelerator {acc.name!r} has no per-layer cost table: FracBits needs one")
    table = acc.tabulate(choices_of(net.spec), TABLE_METRIC[sec.metric])
    out = []
    for f, target, r in searched_at_budgets(net, table, sec.budgets, SearchSettings(steps=sec.steps),
                                            f"fracbits[{acc.name}]", progress):
        w, a = r.config.avg_bits(net.spec)
        out.append((r.config, {"accelerator": acc.name, "metric": sec.metric, "budget_fraction": f, "budget": target,
                               "config": r.config.name, "cost": r.cost, "avg_w_bits": w, "avg_a_bits": a,
                               "search_seconds": r.seconds}))
    return out
