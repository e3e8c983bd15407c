"""DRAM traffic policies (the `memory.dram_traffic` of a hardware config): how many bits a layer moves between
DRAM and its buffers.

  ideal_reuse  every tensor once, unless neither weights nor inputs fit their buffer share: then the cheapest
               of re-reading the inputs per chunk of weights or per chunk of output channels whose partial
               sums fit the output share (the weights stream past once), or the weights per input chunk;
               no partial sum ever leaves the chip
  tiled        tiles and a loop order chosen under each buffer's capacity, re-fetches and partial-sum
               spills counted (tiling.py); final outputs leave once, at the layer's output width
  tiled_wide_outputs
               as tiled, with outputs handled as the Bit Fusion artifact's simulator does (bitfusion/src/
               optimizer/optimizer.py, get_stats_fast: oprec = 32): every visit of an output block reads it
               from DRAM and writes it back at the accumulator width, the final values included

A policy answers with the bits each operand moves, the cycles no compute overlaps, and the bits of the
final output write among those written (what a tensor kept on chip saves its producer); every value is an
int or an int array (one entry per config).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import Registry
from .mapping import ceil_div
from .tiling import choose_tiling

OPERANDS = ("weights", "inputs", "outputs")


@dataclass(frozen=True)
class DramBits:
    weights: object        # bits read into the weight buffer
    inputs: object         # bits read into the input buffer
    outputs_in: object     # partial-sum bits read back
    outputs_out: object    # bits written (partial sums and final outputs)
    exposed: object = 0    # cycles the array waits on DRAM beyond what overlaps
    final_out: object = 0  # of outputs_out, the bits of the final values' write


def _share(hw, op: str) -> int:
    buf = hw.buffer_for(op)
    return buf.size_bits // len(buf.holds)


def ideal_reuse(s, hw, org, compute, onchip, w, a, o) -> DramBits:
    wb, ib, ob = s.weight_elems * w, s.input_elems * a, s.output_elems * o
    n_w, n_i = ceil_div(wb, _share(hw, "weights")), ceil_div(ib, _share(hw, "inputs"))
    # Output channels in chunks whose partial sums fit the output share: each chunk's weights stream past once
    # and the inputs are read once per chunk (as many times as the weights' own chunks would need, or fewer).
    n_o = ceil_div(s.output_elems * hw.pe.accumulator_bits, _share(hw, "outputs"))
    inputs_reread = np.minimum(n_w, n_o)
    fits = np.logical_or(n_w == 1, n_i == 1)
    weights_once = np.asarray(wb + ib * inputs_reread <= ib + wb * n_i)   # else inputs once, weights per input chunk
    dram_w = np.where(np.logical_or(fits, weights_once), wb, wb * n_i)
    dram_i = np.where(np.logical_or(fits, np.logical_not(weights_once)), ib, ib * inputs_reread)
    return DramBits(dram_w, dram_i, 0, ob, 0, ob)


@dataclass(frozen=True)
class Tiled:
    """The tiling search of tiling.py, per distinct (w, a, o, compute, on-chip traffic) among the configs;
    groups run one after another. `onchip`: each buffer's own traffic (bits), which its fills add to."""
    wide_outputs: bool

    def __call__(self, s, hw, org, compute, onchip, w, a, o) -> DramBits:
        caps = tuple(_share(hw, op) // 2 for op in OPERANDS)       # double-buffered halves
        levels = tuple((tuple(op in lvl.holds for op in OPERANDS), lvl.bandwidth_bits_per_cycle) for lvl in hw.buffers)
        im2col, acc = org.reads_im2col(s), hw.pe.accumulator_bits
        bw = hw.dram.bandwidth_bits_per_cycle
        cols = np.broadcast_arrays(*(np.asarray(v, np.int64) for v in (w, a, o, compute, *onchip)))
        keys, where = np.unique(np.stack([c.ravel() for c in cols]), axis=1, return_inverse=True)
        per_group = np.array([_fields(choose_tiling(s, caps, bw, int(k[3]) // s.groups, im2col, int(k[0]), int(k[1]),
                                                    acc if self.wide_outputs else int(k[2]), acc, self.wide_outputs,
                                                    levels, tuple(int(v) // s.groups for v in k[4:])))
                              for k in keys.T], np.int64)
        per_group[:, :4] *= s.groups
        out = per_group[where.ravel()].reshape(cols[0].shape + (5,))
        final = s.output_elems * (acc if self.wide_outputs else cols[2])   # tiling.py: o_el x its write width
        if out.ndim == 1:
            return DramBits(*(int(v) for v in out), int(final))
        return DramBits(*(out[..., i] for i in range(5)), final)


def _fields(t) -> tuple:
    return t.weights, t.inputs, t.outputs_in, t.outputs_out, t.exposed


DRAM_TRAFFIC = Registry("dram traffic policy")
for _name, _fn in (("ideal_reuse", ideal_reuse), ("tiled", Tiled(False)), ("tiled_wide_outputs", Tiled(True))):
    DRAM_TRAFFIC.register(_name, _fn)

DramTrafficPolicy = Callable[..., DramBits]
