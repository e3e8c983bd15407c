"""Recompute BN running statistics after training (BN calibration, as for slimmable networks).

During training a statistics entry's running mean and variance are an exponential average over the
last few batches in which its transition (prev, a, w) happened to run, each from a different weight
state (and, on digits, noisy enough to move test accuracy by half a point between the last
epochs). Calibration resets every entry the chosen configurations use and averages (equal weight
per batch) over whole passes of the training set with the final weights, one pass per
configuration, in two groups:
  anchors  the float net and each uniform bit-width: the entries they reach take statistics from
           these passes only, so a uniform network gets exactly its own;
  others   random per-layer configs: only entries no anchor reaches (the mixed transitions) learn
           from them. (Averaging random contexts into the uniform entries cost W2A2 a point.) Each may
           pass over its own random subset of `samples` training samples: a bank keyed (prev, prev_sc,
           a, w) has 81 entries at 3 widths, and 128 whole passes left many of them unreached or
           reached once (measured on digits_resnet10 at width 8, seed 2: 1000 configs x 256 samples lifted the
           10 worst of 1000 configs from 94.4-95.9 % to 96.0-97.3 %, for ~2x the samples).
Entries no configuration reaches keep what training left.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from hwsim.bits import BitConfig, random_configs

from ..data import batches
from ..models import MetaResNet
from ..tbn import TransitionalBN


@torch.no_grad()
def calibrate_bn(model: MetaResNet, anchors: list[tuple[str, BitConfig | None]], x: np.ndarray,
                 device: torch.device, others: list[tuple[str, BitConfig | None]] = (),
                 batch_size: int = 256, samples: int = 0, seed: int = 0) -> int:
    """Configs are (mode, BitConfig or None for the float net); `samples` > 0: each of `others` passes over its
    own random subset of that many samples (seeded by `seed`). Returns the number of entries recalibrated."""
    entries = [bn for bank in model.modules() if isinstance(bank, TransitionalBN) for bn in bank.stats.values()]
    saved = [copy.deepcopy(bn.state_dict()) for bn in entries]
    momenta = [bn.momentum for bn in entries]
    for bn in entries:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    was = model.training
    model.train()
    _passes(model, anchors, x, device, batch_size)
    for bn in entries:
        if int(bn.num_batches_tracked) > 0:
            bn.momentum = 0.0  # an anchor's entry: later passes leave its statistics as they are
    if 0 < samples < len(x):
        rng = np.random.default_rng(seed)
        for config in others:
            _passes(model, [config], x[np.sort(rng.choice(len(x), samples, replace=False))], device, batch_size)
    else:
        _passes(model, others, x, device, batch_size)
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


def _passes(model: MetaResNet, configs, x: np.ndarray, device: torch.device, batch_size: int) -> None:
    y0 = np.zeros(len(x), np.int64)
    for mode, bc in configs:
        model.set_mode(mode)
        if bc is not None:
            model.apply_bits(bc)
        for xb, _ in batches(x, y0, batch_size):
            model(xb.to(device))


def calibration_configs(model: MetaResNet, mode: str, bits: tuple[int, ...], n_random: int, granularity: str,
                        seed: int, include_float: bool) -> tuple[list, list]:
    """(anchors, others): the float net (optional) and each uniform bit-width; n_random random configs."""
    anchors: list[tuple[str, BitConfig | None]] = [("fp", None)] if include_float else []
    anchors += [(mode, BitConfig.uniform(model.spec, b)) for b in bits]
    return anchors, [(mode, c) for c in random_configs(model.spec, n_random, seed, granularity)]
