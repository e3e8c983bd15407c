"""Functional simulation of whole configs through a PE kind's arithmetic (PESimulator plugged into the
executor): accuracy on real samples, the cycles the array spends on them, and the energy with the
data-dependent savings (zero-plane skipping) taken off the analytic estimate."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from tqdm import tqdm

from ..bits import BitConfig
from ..errors import ResultError
from ..dataflow.costmodel import NetworkCost
from ..dataflow.graph import shapes_from_ir
from ..executor import execute
from ..hwconfig import HwConfig
from .sim import PESimulator

_TOTALS = ("counted", "no_skip", "model_compute", "energy_pj", "psum_overflows", "acc_overflows")


class SimulatedOverflow(ResultError):
    """A partial sum or accumulator of the modelled design overflowed: its top-1 is not the design's."""


def run_on_pe(ir, hw: HwConfig, cfg, x: np.ndarray, skipping: bool | None = None, exact_stats: bool = True):
    """(executor result, the PE simulator with its per-layer counts) of samples x at one config through the
    design's own arithmetic; overflows of the design's widths are counted there, not raised. `exact_stats`
    False: the simulator's proven shortcut (hwsim.pe.sim), max_psum / max_acc then bounds."""
    sim = PESimulator(hw, skipping=skipping, overflow="report", exact_stats=exact_stats)
    res = execute(ir, cfg, x, acc_bits=min(hw.pe.accumulator_bits, 32), overflow="report", conv_impl=sim.conv_impl)
    return res, sim


def simulate_config(ir, hw: HwConfig, cfg: BitConfig | Mapping[str, tuple[int, int]], x: np.ndarray, y: np.ndarray,
                    skipping: bool | None = None, cost: NetworkCost | None = None, allow_overflow: bool = False,
                    name: str = "config") -> dict:
    """Samples x (labels y) through the design at one config (a BitConfig or layer -> (w_bits, a_bits)); skipping None:
    as the hardware config says. Cycles and energy are for all len(y) samples together.

    An overflow of a modelled partial sum or accumulator raises SimulatedOverflow naming the layer and width,
    unless `allow_overflow`: then it is counted, and the result says `overflowed: True`."""
    cfg = ir.config(cfg)   # a checked config passes unchanged
    cost = cost or NetworkCost(shapes_from_ir(ir), hw)
    res, sim = run_on_pe(ir, hw, cfg, x, skipping)
    n = len(y)
    rows = []
    for r in cost.layers(cfg.bits):
        c = sim.counts.get(r["name"])
        counted = c.cycles if c else r["cycles_by"]["compute"] * n    # linear layers: analytic
        no_skip = c.cycles_no_skip if c else counted
        saved = 1 - counted / no_skip if no_skip else 0.0
        rows.append({"name": r["name"], "w_bits": r["w_bits"], "a_bits": r["a_bits"],
                     "model_compute": r["cycles_by"]["compute"] * n, "counted": counted, "no_skip": no_skip,
                     "saved_pct": 100 * saved, "energy_pj": r["energy_pj"] * n - r["energy_by"]["mac"] * n * saved,
                     "psum_overflows": c.psum_overflows if c else 0, "acc_overflows": c.acc_overflows if c else 0})
    _check_overflow(hw, name, rows, res.overflows, allow_overflow)
    total = {k: sum(r[k] for r in rows) for k in _TOTALS}
    overflowed = bool(total["psum_overflows"] or total["acc_overflows"] or res.overflows)
    return {"accuracy": float(np.mean(np.argmax(res.logits, axis=1) == y)), "samples": n, "layers": rows,
            "total": total, "executor_overflows": len(res.overflows), "overflowed": overflowed}


def _check_overflow(hw: HwConfig, name: str, rows: list[dict], executor_overflows, allow: bool) -> None:
    if allow:
        return
    pe = hw.pe
    for r in rows:
        if r["psum_overflows"] or r["acc_overflows"]:
            raise SimulatedOverflow(
                f"{hw.name}, config {name}: layer {r['name']!r}: {r['psum_overflows']} partial sums overflow "
                f"{pe.partial_sum_bits} bits and {r['acc_overflows']} running sums the {pe.accumulator_bits}-bit "
                f"accumulator; the top-1 would not be the design's (--allow-overflow reports it and continues)")
    if executor_overflows:
        o = executor_overflows[0]
        raise SimulatedOverflow(f"{hw.name}, config {name}: layer {o.layer!r}: acc + bias {o.value} does not fit the "
                                f"{o.acc_bits}-bit accumulator (--allow-overflow reports it and continues)")


def simulate_configs(ir, hw: HwConfig, configs: Sequence[tuple[str, BitConfig]], x: np.ndarray, y: np.ndarray,
                     skipping: bool | None = None, progress: bool = True, allow_overflow: bool = False) -> list[dict]:
    """simulate_config of each (name, config), named by its config."""
    cost = NetworkCost(shapes_from_ir(ir), hw)
    return [{"config": name, **simulate_config(ir, hw, cfg, x, y, skipping, cost, allow_overflow, name)}
            for name, cfg in tqdm(configs, desc="simulate", leave=False, disable=not progress)]
