"""Recompute BN running statistics after training (BN calibration, as for slimmable networks).

During training a bank entry's running statistics are an exponential average over the last few
batches in which its (producer, consumer) pair happened to run, each from a different weight
state. Calibration resets every entry the chosen configurations use, then averages (equal weight
per batch) over whole passes of the training set with the final weights, one pass per
configuration: the uniform bit-widths and a sample of random per-layer ones, so that every pair a
random configuration can select gets statistics. Entries no configuration reaches keep theirs.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..bitconfig import BitConfig, random_configs
from ..data import batches
from ..models import MetaResNet
from ..tbn import TransitionalBN


@torch.no_grad()
def calibrate_bn(model: MetaResNet, configs: list[tuple[str, BitConfig | None]], x: np.ndarray,
                 device: torch.device, batch_size: int = 256) -> int:
    """configs: (mode, BitConfig or None for the float net). Returns the number of entries recalibrated."""
    entries = [bn for bank in model.modules() if isinstance(bank, TransitionalBN) for bn in bank.bns.values()]
    saved = [copy.deepcopy(bn.state_dict()) for bn in entries]
    momenta = [bn.momentum for bn in entries]
    for bn in entries:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    was = model.training
    model.train()
    y0 = np.zeros(len(x), np.int64)
    for mode, bc in configs:
        model.set_mode(mode)
        if bc is not None:
            model.apply_bits(bc)
        for xb, _ in batches(x, y0, batch_size):
            model(xb.to(device))
    model.train(was)
    touched = 0
    for bn, state, m in zip(entries, saved, momenta):
        bn.momentum = m
        if int(bn.num_batches_tracked) == 0:
            bn.load_state_dict(state)  # not reached by any configuration: keep what training left
        else:
            bn.num_batches_tracked.copy_(state["num_batches_tracked"] + bn.num_batches_tracked)
            touched += 1
    return touched


def calibration_configs(model: MetaResNet, mode: str, bits: tuple[int, ...], n_random: int, granularity: str,
                        seed: int, include_float: bool) -> list[tuple[str, BitConfig | None]]:
    """The float net (optional), each uniform bit-width, and n_random random configs (mixed stages)."""
    out: list[tuple[str, BitConfig | None]] = [("fp", None)] if include_float else []
    out += [(mode, BitConfig.uniform(model.spec, b)) for b in bits]
    out += [(mode, c) for c in random_configs(model.spec, n_random, seed, granularity)]
    return out
