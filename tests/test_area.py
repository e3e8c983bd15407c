"""Area by component (hwsim/area.py) against figures worked out by hand from the shipped parts lists."""
from __future__ import annotations

import dataclasses

import pytest
import yaml
from pathlib import Path

from hwsim.area import area_mm2, scaled_to_area
from hwsim.hwconfig import HwConfigError, load_hw_config, parse_hw_config, with_array


def bitfusion_data():
    return yaml.safe_load(Path("hw_configs/bitfusion.yaml").read_text())


def test_bitfusion_area_by_hand():
    a = area_mm2(load_hw_config("hw_configs/bitfusion.yaml"))
    # 512 fusion units, each 16 2x2 bricks (282 * 4/64 um^2), a 15-adder tree at 16 bits plus a 32-bit
    # accumulator adder (137 um^2 per 32 bits), 8 + 8 + 16 + 32 flip-flops of 4.522 um^2
    assert a["pe_multipliers"] == pytest.approx(512 * 16 * 282 * 4 / 64 / 1e6)
    assert a["pe_adders"] == pytest.approx(512 * (15 * 16 + 32) * 137 / 32 / 1e6)
    assert a["pe_registers"] == pytest.approx(512 * 64 * 4.522 / 1e6)
    assert a["wbuf"] == pytest.approx(64 * 1024 * 8 * 0.629 / 1e6)                       # a listed size
    assert a["ibuf"] == pytest.approx(32 * 1024 * 8 * (0.865 + (0.629 - 0.865) * 2 / 3) / 1e6)  # 2/3 of the way up
    assert a["obuf"] == pytest.approx(16 * 1024 * 8 * (0.865 + (0.629 - 0.865) * 1 / 3) / 1e6)
    assert a["total"] == pytest.approx(sum(v for k, v in a.items() if k != "total"))


def test_tpu_pe_is_one_full_multiplier():
    a = area_mm2(load_hw_config("hw_configs/tpu_int8.yaml"))
    n = 128 * 128
    assert a["pe_multipliers"] == pytest.approx(n * 282 / 1e6)
    assert a["pe_adders"] == pytest.approx(n * 32 * 137 / 32 / 1e6)      # no tree: the accumulator adder only
    assert a["unified_buffer"] == pytest.approx(8 * 2**23 * 0.494 / 1e6)   # past the largest size: its figure


def test_swept_parameters_move_area():
    d = bitfusion_data()
    d["array"]["rows"] = 32
    d["memory"]["buffers"]["wbuf"]["size"] = "1 KiB"
    d["pe"]["accumulator_bits"] = 48
    base, big = area_mm2(load_hw_config("hw_configs/bitfusion.yaml")), area_mm2(parse_hw_config(d, "x.yaml"))
    assert big["pe_multipliers"] == pytest.approx(2 * base["pe_multipliers"])
    assert big["pe_registers"] == pytest.approx(1024 * (8 + 8 + 16 + 48) * 4.522 / 1e6)
    assert big["wbuf"] == pytest.approx(8192 * 0.865 / 1e6)              # below the smallest size: its figure


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.update(sram_um2_per_bit={}), r"x\.yaml: area\.sram_um2_per_bit: give the area per bit"),
    (lambda a: a.update(flops_um2=3), r"x\.yaml: area\.flops_um2: unknown key"),
    (lambda a: a.update(mult_8b_um2=-1), r"x\.yaml: area\.mult_8b_um2: must be >= 0"),
    (lambda a: a["sram_um2_per_bit"].update({"4 KiBytes": 1.0}), r"area\.sram_um2_per_bit: unknown size unit"),
    (lambda a: a.pop("reg_um2_per_bit"), r"x\.yaml: area\.reg_um2_per_bit: missing"),
])
def test_bad_area_sections_are_named(edit, message):
    d = bitfusion_data()
    edit(d["area"])
    with pytest.raises(HwConfigError, match=message):
        parse_hw_config(d, "x.yaml")


def test_config_without_area_says_so():
    hw = load_hw_config("hw_configs/bitfusion.yaml")
    with pytest.raises(HwConfigError, match=r"bitfusion\.yaml: no `area:` section"):
        area_mm2(dataclasses.replace(hw, area=None))


def test_eyeriss_pe_carries_its_scratchpads():
    a = area_mm2(load_hw_config("hw_configs/eyeriss.yaml"))
    n = 12 * 14
    # ifmap 12 x 16b + psum 24 x 16b as flip-flops, filter 224 x 16b as SRAM at the 8 KiB per-bit figure
    assert a["pe_scratchpads"] == pytest.approx(n * ((12 + 24) * 16 * 4.522 + 224 * 16 * 0.865) / 1e6)
    assert a["pe_multipliers"] == pytest.approx(n * 282 * 4 / 1e6)            # one 16 x 16 multiplier
    assert "pe_scratchpads" not in area_mm2(load_hw_config("hw_configs/bitfusion.yaml"))


