"""Accelerator configs (hw_configs/*.yaml) as validated frozen dataclasses.

The file's schema is the signatures of the dataclasses below, read by the shared loader
(hwsim/typed_yaml.py): `HwConfigFile` mirrors the YAML, and `parse_hw_config` checks what spans
several keys and resolves it into the `HwConfig` the simulator and cost model read.
Sizes are counted in BITS. A YAML size is a string with a unit ("64 KiB", "512 Kib", "16 B") or a
plain integer number of bits. A buffer gives its bandwidth whole (`bandwidth_bits_per_cycle`), or is
banked along array dimensions (`banked_along`: [rows], [cols] or [rows, cols], a bank per row, column
or PE) at `bank_bits_per_cycle` a bank: its bandwidth then follows the array's shape wherever the array
is resized (with_array, a swept array.rows), while its size stays the whole buffer's, split among the
banks. Every error names the file, the key path and what is allowed; unknown keys are rejected.
Loading goes through hwsim.documents (a bounded SafeLoader: no code is ever executed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Annotated, Literal, Mapping, get_args

from . import typed_yaml
from .dataflow.dram_traffic import DRAM_TRAFFIC
from .dataflow.mapping import DATAFLOWS
from .dataflow.organisations import ORGANISATIONS, get_organisation
from .dataflow.residency import TENSOR_POLICIES
from .errors import HwConfigError
from .pe import PE_KINDS, get_pe_kind
from .typed_yaml import AtLeast, AtMost, InUnits, child

# Size units, in bits. Lower-case 'b' is a bit, upper-case 'B' a byte.
_UNITS = {"b": 1, "B": 8, "Kib": 1 << 10, "KiB": 8 << 10, "Mib": 1 << 20, "MiB": 8 << 20,
          "Gib": 1 << 30, "GiB": 8 << 30, "KB": 8 << 10, "MB": 8 << 20}
SizeBits = Annotated[int, InUnits(_UNITS, "size", "64 KiB", "bits"), AtLeast(1)]
Count = Annotated[int, AtLeast(1)]
# pJ per access or action: 1 uJ is far above any memory or MAC; bounding it keeps every total finite.
Picojoules = Annotated[float, AtLeast(0.0), AtMost(1e6)]
# The simulator adds partial sums and accumulators in int64, so no modelled width may exceed 64 bits.
Width = Annotated[int, AtLeast(1), AtMost(64)]
# um^2 of one part: a whole 45 nm die is ~1e8 um^2, so 1e9 bounds every part with room to spare.
SquareMicrons = Annotated[float, AtLeast(0.0), AtMost(1e9)]
# Names the cost and area results use for their own entries beside each buffer's (costmodel.py, area.py).
RESERVED_LEVEL_NAMES = ("compute", "dram", "mac", "pe_local", "pe_multipliers", "pe_adders", "pe_registers",
                        "pe_scratchpads", "total")
Operand = Literal["weights", "inputs", "outputs"]
OPERANDS: tuple[str, ...] = get_args(Operand)
ArrayDimension = Literal["rows", "cols"]
# Built from the registries, so registering a PE kind or dataflow is the one step that makes it loadable.
PEKindName = Literal[tuple(sorted(PE_KINDS))]
DataflowName = Literal[tuple(sorted(DATAFLOWS))]
OrganisationName = Literal[tuple(sorted(ORGANISATIONS))]
TensorPolicyName = Literal[tuple(sorted(TENSOR_POLICIES))]
DramTrafficName = Literal[tuple(sorted(DRAM_TRAFFIC))]


class _DistinctOperands:
    """The rule for a buffer's `holds`: at least one operand, none repeated."""

    def problem(self, items) -> str | None:
        if items and len(set(items)) == len(items):
            return None
        return f"expected a non-empty list of distinct names from {list(OPERANDS)}, got {list(items)}"


class _Dimensions:
    """The rule for a buffer's `banked_along`: array dimensions, none repeated; a bare name is a list of one."""

    def convert(self, value, where: str, error):
        return [value] if isinstance(value, str) else value

    def problem(self, items) -> str | None:
        if len(set(items)) == len(items):
            return None
        return f"expected distinct names from {list(get_args(ArrayDimension))}, got {list(items)}"


def parse_size_bits(value, where: str) -> int:
    """'64 KiB' -> 524288 bits; a bare integer is already bits."""
    return typed_yaml.coerce(SizeBits, value, where, HwConfigError)


