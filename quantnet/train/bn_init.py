"""Warm start of BN bank entries that have never been trained.

A stage that reaches new transitions would otherwise start their entries from mean 0, var 1 (statistics)
and gamma=1, beta=0 (affine). A statistics entry counts as untrained while its `num_batches_tracked`
is 0, an affine entry while its `uses` is 0. In a transitional bank an untrained entry copies the trained
entry with the same weight width w that is nearest on the other widths: statistics (prev[, prev_sc], a, w)
by a, then the producers' widths from the nearest back; affine (w, next) by next. Otherwise it copies the float entry. Trained entries are never touched.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..tbn import FLOAT_KEY, TransitionalBN, key_bits


def _stats_trained(bn: nn.BatchNorm2d) -> bool:
    return int(bn.num_batches_tracked) > 0


def _affine_trained(af: nn.Module) -> bool:
    return int(af.uses) > 0


def _source_key(entries: nn.ModuleDict, key: str, trained: Callable, transitional: bool, w_at: int,
                nearest_on: tuple[int, ...]) -> str | None:
    done = [k for k, m in entries.items() if k != key and trained(m)]
    if not done:
        return None
    if key != FLOAT_KEY and transitional:
        t = key_bits(key)
        on = [i for i in nearest_on if -len(t) <= i < len(t)]   # a 3-width statistics key has no position -4
        same_w = [k for k in done if k != FLOAT_KEY and key_bits(k)[w_at] == t[w_at]]
        if same_w:
            return min(same_w, key=lambda k: (tuple(abs(key_bits(k)[i] - t[i]) for i in on), k))
    if FLOAT_KEY in done:
        return FLOAT_KEY
    return min(done)


@torch.no_grad()
def warm_start_untrained_bns(model: nn.Module) -> int:
    """Copy running statistics and affine parameters into untrained entries; returns how many."""
    copied = 0
    for bank in (m for m in model.modules() if isinstance(m, TransitionalBN)):
        tr = bank.mode == "transitional"
        for entries, trained, w_at, nearest_on, fields in (
                (bank.stats, _stats_trained, -1, (-2, -3, -4), ("running_mean", "running_var")),
                (bank.affine, _affine_trained, 0, (1,), ("weight", "bias"))):
            for key, m in entries.items():
                if trained(m):
                    continue
                src = _source_key(entries, key, trained, tr, w_at, nearest_on)
                if src is None:
                    continue
                for f in fields:
                    getattr(m, f).copy_(getattr(entries[src], f))
                copied += 1
    return copied
