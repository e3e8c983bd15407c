"""Costs of the graph's element-wise ops (adds, pools, rescales), and a node's cost with DRAM traffic removed.

An element-wise op runs on the post-processing lanes at the array's output edge, one lane per array column
(an assumption: Bit Fusion and the TPU put such a unit after each column's accumulator), each lane taking
one input element per cycle. It reads its input tensors from and writes its output to the buffer that
holds the layers' outputs, and (unless they stay on chip) reads its inputs from DRAM once and writes its
output there once. Energies, Horowitz ISSCC 2014 (45 nm): an add (or a max's compare) at the config's
`add_32b_pj` x bits / 32 (0.1 pJ for 32 bits); a multiply (a requantisation) at the config's
`mult_8b_pj` x bits^2 / 64 (3.2 pJ for 32 x 32 bits; Horowitz: 3.1 pJ). A config without these actions
uses those published figures.
"""
from __future__ import annotations

import functools

import numpy as np

from ..hwconfig import HwConfig
from .graph import OpNode
from .mapping import ceil_div

ADD_32B_PJ, MULT_8B_PJ = 0.1, 0.2       # Horowitz ISSCC 2014, 45 nm: 32-bit add, 8-bit multiply

# per output element: (adds or compares, multiplies)
_WORK = {"add": lambda n: (n.window - 1, 0), "maxpool": lambda n: (n.window - 1, 0),
         "avgpool": lambda n: (n.window - 1, 1), "rescale": lambda n: (0, 1)}


def elementwise_cost(n: OpNode, hw: HwConfig, in_elems: list[int], in_bits: list, o) -> dict:
    """Cycles per level, traffic (bits) and energy (pJ) of one element-wise op reading tensors of
    `in_elems` elements at `in_bits` and writing `n.out_elems` at `o` bits (ints or int arrays)."""
    adds, mults = _WORK[n.kind](n)
    width = in_bits[0]
    for b in in_bits[1:]:
        width = np.maximum(width, b)
    per_input = n.window // len(n.inputs)     # elements of each input one output element reads
    read = sum(n.out_elems * per_input * b for b in in_bits)
    write = n.out_elems * o
    compute = ceil_div(n.out_elems * n.window, hw.array.cols)
    out_buf = hw.buffer_for("outputs")
    level_cycles, level_pj, traffic = {}, {}, {}
    for lvl in hw.buffers:
        r, w = (read, write) if lvl is out_buf else (0, 0)
        traffic[lvl.name] = r + w
        level_cycles[lvl.name] = ceil_div(r + w, lvl.bandwidth_bits_per_cycle)
        level_pj[lvl.name] = lvl.energy_pj(r, w)
    in_dram = [e * b for e, b in zip(in_elems, in_bits)]     # each input read once from DRAM
    dram_read = sum(in_dram)
    traffic["dram"] = dram_read + write
    level_cycles["dram"] = ceil_div(traffic["dram"], hw.dram.bandwidth_bits_per_cycle)
    level_pj["dram"] = hw.dram.energy_pj(dram_read, write)
    add_pj = hw.energy.get("add_32b_pj", ADD_32B_PJ) * width / 32
    mult_pj = hw.energy.get("mult_8b_pj", MULT_8B_PJ) * width * width / 64
    energy = {"ops": n.out_elems * (adds * add_pj + mults * mult_pj), **level_pj}
    c = finish_cost({"compute": compute, **level_cycles}, traffic, energy, hw)
    c["dram_saved_if_kept"] = {"inputs": tuple(in_dram), "output": write}   # as layer_cost reports it
    return c


def finish_cost(parts: dict, traffic: dict, energy: dict, hw: HwConfig) -> dict:
    """Cycles (the slowest level), what bounds them, leakage over that time and the energy total; every node's
    cost (layers in costmodel.layer_cost too) ends here. A level may be a plain int beside per-config arrays."""
    values = list(parts.values())
    cycles = functools.reduce(np.maximum, values)
    first = len(values) - 1                    # the first level at the maximum, as argmax picks it
    for k in range(len(values) - 2, -1, -1):
        first = np.where(values[k] == cycles, k, first)
    energy["leakage"] = hw.leakage_mw * 1e-3 * cycles / hw.clock_hz * 1e12
    return {"cycles": cycles, "cycles_by": parts, "bound_by": np.array(list(parts))[first],
            "traffic_bits": traffic, "energy_pj": sum(energy.values()), "energy_by": energy}


def without_dram(c: dict, hw: HwConfig, read_bits, write_bits) -> dict:
    """Node cost `c` less `read_bits` read from and `write_bits` written to DRAM (tensors kept on chip):
    DRAM traffic, its cycles and energy drop by exactly those bits; the node's cycles are recomputed."""
    traffic = {**c["traffic_bits"], "dram": c["traffic_bits"]["dram"] - read_bits - write_bits}
    parts = {**c["cycles_by"], "dram": ceil_div(traffic["dram"], hw.dram.bandwidth_bits_per_cycle)}
    energy = {k: v for k, v in c["energy_by"].items() if k != "leakage"}
    energy["dram"] = energy["dram"] - hw.dram.energy_pj(read_bits, write_bits)
    return finish_cost(parts, traffic, energy, hw)