@dataclass(frozen=True)
class PEConfig:
    kind: PEKindName               # registered PE kind name (hwsim.pe)
    w_bits_max: Width              # widest weight the PE accepts
    a_bits_max: Width
    partial_sum_bits: Width        # width of the adder tree / shift-add inside one PE step
    accumulator_bits: Width        # width of the output accumulator (signed)
    zero_plane_skipping: bool = False  # data-dependent savings, where the kind supports them


@dataclass(frozen=True)
class ArrayConfig:
    rows: Count
    cols: Count
    organisation: OrganisationName = "systolic"   # registered name (hwsim.dataflow.organisations)
    dataflow: DataflowName | None = None          # systolic only: registered name (hwsim.dataflow.mapping)
    reduce_lanes: Count | None = None             # tiled only: input channels a unit reduces per step

    @property
    def layout(self) -> str:
        """The organisation, with its dataflow where it has one: 'systolic ws', 'bitfusion'."""
        return self.organisation + (f" {self.dataflow}" if self.dataflow else "")


@dataclass(frozen=True)
class AccessEnergy:
    read_pj: Picojoules            # per access of `access_bits`
    write_pj: Picojoules
    access_bits: Count


@dataclass(frozen=True)
class DramFile:
    bandwidth_bits_per_cycle: Count
    energy: AccessEnergy


@dataclass(frozen=True)
class BufferFile:
    holds: Annotated[tuple[Operand, ...], _DistinctOperands()]
    size: SizeBits                     # the whole buffer's, banked or not
    energy: AccessEnergy
    bandwidth_bits_per_cycle: Count | None = None     # one bank: the buffer's bandwidth
    banked_along: Annotated[tuple[ArrayDimension, ...], _Dimensions()] = ()   # a bank per row, column or PE
    bank_bits_per_cycle: Count | None = None          # banked: each bank's bandwidth


@dataclass(frozen=True)
class MemoryFile:
    dram: DramFile
    buffers: dict[str, BufferFile]     # on-chip levels by name; each operand is held by exactly one
    dram_traffic: DramTrafficName = "ideal_reuse"   # hwsim/dataflow/dram_traffic.py


@dataclass(frozen=True)
class AreaConfig:
    """Silicon area of the parts the array is built from, at one process node (hwsim/area.py sums them)."""
    node_nm: Annotated[int, AtLeast(1)]
    mult_8b_um2: SquareMicrons       # an 8x8-bit integer multiplier; a w x a one scales by w*a/64
    add_32b_um2: SquareMicrons       # a 32-bit integer adder; a b-bit one scales by b/32
    reg_um2_per_bit: SquareMicrons   # one flip-flop
    sram_um2_per_bit: dict[SizeBits, SquareMicrons]   # an SRAM macro's area per bit by macro size
    # A PE's own storage beyond its operand registers (Eyeriss's scratchpads): flip-flop bits and bits of
    # one small SRAM macro per PE. Area only: their accesses are priced by energy.reg_pj_per_bit.
    pe_regfile_bits: Annotated[int, AtLeast(0)] = 0
    pe_sram_bits: Annotated[int, AtLeast(0)] = 0


@dataclass(frozen=True)
class HwConfigFile:
    """One hardware config file, key for key."""
    name: str
    clock_mhz: Annotated[float, AtLeast(1e-6), AtMost(1e6)]
    pe: PEConfig
    array: ArrayConfig
    memory: MemoryFile
    energy: dict[str, Picojoules]      # per-action energies in pJ: exactly the actions the PE kind names
    leakage_mw: Annotated[float, AtLeast(0.0), AtMost(1e9)] = 0.0
    area: AreaConfig | None = None     # optional: without it a design has no area figure
    tensor_policy: TensorPolicyName = "layer_by_layer"   # hwsim/dataflow/residency.py


@dataclass(frozen=True)
class MemoryLevel:
    name: str
    holds: tuple[str, ...]         # subset of OPERANDS ("dram" holds all)
    size_bits: int | None          # None: unbounded (DRAM)
    bandwidth_bits_per_cycle: int
    read_pj: float                 # per access of `access_bits`
    write_pj: float
    access_bits: int
    banked_along: tuple[str, ...] = ()    # array dimensions with a bank per row / column (both: per PE)
    bank_bits_per_cycle: int | None = None   # banked: each bank's; bandwidth_bits_per_cycle is their sum

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
    area: AreaConfig | None = None
    tensor_policy: str = "layer_by_layer"   # which ops are costed and which tensors stay on chip (residency.py)
    dram_traffic: str = "ideal_reuse"       # how a layer's DRAM bits are counted (dram_traffic.py)

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


