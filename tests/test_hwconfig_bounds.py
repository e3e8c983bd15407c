"""Accelerator configs: numbers inside stated bounds, no buffer named like a cost-result entry."""
import copy
import math

import pytest
import yaml

from hwsim.errors import HwConfigError
from hwsim.hwconfig import parse_hw_config

BASE = yaml.safe_load(open("hw_configs/bitfusion.yaml"))


def _with(path, value):
    d = copy.deepcopy(BASE)
    t = d
    for k in path[:-1]:
        t = t[k]
    t[path[-1]] = value
    return d


@pytest.mark.parametrize("path,value,match", [
    (("pe", "accumulator_bits"), 65, "pe.accumulator_bits: must be <= 64"),
    (("pe", "partial_sum_bits"), 200, "pe.partial_sum_bits: must be <= 64"),
    (("memory", "dram", "energy", "read_pj"), 1e308, "read_pj: must be <= 1e\\+06"),
    (("energy", "mult_8b_pj"), math.inf, "energy.mult_8b_pj: expected a finite number"),
    (("clock_mhz",), math.nan, "clock_mhz: expected a finite number"),
    (("clock_mhz",), 0, "clock_mhz: must be >= 1e-06"),
    (("array", "rows"), 2**63, "array.rows: .* out of range"),
])
def test_numbers_bounded(path, value, match):
    with pytest.raises(HwConfigError, match=match):
        parse_hw_config(_with(path, value), "hw.yaml")


@pytest.mark.parametrize("name", ["compute", "dram", "mac", "pe_local"])
def test_buffer_names_cannot_collide_with_result_keys(name):
    d = copy.deepcopy(BASE)
    d["memory"]["buffers"][name] = d["memory"]["buffers"].pop("wbuf")
    with pytest.raises(HwConfigError, match=f"hw.yaml: memory.buffers.{name}: the name is reserved"):
        parse_hw_config(d, "hw.yaml")
