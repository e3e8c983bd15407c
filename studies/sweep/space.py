"""A design space (SPACE.yaml): hardware parameters over a base config, bit configs, networks.

    hardware:
      base: bitfusion                      # a name in hw_configs/ or a path to a config
      parameters:                          # key path in the base config -> values
        array.rows: [8, 16, 32]            # a list
        array.cols: {start: 8, stop: 64, factor: 2}      # a geometric range (8, 16, 32, 64)
        clock_mhz: {start: 400, stop: 600, step: 100}    # an arithmetic range, both ends included
        memory.buffers.wbuf.size: ["32 KiB", "64 KiB"]  # sizes as the config writes them
    bits: [uniform, "random:100:1", fracbits.yaml]       # the CLI's --config specs
    networks:
      - checkpoint: runs/demo/train/checkpoint.pt        # or `ir: model.npz`
        accuracy: torch                    # torch | simulator | none
      - zoo: resnet18                      # a zoo network (hwsim.zoo), costed only; bits may say `published`

Resolving checks everything a sweep will meet before any costing: every parameter exists in the base
config, every range is bounded and non-empty, the space is not larger than the caller's limit, and every
hardware point passes the config validator and runs every bit config asked of it. Errors name the
space file, the field and the value (and the hardware point, for a value the validator rejects).
"""
from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from hwsim import typed_yaml
from hwsim.errors import HwConfigError, UserError, excerpt
from hwsim.hwconfig import parse_hw_config, parse_size_bits
from hwsim.typed_yaml import AtLeast

from ..hw import hw_config_paths
from .points import HwPoint

MAX_VALUES = 100_000     # values one parameter may take


class SpaceError(UserError):
    """A design space that is malformed, empty, unbounded, too large, or names what the base config lacks."""


@dataclass(frozen=True)
class HardwareSpace:
    base: str
    parameters: dict = field(default_factory=dict)    # key path -> a value, a list, or {start, stop, step|factor}


@dataclass(frozen=True)
class NetworkEntry:
    checkpoint: str | None = None      # a meta-network checkpoint (accuracy can be measured on it)
    ir: str | None = None              # or an exported integer model (.npz)
    zoo: str | None = None             # or a zoo network by name (hwsim.zoo: resnet18, vgg16, ...)
    topology: str | None = None        # or a SCALE-Sim topology CSV
    onnx: str | None = None            # or an ONNX model's layer shapes
    batch: Annotated[int, AtLeast(1)] = 1   # samples per run (an IR, zoo or imported network)
    name: str | None = None            # default: the zoo name or the file's stem
    accuracy: Literal["none", "torch", "simulator"] = "none"
    samples: Annotated[int, AtLeast(1)] | None = 200
    data: str | None = None            # default: the data set the checkpoint was trained on
    data_dir: str | None = None


@dataclass(frozen=True)
class SpaceFile:
    hardware: HardwareSpace
    bits: tuple[str, ...]
    networks: tuple[NetworkEntry, ...]


def load_space(path: str | Path) -> SpaceFile:
    data = typed_yaml.read_yaml(path, SpaceError, "design space")
    space = typed_yaml.build(SpaceFile, data, str(path), SpaceError)
    if not space.bits:
        raise SpaceError(f"{path}: bits: the list is empty; name at least one bit config (e.g. uniform)")
    if not space.networks:
        raise SpaceError(f"{path}: networks: the list is empty; name at least one network")
    for i, n in enumerate(space.networks):
        if sum(v is not None for v in (n.checkpoint, n.ir, n.zoo, n.topology, n.onnx)) != 1:
            raise SpaceError(f"{path}: networks[{i}]: give exactly one of checkpoint, ir, zoo, topology or onnx")
        if n.accuracy != "none" and n.checkpoint is None:
            raise SpaceError(f"{path}: networks[{i}].accuracy: {n.accuracy!r} needs a checkpoint (the meta-network "
                             f"measures accuracy); other networks are costed only")
    return space


def _node(data: Any, key_path: str):
    """(the mapping holding the last key, the last key), or None where the base config has no such key."""
    *parents, last = key_path.split(".")
    node = data
    for k in parents:
        if not isinstance(node, Mapping) or k not in node:
            return None
        node = node[k]
    return (node, last) if isinstance(node, Mapping) and last in node else None


