"""Functional simulation of whole configs through a PE kind's arithmetic (PESimulator plugged into the
executor): accuracy on real samples, the cycles the array spends on them, and the energy with the
data-dependent savings (zero-plane skipping) taken off the analytic estimate."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from tqdm import tqdm

from ..bits import BitConfig
from ..dataflow.costmodel import NetworkCost
from ..dataflow.graph import shapes_from_ir
from ..executor import execute
from ..hwconfig import HwConfig
from .sim import PESimulator

_TOTALS = ("counted", "no_skip", "model_compute", "energy_pj", "psum_overflows", "acc_overflows")


def simulate_config(ir, hw: HwConfig, cfg: BitConfig | Mapping[str, tuple[int, int]], x: np.ndarray, y: np.ndarray,
                    skipping: bool | None = None, cost: NetworkCost | None = None) -> dict:
    """Samples x (labels y) through the design at one config (a BitConfig or layer -> (w_bits, a_bits)); skipping None:
    as the hardware config says. Cycles and energy are for all len(y) samples together."""
    cfg = ir.config(cfg)   # a checked config passes unchanged
    cost = cost or NetworkCost(shapes_from_ir(ir), hw)
    sim = PESimulator(hw, skipping=skipping, overflow="report")
    res = execute(ir, cfg, x, acc_bits=min(hw.pe.accumulator_bits, 32), overflow="report", conv_impl=sim.conv_impl)
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
    return {"accuracy": float(np.mean(np.argmax(res.logits, axis=1) == y)), "samples": n, "layers": rows,
            "total": {k: sum(r[k] for r in rows) for k in _TOTALS}, "executor_overflows": len(res.overflows)}


def simulate_configs(ir, hw: HwConfig, configs: Sequence[tuple[str, BitConfig]],
                     x: np.ndarray, y: np.ndarray, skipping: bool | None = None, progress: bool = True) -> list[dict]:
    """simulate_config of each (name, config), named by its config."""
    cost = NetworkCost(shapes_from_ir(ir), hw)
    return [{"config": name, **simulate_config(ir, hw, cfg, x, y, skipping, cost)}
            for name, cfg in tqdm(configs, desc="simulate", leave=False, disable=not progress)]
