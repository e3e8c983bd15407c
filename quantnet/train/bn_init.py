"""Warm start of BN bank entries that have never been trained.

A stage that switches to new (producer w_bits, consumer a_bits) pairs would otherwise start those
BNs from gamma=1, beta=0, mean 0, var 1. An entry counts as untrained while its
`num_batches_tracked` is 0; it copies the trained entry of its bank with the same producer
bit-width and the nearest consumer bit-width, else the float entry. Trained entries are never touched.
"""
from __future__ import annotations

import torch
from torch import nn

from ..tbn import FLOAT_KEY, TransitionalBN


def _trained(bn: nn.BatchNorm2d) -> bool:
    return int(bn.num_batches_tracked) > 0


def _source_key(bank: TransitionalBN, key: str) -> str | None:
    trained = [k for k, bn in bank.bns.items() if k != key and _trained(bn)]
    if not trained:
        return None
    if key != FLOAT_KEY and bank.mode == "transitional":
        w, a = (int(v) for v in key.split("_"))
        same_w = [k for k in trained if k != FLOAT_KEY and int(k.split("_")[0]) == w]
        if same_w:
            return min(same_w, key=lambda k: (abs(int(k.split("_")[1]) - a), k))
    if FLOAT_KEY in trained:
        return FLOAT_KEY
    return min(trained)


@torch.no_grad()
def warm_start_untrained_bns(model: nn.Module) -> int:
    """Copy affine parameters and running statistics into untrained entries; returns how many."""
    copied = 0
    for bank in (m for m in model.modules() if isinstance(m, TransitionalBN)):
        for key, bn in bank.bns.items():
            if _trained(bn):
                continue
            src = _source_key(bank, key)
            if src is None:
                continue
            s = bank.bns[src]
            bn.weight.copy_(s.weight)
            bn.bias.copy_(s.bias)
            bn.running_mean.copy_(s.running_mean)
            bn.running_var.copy_(s.running_var)
            copied += 1
    return copied
