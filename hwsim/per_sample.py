"""A batch whose samples have different configs, run on the integer model: samples grouped by config,
each group run once, results scattered back in sample order. Any runner (the numba executor, the torch
reference, the PE simulator) plugs in as `run(bits, x_group) -> logits`.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from .errors import UserError
from .executor import execute
from .hwconfig import HwConfig
from .ir import IntModel
from .pe.sim import LayerCount
from .pe.simulate import run_on_pe

Bits = Mapping[str, tuple[int, int]]


def group_by_config(configs: Sequence[Bits]) -> list[tuple[dict, np.ndarray]]:
    """Distinct configs in first-seen order, each with the indices of the samples that use it."""
    groups: dict[tuple, tuple[dict, list[int]]] = {}
    for i, bits in enumerate(configs):
        key = tuple(sorted((n, (int(w), int(a))) for n, (w, a) in bits.items()))
        groups.setdefault(key, (dict(bits), []))[1].append(i)
    return [(bits, np.asarray(idx)) for bits, idx in groups.values()]


def run_grouped(run: Callable[[Bits, np.ndarray], np.ndarray], configs: Sequence[Bits], x: np.ndarray) -> np.ndarray:
    """Outputs of `run` per sample, each sample at its own config."""
    if len(configs) != len(x):
        raise UserError(f"per-sample run: {len(configs)} configs for {len(x)} samples")
    out = None
    for bits, idx in group_by_config(configs):
        y = np.asarray(run(bits, x[idx]))
        if out is None:
            out = np.zeros((len(x),) + y.shape[1:], y.dtype)
        out[idx] = y
    return out if out is not None else np.zeros((0,), np.int32)


def execute_per_sample(ir: IntModel, configs: Sequence[Bits], x: np.ndarray, acc_bits: int = 32) -> np.ndarray:
    """int32 logits (N, classes) of the numba executor, sample i at configs[i]."""
    return run_grouped(lambda bits, xg: execute(ir, bits, xg, acc_bits=acc_bits).logits, configs, x)


def simulate_per_sample(hw: HwConfig, ir: IntModel, configs: Sequence[Bits], x: np.ndarray,
                        skipping: bool | None = None) -> tuple[np.ndarray, list[dict]]:
    """Logits through the PE simulator, and per distinct config its samples and counted cycles per layer."""
    groups = []

    def run(bits, xg):
        res, sim = run_on_pe(ir, hw, bits, xg, skipping)
        counts: dict[str, LayerCount] = sim.counts
        groups.append({"bits": dict(bits), "samples": len(xg), "counts": counts,
                       "cycles": sum(c.cycles for c in counts.values()),
                       "cycles_no_skip": sum(c.cycles_no_skip for c in counts.values())})
        return res.logits

    logits = run_grouped(run, configs, x)
    return logits, groups