def _range_values(spec: Mapping, where: str) -> list:
    unknown = sorted(set(spec) - {"start", "stop", "step", "factor"})
    if unknown:
        raise SpaceError(f"{where}.{unknown[0]}: unknown key; a range has start, stop and step or factor")
    if "start" not in spec or "stop" not in spec:
        raise SpaceError(f"{where}: the range is unbounded: give both start and stop (got {excerpt(dict(spec))})")
    if ("step" in spec) == ("factor" in spec):
        raise SpaceError(f"{where}: give exactly one of step (arithmetic) or factor (geometric)")
    sized = isinstance(spec["start"], str) or isinstance(spec["stop"], str)
    start, stop = (_size(spec[k], f"{where}.{k}") if sized else _number(spec[k], f"{where}.{k}")
                   for k in ("start", "stop"))
    if "step" in spec:
        step = _number(spec["step"], f"{where}.step")
        if step <= 0:
            raise SpaceError(f"{where}.step: must be > 0, got {excerpt(spec['step'])}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        make = lambda i: start + i * step  # noqa: E731
    else:
        factor = _number(spec["factor"], f"{where}.factor")
        if factor <= 1:
            raise SpaceError(f"{where}.factor: must be > 1, got {excerpt(spec['factor'])}")
        if start <= 0:
            raise SpaceError(f"{where}.start: a geometric range starts above 0, got {excerpt(spec['start'])}")
        count = math.floor(math.log(stop / start, factor) + 1e-9) + 1 if stop >= start else 0
        make = lambda i: start * factor ** i  # noqa: E731
    if count <= 0:
        raise SpaceError(f"{where}: the range is empty (stop {excerpt(spec['stop'])} is below start "
                         f"{excerpt(spec['start'])})")
    if count > MAX_VALUES:
        raise SpaceError(f"{where}: the range has {count} values, more than {MAX_VALUES}")
    whole = all(isinstance(spec[k], int) or isinstance(spec[k], str) for k in spec)
    return [int(round(make(i))) if whole else make(i) for i in range(count)]


def _size(v, where: str) -> int:
    """A size in bits ('64 KiB' or a whole number of bits), or a SpaceError naming `where`."""
    try:
        return parse_size_bits(v, where)
    except HwConfigError as e:
        raise SpaceError(str(e)) from None


def _number(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SpaceError(f"{where}: expected a finite number, got {excerpt(v)}")
    return v


def parameter_values(space: SpaceFile, base_data: Mapping, source: str, base_path: Path) -> dict[str, list]:
    """Each swept parameter's values, checked against the base config's keys."""
    out = {}
    for key, spec in space.hardware.parameters.items():
        where = f"{source}: hardware.parameters.{key}"
        if not isinstance(key, str) or _node(base_data, key) is None or isinstance(_leaf(base_data, key), Mapping):
            raise SpaceError(f"{where}: the base config {base_path} has no setting {excerpt(key)} (a key path "
                             f"such as array.rows or memory.buffers.<name>.size)")
        if isinstance(spec, Mapping):
            values = _range_values(spec, where)
        elif isinstance(spec, (list, tuple)):
            values = list(spec)
            if not values:
                raise SpaceError(f"{where}: the list is empty; give at least one value")
        else:
            values = [spec]
        if key.rsplit(".", 1)[-1] == "size":   # one unit in the table: bits, as the config counts sizes
            values = [_size(v, where) for v in values]
        out[key] = values
    return out


def _leaf(data: Mapping, key_path: str):
    node, last = _node(data, key_path)
    return node[last]


def count_hw_points(values: Mapping[str, list]) -> int:
    return math.prod(len(v) for v in values.values())


def hw_points(values: Mapping[str, list], base_data: Mapping, base_path: Path, source: str) -> list[HwPoint]:
    """Every combination of the parameters' values (the last parameter varying fastest), each validated."""
    out = []
    keys = list(values)
    for i, combo in enumerate(itertools.product(*(values[k] for k in keys))):
        params = dict(zip(keys, combo))
        data = copy.deepcopy(base_data)
        for k, v in params.items():
            node, last = _node(data, k)
            node[last] = v
        point = f"{source}: hardware point {i} ({', '.join(f'{k}={v}' for k, v in params.items())})"
        try:
            hw = parse_hw_config(data, str(base_path))
        except HwConfigError as e:
            raise SpaceError(f"{point}: {e}") from None
        out.append(HwPoint(i, params, hw))
    return out


def base_config(space: SpaceFile, source: str) -> tuple[Path, Mapping]:
    """The base config's path and its YAML data (validated as it stands)."""
    try:
        path = hw_config_paths([space.hardware.base])[0]
    except UserError as e:
        raise SpaceError(f"{source}: hardware.base: {e}") from None
    data = typed_yaml.read_yaml(path, HwConfigError, "hardware config")
    parse_hw_config(data, str(path))
    return path, data