def test_tiled_unit_has_one_multiplier_per_reduced_channel():
    a = area_mm2(load_hw_config("hw_configs/dadiannao.yaml"))
    # 256 units x 16 lanes of 16 x 16 multipliers (16 tiles x 16 x 16 in DaDianNao); a 15-adder tree at 32
    # bits plus the 32-bit accumulator; 16 x (16 + 16) operand bits, 32 + 32 psum and accumulator bits
    assert a["pe_multipliers"] == pytest.approx(256 * 16 * 282 * 4 / 1e6)
    assert a["pe_adders"] == pytest.approx(256 * 16 * 137 / 1e6)
    assert a["pe_registers"] == pytest.approx(256 * (16 * 32 + 64) * 4.522 / 1e6)


@pytest.mark.parametrize("path, cols, psum", [("hw_configs/stripes.yaml", 256, 24), ("hw_configs/loom.yaml", 128, 16)])
def test_a_bit_serial_unit_registers_one_activation_bit_per_lane(path, cols, psum):
    a = area_mm2(load_hw_config(path))
    # Stripes' units (and Loom's, counted alike) hold each lane's 16-bit weight and take one bit of its
    # activation a cycle: 16 x (16 + 1) operand bits, then the partial sum and the 32-bit accumulator, in each
    # of 16 x cols units
    assert a["pe_registers"] == pytest.approx(16 * cols * (16 * 17 + psum + 32) * 4.522 / 1e6)


def test_scaled_to_area_by_hand():
    hw = load_hw_config("hw_configs/bitfusion.yaml")
    a = area_mm2(hw)
    array = a["pe_multipliers"] + a["pe_adders"] + a["pe_registers"]
    # one more array's worth of area: twice the columns, buffers unchanged
    assert scaled_to_area(hw, a["total"] + array, "cols").array.cols == 64
    # the array alone matched: half the array's area is half the rows
    assert scaled_to_area(hw, array / 2, "rows", match="array").array.rows == 8
    # between whole columns the nearest is taken, within half a column's area (16 units) of the target
    column = array / 32
    target = a["total"] + 10.3 * column
    s = scaled_to_area(hw, target, "cols")
    assert s.array.cols == 42 and s.array.rows == 16
    assert abs(area_mm2(s)["total"] - target) <= column / 2


def mixed_banking():
    """bitfusion.yaml with its input buffer made one bank of 512 bits per cycle; the weight buffer stays banked
    per fusion unit (32 bits a bank), the output buffer per column (64 bits a bank)."""
    d = bitfusion_data()
    ibuf = d["memory"]["buffers"]["ibuf"]
    del ibuf["banked_along"], ibuf["bank_bits_per_cycle"]
    ibuf["bandwidth_bits_per_cycle"] = 512
    return parse_hw_config(d, "mixed.yaml")


def bandwidths(hw):
    return {b.name: b.bandwidth_bits_per_cycle for b in hw.buffers}


def test_a_resize_scales_banked_buffers_and_leaves_an_unbanked_one():
    hw = mixed_banking()
    # 16 x 32: wbuf 32 bits x 512 units, obuf 64 bits x 32 columns
    assert bandwidths(hw) == {"wbuf": 16384, "ibuf": 512, "obuf": 2048}
    a = area_mm2(hw)
    array = a["pe_multipliers"] + a["pe_adders"] + a["pe_registers"]
    wide = scaled_to_area(hw, a["total"] + array, "cols")                 # 16 x 64
    assert bandwidths(wide) == {"wbuf": 32 * 16 * 64, "ibuf": 512, "obuf": 64 * 64}
    short = scaled_to_area(hw, array / 2, "rows", match="array")           # 8 x 32: obuf is banked by column
    assert bandwidths(short) == {"wbuf": 32 * 8 * 32, "ibuf": 512, "obuf": 2048}
    assert {b.name: b.size_bits for b in wide.buffers} == {b.name: b.size_bits for b in hw.buffers}


def test_a_swept_array_shape_carries_the_banked_bandwidth():
    d = bitfusion_data()
    d["array"]["rows"], d["array"]["cols"] = 8, 100
    # the shipped banking: wbuf per unit (32 bits), ibuf per row (32 bits), obuf per column (64 bits)
    assert bandwidths(parse_hw_config(d, "x.yaml")) == {"wbuf": 32 * 800, "ibuf": 32 * 8, "obuf": 64 * 100}
    assert bandwidths(with_array(mixed_banking(), 8, 100)) == {"wbuf": 32 * 800, "ibuf": 512, "obuf": 64 * 100}
    d["memory"]["buffers"]["obuf"]["banked_along"] = "cols"               # a bare name: a list of one
    assert bandwidths(parse_hw_config(d, "x.yaml"))["obuf"] == 64 * 100


def test_scaled_to_area_refuses_a_target_below_the_buffers():
    hw = load_hw_config("hw_configs/bitfusion.yaml")
    with pytest.raises(HwConfigError, match=r"bitfusion\.yaml: a total area of 0\.500 mm\^2 leaves no room for one col"):
        scaled_to_area(hw, 0.5, "cols")
