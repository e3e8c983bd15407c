"""Silicon area of one accelerator config by component, in mm^2, from the parts list of its `area:` section.

A PE is built from what its kind computes with at its widest operands (w_bits_max x a_bits_max):
  multipliers  n_digits(w_max, dw) * n_digits(a_max, da) / steps of (dw x da)-bit multipliers, i.e. the
               digit multipliers that work in one cycle (1 full one, 1 bit-plane AND row, 16 Bit Fusion bricks),
               once per input channel it reduces in a step (array.reduce_lanes of a tiled unit, else 1)
  adders       an adder tree over the multipliers and, when a step takes several cycles, a shift-add, at
               partial_sum_bits; plus one accumulator adder at accumulator_bits
  registers    each lane's weight and its activation (one digit of it in a PE that steps over activation
               digits: Stripes' units hold the weight and take an activation bit a cycle; Loom's are counted
               the same way, whole weights being the larger of its possible layouts), the partial sum and
               the accumulator
  scratchpads  the area section's pe_regfile_bits as flip-flops and pe_sram_bits as one SRAM macro
as the energy model prices its actions (multiplier area ~ w*a, adder area ~ width). Each buffer is one SRAM
macro, its area per bit interpolated in log2(size) between the listed macro sizes (the end figures
beyond them). DRAM is off chip and not counted.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import HwConfigError
from .hwconfig import AreaConfig, HwConfig, with_array
from .pe import get_pe_kind
from .pe.base import n_digits

UM2_PER_MM2 = 1e6
PE_PARTS = ("pe_multipliers", "pe_adders", "pe_registers", "pe_scratchpads")


def pe_parts_um2(hw: HwConfig, area: AreaConfig) -> dict[str, float]:
    """um^2 of one PE's multipliers, adders and registers, and its scratchpads where it has any."""
    pe, kind = hw.pe, get_pe_kind(hw.pe.kind)
    W, A = pe.w_bits_max, pe.a_bits_max
    da, dw = kind.digits(pe, W, A)
    steps = kind.steps(pe, W, A)
    lanes = hw.array.reduce_lanes or 1
    mults = lanes * n_digits(W, dw) * n_digits(A, da) / steps
    tree_adders = mults - 1 + (1 if steps > 1 else 0)
    # a PE that steps over activation digits holds the weight whole and takes one digit a cycle from the buffer
    a_held = da if steps > 1 else A
    out = {"pe_multipliers": mults * area.mult_8b_um2 * dw * da / 64.0,
           "pe_adders": (tree_adders * pe.partial_sum_bits + pe.accumulator_bits) * area.add_32b_um2 / 32.0,
           "pe_registers": (lanes * (W + a_held) + pe.partial_sum_bits + pe.accumulator_bits) * area.reg_um2_per_bit}
    if area.pe_regfile_bits or area.pe_sram_bits:
        out["pe_scratchpads"] = area.pe_regfile_bits * area.reg_um2_per_bit + \
            (sram_um2(area, area.pe_sram_bits) if area.pe_sram_bits else 0.0)
    return out


def sram_um2(area: AreaConfig, size_bits: int) -> float:
    """um^2 of one SRAM macro of `size_bits`: per-bit area interpolated in log2(size), held flat past the ends."""
    sizes = sorted(area.sram_um2_per_bit)
    per_bit = np.interp(math.log2(size_bits), [math.log2(s) for s in sizes], [area.sram_um2_per_bit[s] for s in sizes])
    return float(per_bit) * size_bits


def area_mm2(hw: HwConfig) -> dict[str, float]:
    """mm^2 by component (PE_PARTS for the whole array, then each buffer by name) and `total`."""
    area = hw.area
    if area is None:
        raise HwConfigError(f"{hw.source}: no `area:` section, so the design has no area; add one "
                            f"(see hw_configs/bitfusion.yaml)")
    n_pe = hw.array.rows * hw.array.cols
    out = {k: n_pe * v / UM2_PER_MM2 for k, v in pe_parts_um2(hw, area).items()}
    for b in hw.buffers:
        out[b.name] = sram_um2(area, b.size_bits) / UM2_PER_MM2
    out["total"] = sum(out.values())
    return out


def array_area_mm2(area: dict[str, float]) -> float:
    """The PE array's share of an area_mm2() result (buffers excluded)."""
    return sum(area.get(k, 0.0) for k in PE_PARTS)


def scaled_to_area(hw: HwConfig, target_mm2: float, dimension: str = "cols", match: str = "total") -> HwConfig:
    """`hw` with its array resized along `dimension` ('rows' or 'cols') so that its area (`match`: 'total',
    the buffers' sizes kept as they are, or 'array', the PE array alone) comes nearest `target_mm2`: within
    half a row's or column's area of it, as whole PEs are added or removed. A buffer banked along the resized
    dimension gains or loses bandwidth with its banks (hwconfig.with_array)."""
    if dimension not in ("rows", "cols") or match not in ("total", "array"):
        raise HwConfigError(f"{hw.source}: cannot scale along {dimension!r} to match {match!r} area; "
                            f"use rows/cols and total/array")
    a = area_mm2(hw)
    array = array_area_mm2(a)
    fixed = a["total"] - array if match == "total" else 0.0
    other = hw.array.cols if dimension == "rows" else hw.array.rows
    per_line = array / (hw.array.rows * hw.array.cols) * other      # one row's or column's PEs
    if target_mm2 - fixed < per_line / 2:
        raise HwConfigError(f"{hw.source}: a {match} area of {target_mm2:.3f} mm^2 leaves no room for one "
                            f"{dimension[:-1]} of PEs ({per_line:.4f} mm^2) beside {fixed:.3f} mm^2 of buffers")
    n = max(1, round((target_mm2 - fixed) / per_line))
    shape = {"rows": hw.array.rows, "cols": hw.array.cols, dimension: n}
    return with_array(hw, shape["rows"], shape["cols"])
