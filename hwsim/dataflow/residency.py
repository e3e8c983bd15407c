"""Tensor policies: which ops a network's cost counts, and which tensors stay on chip between ops.

  layer_by_layer     today's model: only the layers are costed; every layer reads its input from DRAM and
                     writes its output back (the adds, pools and rescales between them are free)
  every_op           the element-wise ops (adds, pools, rescales) are costed too; every tensor still makes
                     a DRAM round trip
  on_chip_when_fits  as every_op, but a tensor stays on chip, without its DRAM write and re-reads, when it
                     fits the activation buffer from its producer until its last consumer has run beside
                     the other tensors kept there then (greedily, in production order)

The activation buffer is the on-chip buffer that holds the layers' inputs, at the share layer_cost gives
each operand it holds. A layer's tiles of streamed operands are not shrunk for the tensors kept beside them.
A kept tensor saves its reader every DRAM read of it that the config's DRAM traffic policy counts (a tiled
read's re-fetches too) and its producer the final write (dram_traffic.DramBits.final_out); a tiled layer
keeps its tiling and its exposed first load and last store.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..registry import Registry


def _kept_when_fits(sizes: Sequence, last_use: Sequence[int | None], capacity: int) -> list:
    """Per tensor (in production order; size in bits, an int or one entry per config): kept on chip or not.
    Tensor i is live from step i to step last_use[i] (None: read by no op, or the network output)."""
    occupied = np.zeros((len(sizes),) + np.shape(sizes[0]) if sizes else (0,), np.int64)
    kept = []
    for i, (size, last) in enumerate(zip(sizes, last_use)):
        if last is None:
            kept.append(False)
            continue
        fits = np.all(occupied[i:last + 1] + size <= capacity, axis=0)
        occupied[i:last + 1] += np.where(fits, size, 0)
        kept.append(fits)
    return kept


@dataclass(frozen=True)
class TensorPolicy:
    name: str
    costs_elementwise: bool
    kept: Callable[[Sequence, Sequence, int], list] | None   # (sizes, last_use, capacity) -> kept per tensor


TENSOR_POLICIES = Registry("tensor policy")
for _p in (TensorPolicy("layer_by_layer", False, None), TensorPolicy("every_op", True, None),
           TensorPolicy("on_chip_when_fits", True, _kept_when_fits)):
    TENSOR_POLICIES.register(_p.name, _p)