def banks(array: ArrayConfig, along: tuple[str, ...]) -> int:
    """Banks of a buffer banked `along` these array dimensions: one per row, per column, or per PE."""
    return math.prod(getattr(array, d) for d in along)


def _level(name: str, level: DramFile | BufferFile, array: ArrayConfig) -> MemoryLevel:
    e = level.energy
    if isinstance(level, DramFile):
        return MemoryLevel(name, OPERANDS, None, level.bandwidth_bits_per_cycle, e.read_pj, e.write_pj, e.access_bits)
    bandwidth = level.bandwidth_bits_per_cycle or level.bank_bits_per_cycle * banks(array, level.banked_along)
    return MemoryLevel(name, level.holds, level.size, bandwidth, e.read_pj, e.write_pj, e.access_bits,
                       level.banked_along, level.bank_bits_per_cycle)


def _check_banking(name: str, b: BufferFile, where: str) -> None:
    """A buffer gives its bandwidth either whole or per bank, with the dimensions it is banked along."""
    if b.banked_along and (b.bank_bits_per_cycle is None or b.bandwidth_bits_per_cycle is not None):
        raise HwConfigError(f"{where}.{name}: banked_along {list(b.banked_along)} gives the bandwidth per bank: "
                            f"set bank_bits_per_cycle (each bank's bits per cycle) instead of bandwidth_bits_per_cycle")
    if not b.banked_along and (b.bandwidth_bits_per_cycle is None or b.bank_bits_per_cycle is not None):
        raise HwConfigError(f"{where}.{name}: an unbanked buffer gives bandwidth_bits_per_cycle (the whole "
                            f"buffer's); bank_bits_per_cycle needs banked_along (e.g. [cols])")


def with_array(hw: HwConfig, rows: int, cols: int) -> HwConfig:
    """`hw` with a rows x cols array: each banked buffer's bandwidth follows its bank count, its size and the
    unbanked buffers' bandwidths stay as they are."""
    array = replace(hw.array, rows=rows, cols=cols)
    buffers = tuple(replace(b, bandwidth_bits_per_cycle=b.bank_bits_per_cycle * banks(array, b.banked_along))
                    if b.banked_along else b for b in hw.buffers)
    return replace(hw, array=array, buffers=buffers)


def parse_hw_config(data, source: str = "<dict>") -> HwConfig:
    f = typed_yaml.build(HwConfigFile, data, source, HwConfigError)
    kind = get_pe_kind(f.pe.kind)
    kind.check_config(f.pe, child(source, "pe"))
    get_organisation(f.array.organisation).check_config(f.array, child(source, "array"))
    clash = [n for n in f.memory.buffers if n in RESERVED_LEVEL_NAMES]
    if clash:
        raise HwConfigError(f"{child(source, 'memory.buffers')}.{clash[0]}: the name is reserved for the cost "
                            f"results' own entries {list(RESERVED_LEVEL_NAMES)}; rename the buffer")
    for name, b in f.memory.buffers.items():
        _check_banking(name, b, child(source, "memory.buffers"))
    buffers = tuple(_level(name, b, f.array) for name, b in f.memory.buffers.items())
    for op in OPERANDS:
        owners = [b.name for b in buffers if op in b.holds]
        if len(owners) != 1:
            raise HwConfigError(f"{child(source, 'memory.buffers')}: operand {op!r} must be held by exactly one "
                                f"buffer, found {owners or 'none'}")
    where = child(source, "energy")
    missing = [act for act in kind.energy_actions if act not in f.energy]
    if missing:
        raise HwConfigError(f"{where}: missing energy for action(s) {missing} required by PE kind {f.pe.kind!r}")
    extra = sorted(set(f.energy) - set(kind.energy_actions))
    if extra:
        raise HwConfigError(f"{where}: unknown key(s) {extra}; allowed: {sorted(kind.energy_actions)}")
    energy = {act: f.energy[act] for act in kind.energy_actions}
    if f.area is not None and not f.area.sram_um2_per_bit:
        raise HwConfigError(f"{child(source, 'area.sram_um2_per_bit')}: give the area per bit of at least one "
                            f"SRAM macro size")
    return HwConfig(f.name, source, f.clock_mhz * 1e6, f.pe, f.array, _level("dram", f.memory.dram, f.array), buffers,
                    energy, f.leakage_mw, f.area, f.tensor_policy, f.memory.dram_traffic)


def load_hw_config(path: str | Path) -> HwConfig:
    return parse_hw_config(typed_yaml.read_yaml(path, HwConfigError, "hardware config"), str(path))
