"""Area by component (hwsim/area.py) against figures worked out by hand from the shipped parts lists."""
from __future__ import annotations

import dataclasses

import pytest
import yaml
from pathlib import Path

from hwsim.area import area_mm2
from hwsim.hwconfig import HwConfigError, load_hw_config, parse_hw_config


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
