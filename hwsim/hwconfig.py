"""Accelerator configs (hw_configs/*.yaml) as validated frozen dataclasses.

Sizes are counted in BITS. A YAML size is a string with a unit ("64 KiB", "512 Kib", "16 B") or a
plain integer number of bits. Every error names the file, the key path and what is allowed; unknown
keys are rejected. Loading uses yaml.safe_load only (no code is ever executed).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from .errors import HwConfigError
from .typed_yaml import read_yaml


# Size units, in bits. Lower-case 'b' is a bit, upper-case 'B' a byte.
_UNITS = {"b": 1, "B": 8, "Kib": 1 << 10, "KiB": 8 << 10, "Mib": 1 << 20, "MiB": 8 << 20,
          "Gib": 1 << 30, "GiB": 8 << 30, "KB": 8 << 10, "MB": 8 << 20}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
OPERANDS = ("weights", "inputs", "outputs")


def parse_size_bits(value, where: str) -> int:
    """'64 KiB' -> 524288 bits; a bare integer is already bits."""
    if isinstance(value, bool):
        raise HwConfigError(f"{where}: expected a size such as '64 KiB' or an integer number of bits, got {value!r}")
    if isinstance(value, int):
        bits = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        num, unit = m.groups()
        if unit not in _UNITS:
            raise HwConfigError(f"{where}: unknown size unit {unit!r}; allowed: {', '.join(_UNITS)}")
        bits = float(num) * _UNITS[unit]
        if bits != int(bits):
            raise HwConfigError(f"{where}: {value!r} is not a whole number of bits")
        bits = int(bits)
    else:
        raise HwConfigError(f"{where}: expected a size such as '64 KiB' or an integer number of bits, got {value!r}")
    if bits <= 0:
        raise HwConfigError(f"{where}: size must be positive, got {value!r}")
    return bits


class _Reader:
    """Reads one mapping, remembering its key path; rejects unknown keys when done."""

    def __init__(self, data, where: str):
        if not isinstance(data, Mapping):
            raise HwConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        self.data, self.where, self.used = data, where, set()

    def at(self, key: str) -> str:
        return f"{self.where}.{key}"

    def raw(self, key: str, default: Any = ...):
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise HwConfigError(f"{self.at(key)}: missing (required)")
            return default
        return self.data[key]

    def int(self, key: str, default: Any = ..., minimum: int = 1) -> int:
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise HwConfigError(f"{self.at(key)}: expected an integer >= {minimum}, got {v!r}")
        if v < minimum:
            raise HwConfigError(f"{self.at(key)}: must be >= {minimum}, got {v}")
        return v

    def float(self, key: str, default: Any = ..., minimum: float = 0.0) -> float:
        v = self.raw(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise HwConfigError(f"{self.at(key)}: expected a number >= {minimum}, got {v!r}")
        if v < minimum:
            raise HwConfigError(f"{self.at(key)}: must be >= {minimum}, got {v}")
        return float(v)

    def str(self, key: str, allowed=None, default: Any = ...) -> str:
        v = self.raw(key, default)
        if not isinstance(v, str):
            raise HwConfigError(f"{self.at(key)}: expected a string, got {v!r}")
        if allowed is not None and v not in allowed:
            raise HwConfigError(f"{self.at(key)}: {v!r} is not allowed; allowed: {', '.join(sorted(allowed))}")
        return v

    def done(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise HwConfigError(f"{self.where}: unknown key(s) {extra}; allowed: {sorted(self.used)}")


@dataclass(frozen=True)
class PEConfig:
    kind: str                      # registered PE kind name (hwsim.pe)
    w_bits_max: int                # widest weight the PE accepts
    a_bits_max: int
    partial_sum_bits: int          # width of the adder tree / shift-add inside one PE step
    accumulator_bits: int          # width of the output accumulator (signed)
    zero_plane_skipping: bool      # data-dependent savings, where the kind supports them


@dataclass(frozen=True)
class ArrayConfig:
    rows: int
    cols: int
    dataflow: str                  # registered dataflow name (hwsim.dataflow.mapping)


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    holds: tuple[str, ...]         # subset of OPERANDS ("dram" holds all)
    size_bits: int | None          # None: unbounded (DRAM)
    bandwidth_bits_per_cycle: int
    read_pj: float                 # per access of `access_bits`
    write_pj: float
    access_bits: int

    def energy_pj(self, read_bits, write_bits):
        return (read_bits * self.read_pj + write_bits * self.write_pj) / self.access_bits


@dataclass(frozen=True)
class HwConfig:
    name: str
    source: str
    clock_hz: float
    pe: PEConfig
    array: ArrayConfig
    dram: MemoryLevel
    buffers: tuple[MemoryLevel, ...]   # on-chip levels; each operand is held by exactly one
    energy: Mapping[str, float]        # per-action energies in pJ (names the PE kind requires)
    leakage_mw: float

    @property
    def levels(self) -> tuple[MemoryLevel, ...]:
        return (self.dram,) + self.buffers

    def buffer_for(self, operand: str) -> MemoryLevel:
        for b in self.buffers:
            if operand in b.holds:
                return b
        raise KeyError(operand)

    def describe(self) -> dict:
        """A plain dict of the resolved config (saved beside results)."""
        def conv(o):
            if hasattr(o, "__dataclass_fields__"):
                return {f.name: conv(getattr(o, f.name)) for f in fields(o)}
            if isinstance(o, (tuple, list)):
                return [conv(x) for x in o]
            if isinstance(o, Mapping):
                return {k: conv(v) for k, v in o.items()}
            return o
        return conv(self)


def _memory(data, where: str, name: str, is_dram: bool) -> MemoryLevel:
    r = _Reader(data, where)
    if is_dram:
        holds, size = OPERANDS, None
    else:
        h = r.raw("holds")
        if not isinstance(h, list) or not h or any(x not in OPERANDS for x in h) or len(set(h)) != len(h):
            raise HwConfigError(f"{r.at('holds')}: expected a non-empty list of distinct names from "
                                f"{list(OPERANDS)}, got {h!r}")
        holds, size = tuple(h), parse_size_bits(r.raw("size"), r.at("size"))
    bw = r.int("bandwidth_bits_per_cycle")
    e = _Reader(r.raw("energy"), r.at("energy"))
    level = MemoryLevel(name, holds, size, bw, e.float("read_pj"), e.float("write_pj"), e.int("access_bits"))
    e.done()
    r.done()
    return level


def parse_hw_config(data, source: str = "<dict>") -> HwConfig:
    from .dataflow.mapping import DATAFLOWS   # registries; imported here to avoid an import cycle
    from .pe import PE_KINDS, get_pe_kind

    r = _Reader(data, source)
    name = r.str("name")
    clock_hz = r.float("clock_mhz", minimum=1e-6) * 1e6

    p = _Reader(r.raw("pe"), r.at("pe"))
    kind = p.str("kind", allowed=set(PE_KINDS))
    skip = p.raw("zero_plane_skipping", False)
    if not isinstance(skip, bool):
        raise HwConfigError(f"{p.at('zero_plane_skipping')}: expected true or false, got {skip!r}")
    pe = PEConfig(kind, p.int("w_bits_max"), p.int("a_bits_max"), p.int("partial_sum_bits"),
                  p.int("accumulator_bits"), skip)
    p.done()
    get_pe_kind(kind).check_config(pe, p.where)

    a = _Reader(r.raw("array"), r.at("array"))
    array = ArrayConfig(a.int("rows"), a.int("cols"), a.str("dataflow", allowed=set(DATAFLOWS)))
    a.done()

    m = _Reader(r.raw("memory"), r.at("memory"))
    dram = _memory(m.raw("dram"), m.at("dram"), "dram", True)
    bufs_raw = m.raw("buffers")
    if not isinstance(bufs_raw, Mapping) or not bufs_raw:
        raise HwConfigError(f"{m.at('buffers')}: expected a mapping of buffer name -> buffer, got {bufs_raw!r}")
    buffers = tuple(_memory(v, f"{m.at('buffers')}.{k}", str(k), False) for k, v in bufs_raw.items())
    m.done()
    for op in OPERANDS:
        owners = [b.name for b in buffers if op in b.holds]
        if len(owners) != 1:
            raise HwConfigError(f"{m.at('buffers')}: operand {op!r} must be held by exactly one buffer, "
                                f"found {owners or 'none'}")

    e = _Reader(r.raw("energy"), r.at("energy"))
    actions = get_pe_kind(kind).energy_actions
    missing = [act for act in actions if act not in e.data]
    if missing:
        raise HwConfigError(f"{e.where}: missing energy for action(s) {missing} required by PE kind {kind!r}")
    energy = {act: e.float(act) for act in actions}
    e.done()
    leak = r.float("leakage_mw", 0.0)
    r.done()
    return HwConfig(name, source, clock_hz, pe, array, dram, buffers, dict(energy), leak)


def load_hw_config(path: str | Path) -> HwConfig:
    return parse_hw_config(read_yaml(path, HwConfigError, "hardware config"), str(path))
