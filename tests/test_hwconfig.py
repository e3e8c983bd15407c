"""Hardware config schema: the shipped configs load; malformed ones are rejected naming file, key path and what is allowed."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hwsim.hwconfig import HwConfigError, load_hw_config, parse_hw_config, parse_size_bits

SHIPPED = sorted(Path("hw_configs").glob("*.yaml"))


def test_shipped_configs_load_and_count_bits():
    assert len(SHIPPED) >= 4
    by = {load_hw_config(p).name: load_hw_config(p) for p in SHIPPED}
    bf = by["bitfusion"]
    assert (bf.array.rows, bf.array.cols, bf.clock_hz) == (16, 32, 500e6)
    assert {b.name: b.size_bits for b in bf.buffers} == {"wbuf": 64 * 1024 * 8, "ibuf": 32 * 1024 * 8,
                                                        "obuf": 16 * 1024 * 8}
    assert {h.pe.kind for h in by.values()} >= {"bit_parallel", "bit_serial_act", "bit_serial_both", "fused_bricks"}


def test_size_units():
    assert parse_size_bits("64 KiB", "x") == 524288
    assert parse_size_bits("512 Kib", "x") == 524288
    assert parse_size_bits("3 B", "x") == 24
    assert parse_size_bits(100, "x") == 100


def raw():
    return yaml.safe_load(Path("hw_configs/bitfusion.yaml").read_text())


def edit(path, value):
    d = raw()
    node = d
    for k in path[:-1]:
        node = node[k]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return d


@pytest.mark.parametrize("path, value, message", [
    (("array", "rows"), "sixteen", r"f\.yaml: array\.rows: expected an integer"),
    (("array", "rows"), -4, r"array\.rows: must be >= 1"),
    (("memory", "buffers", "ibuf", "size"), "-32 KiB", r"buffers\.ibuf\.size: expected a size"),
    (("memory", "buffers", "ibuf", "size"), "32 KB/s", r"buffers\.ibuf\.size: expected a size"),
    (("memory", "buffers", "ibuf", "size"), "32 KiBytes", r"unknown size unit 'KiBytes'; allowed: b, B, Kib"),
    (("memory", "buffers", "ibuf", "size"), 0, r"f\.yaml: memory\.buffers\.ibuf\.size: must be >= 1, got 0"),
    (("memory", "buffers", "ibuf", "size"), "0.5 b", r"ibuf\.size: '0\.5 b' is not a whole number of bits"),
    (("pe", "kind"), "quantum", r"f\.yaml: pe\.kind: 'quantum' is not one of \['bit_parallel'"),
    (("array", "dataflow"), "rs", r"array\.dataflow: 'rs' is not one of \['is', 'os', 'ws'\]"),
    (("energy", "mult_8b_pj"), None, r"f\.yaml: energy: missing energy for action\(s\) \['mult_8b_pj'\]"),
    (("energy", "add_32b_pj"), "cheap", r"f\.yaml: energy\.add_32b_pj: expected a finite number"),
    (("energy", "mult_4b_pj"), 0.05, r"f\.yaml: energy: unknown key\(s\) \['mult_4b_pj'\]; allowed: \['add_32b_pj'"),
    (("array", "colour"), "red", r"f\.yaml: array\.colour: unknown key; allowed here: \['cols', 'dataflow', 'organisation', "
                            r"'reduce_lanes', 'rows'\]"),
    (("array", "organisation"), "mesh", r"array\.organisation: 'mesh' is not one of \['bitfusion', 'row_stationary'"),
    (("array", "dataflow"), "ws", r"f\.yaml: array\.dataflow: organisation 'bitfusion' does not use it; remove it"),
    (("array", "organisation"), "systolic", r"f\.yaml: array\.dataflow: organisation 'systolic' needs it"),
    (("array", "organisation"), "tiled", r"f\.yaml: array\.reduce_lanes: organisation 'tiled' needs it"),
    (("clock_mhz",), None, r"f\.yaml: clock_mhz: missing"),
    (("memory", "buffers", "obuf", "holds"), ["outputs", "weights"], r"operand 'weights' must be held by exactly one"),
    (("memory", "buffers", "obuf", "holds"), ["psums"], r"obuf\.holds\[0\]: 'psums' is not one of \['weights'"),
    (("memory", "buffers", "obuf", "holds"), [], r"obuf\.holds: expected a non-empty list of distinct names"),
    (("memory", "buffers", "obuf", "holds"), ["outputs", "outputs"], r"obuf\.holds: expected a non-empty list"),
    (("memory", "buffers"), {}, r"memory\.buffers: operand 'weights' must be held by exactly one buffer, found none"),
    (("pe", "accumulator_bits"), 8, r"accumulator_bits \(8\) must be >= partial_sum_bits"),
    (("pe", "zero_plane_skipping"), True, r"'fused_bricks' has no zero-plane skipping"),
    (("pe", "zero_plane_skipping"), "yes", r"expected true or false"),
    (("pe", "w_bits_max"), 7, r"multiples of 2"),
    (("memory", "buffers", "obuf", "banked_along"), ["columns"],
     r"f\.yaml: memory\.buffers\.obuf\.banked_along\[0\]: 'columns' is not one of \['rows', 'cols'\]"),
    (("memory", "buffers", "obuf", "banked_along"), "pe", r"obuf\.banked_along\[0\]: 'pe' is not one of"),
    (("memory", "buffers", "obuf", "banked_along"), ["cols", "cols"],
     r"f\.yaml: memory\.buffers\.obuf\.banked_along: expected distinct names from \['rows', 'cols'\], got \['cols', 'cols'\]"),
    (("memory", "buffers", "obuf", "banked_along"), None,
     r"f\.yaml: memory\.buffers\.obuf: an unbanked buffer gives bandwidth_bits_per_cycle .*needs banked_along"),
    (("memory", "buffers", "obuf", "bank_bits_per_cycle"), None,
     r"f\.yaml: memory\.buffers\.obuf: banked_along \['cols'\] gives the bandwidth per bank: set bank_bits_per_cycle"),
    (("memory", "buffers", "wbuf", "bandwidth_bits_per_cycle"), 1024,
     r"memory\.buffers\.wbuf: banked_along \['rows', 'cols'\] gives the bandwidth per bank"),
    (("memory", "buffers", "obuf", "bank_bits_per_cycle"), 0, r"obuf\.bank_bits_per_cycle: must be >= 1, got 0"),
])
def test_malformed_configs_rejected(path, value, message):
    with pytest.raises(HwConfigError, match=message):
        parse_hw_config(edit(path, value), "f.yaml")


def test_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(HwConfigError, match="expected a mapping"):
        parse_hw_config([1, 2], "f.yaml")
    with pytest.raises(HwConfigError, match="does not exist"):
        load_hw_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(HwConfigError, match="not valid YAML"):
        load_hw_config(bad)


def test_configs_are_frozen():
    cfg = load_hw_config(SHIPPED[0])
    with pytest.raises(Exception):
        cfg.array.rows = 3  # type: ignore[misc]
    assert copy.deepcopy(cfg.describe())["array"]["rows"] == cfg.array.rows
