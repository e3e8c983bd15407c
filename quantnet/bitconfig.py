"""Per-layer bit configurations of a meta-network, and the layer table they are checked against.

A layer's `a_bits` is the bit-width of the tensor it reads; that tensor is quantised once, by its
producer, so layers reading the same tensor (a block's first conv and its shortcut conv) must
agree on it: the shortcut is `a_tied_to` the first conv.
"""
from __future__ import annotations

from hwsim.errors import UserError

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import yaml


class BitConfigError(UserError):
    """A bit configuration that does not fit the network (names the layer and the value)."""


@dataclass(frozen=True)
class LayerSpec:
    name: str
    kind: str                 # "conv" or "linear"
    block: str                # block name, for per-block configs
    macs: int                 # multiply-accumulates per sample
    params: int
    w_choices: tuple[int, ...]
    a_choices: tuple[int, ...]
    a_tied_to: str | None = None  # reads the same tensor as this layer

    @property
    def fixed(self) -> bool:
        return len(self.w_choices) == 1 and len(self.a_choices) == 1


@dataclass(frozen=True)
class NetSpec:
    """The ordered table of a model's quantisable layers."""
    layers: tuple[LayerSpec, ...]
    candidate_bits: tuple[int, ...]

    def __post_init__(self):
        names = [l.name for l in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate layer names in {names}")

    @property
    def names(self) -> list[str]:
        return [l.name for l in self.layers]

    def __getitem__(self, name: str) -> LayerSpec:
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(name)

    @property
    def switchable(self) -> list[LayerSpec]:
        return [l for l in self.layers if not l.fixed]

    @property
    def blocks(self) -> list[str]:
        return list(dict.fromkeys(l.block for l in self.layers))

    def validate(self, cfg: "BitConfig") -> "BitConfig":
        known = set(self.names)
        unknown = [n for n in cfg.bits if n not in known]
        if unknown:
            raise BitConfigError(f"config {cfg.name!r}: unknown layer(s) {unknown}; this network's layers are {self.names}")
        missing = [n for n in self.names if n not in cfg.bits]
        if missing:
            raise BitConfigError(f"config {cfg.name!r}: no bits given for layer(s) {missing}")
        for l in self.layers:
            w, a = cfg.bits[l.name]
            if w not in l.w_choices:
                raise BitConfigError(f"config {cfg.name!r}: layer {l.name!r} w_bits={w} not in allowed {list(l.w_choices)}")
            if a not in l.a_choices:
                raise BitConfigError(f"config {cfg.name!r}: layer {l.name!r} a_bits={a} not in allowed {list(l.a_choices)}")
            if l.a_tied_to is not None and cfg.bits[l.a_tied_to][1] != a:
                raise BitConfigError(
                    f"config {cfg.name!r}: layer {l.name!r} reads the same tensor as {l.a_tied_to!r} and must share "
                    f"its a_bits ({a} vs {cfg.bits[l.a_tied_to][1]})")
        return cfg


def _check_bits(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BitConfigError(f"{where}: bit-width must be an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class BitConfig:
    """Layer name -> (w_bits, a_bits), in the network's layer order."""
    bits: Mapping[str, tuple[int, int]]
    name: str = ""
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "bits", MappingProxyType(dict(self.bits)))

    def w(self, layer: str) -> int:
        return self.bits[layer][0]

    def a(self, layer: str) -> int:
        return self.bits[layer][1]

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def _from_choice(cls, spec: NetSpec, pick, name: str) -> "BitConfig":
        """Fixed layers keep their bits; `pick(layer)` gives (w, a) of the others; ties are applied."""
        bits = {}
        for l in spec.layers:
            bits[l.name] = (l.w_choices[0], l.a_choices[0]) if l.fixed else pick(l)
        for l in spec.layers:
            if l.a_tied_to is not None:
                bits[l.name] = (bits[l.name][0], bits[l.a_tied_to][1])
        return spec.validate(cls(bits, name))

    @classmethod
    def uniform(cls, spec: NetSpec, w_bits: int, a_bits: int | None = None) -> "BitConfig":
        a_bits = w_bits if a_bits is None else a_bits
        name = f"W{w_bits}A{a_bits}"
        return cls._from_choice(spec, lambda l: (_clip_choice(l.w_choices, w_bits, l.name, "w", name),
                                                 _clip_choice(l.a_choices, a_bits, l.name, "a", name)), name)

    @classmethod
    def random(cls, spec: NetSpec, seed: int | np.random.Generator, granularity: str = "layer",
               base_bits: int | None = None, p_deviate: float = 1.0, name: str | None = None) -> "BitConfig":
        """Random bit-widths (w = a per layer), per layer or per block.

        With `base_bits`, each unit keeps base_bits except with probability `p_deviate`, when it draws
        uniformly from the candidates (stage 3's ramp); without it every unit draws.
        """
        if granularity not in ("layer", "block"):
            raise BitConfigError(f"granularity must be 'layer' or 'block', got {granularity!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        cands = spec.candidate_bits
        units = spec.names if granularity == "layer" else spec.blocks
        chosen = {}
        for u in units:
            if base_bits is not None and rng.random() >= p_deviate:
                chosen[u] = base_bits
            else:
                chosen[u] = int(cands[rng.integers(len(cands))])
        key = (lambda l: l.name) if granularity == "layer" else (lambda l: l.block)
        label = name or (f"random-{granularity}-{seed}" if not isinstance(seed, np.random.Generator) else f"random-{granularity}")
        # A layer with narrower choices (the stem's input is always 8-bit) keeps the nearest it allows.
        return cls._from_choice(spec, lambda l: (_nearest(l.w_choices, chosen[key(l)]),
                                                 _nearest(l.a_choices, chosen[key(l)])), label)

    @classmethod
    def from_dict(cls, data, spec: NetSpec, source: str = "<dict>") -> "BitConfig":
        """{name?, default?: {w, a}, layers: {layer: {w, a} | [w, a] | b}}; fixed layers may be omitted."""
        if not isinstance(data, Mapping):
            raise BitConfigError(f"{source}: a bit config must be a mapping with a 'layers' key, got {type(data).__name__}")
        extra = set(data) - {"name", "default", "layers"}
        if extra:
            raise BitConfigError(f"{source}: unknown key(s) {sorted(extra)}; allowed: name, default, layers")
        layers = data.get("layers", {}) or {}
        if not isinstance(layers, Mapping):
            raise BitConfigError(f"{source}: 'layers' must map layer names to bits, got {type(layers).__name__}")
        default = _parse_pair(data["default"], f"{source}: default") if "default" in data else None
        unknown = [n for n in layers if n not in spec.names]
        if unknown:
            raise BitConfigError(f"{source}: unknown layer(s) {unknown}; this network's layers are {spec.names}")
        bits = {}
        for l in spec.layers:
            if l.name in layers:
                bits[l.name] = _parse_pair(layers[l.name], f"{source}: layers.{l.name}")
            elif l.fixed:
                bits[l.name] = (l.w_choices[0], l.a_choices[0])
            elif l.a_tied_to is not None and default is None:
                continue  # filled from the tie below
            elif default is not None:
                bits[l.name] = default
            else:
                raise BitConfigError(f"{source}: no bits for layer {l.name!r} and no 'default'")
        for l in spec.layers:
            if l.a_tied_to is not None and l.name not in layers:
                w = bits[l.name][0] if l.name in bits else bits[l.a_tied_to][0]
                bits[l.name] = (w, bits[l.a_tied_to][1])
        name = str(data.get("name") or Path(source).stem)
        try:
            return spec.validate(cls(bits, name))
        except BitConfigError as e:
            raise BitConfigError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | Path, spec: NetSpec) -> list["BitConfig"]:
        """Read one config, or a list of them, from a YAML or JSON file."""
        path = Path(path)
        if not path.is_file():
            raise BitConfigError(f"bit config file {path} does not exist")
        try:
            text = path.read_text()
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BitConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from None
        if isinstance(data, Mapping) and "configs" in data:
            data = data["configs"]
        if isinstance(data, list):
            return [cls.from_dict(d, spec, f"{path}[{i}]") for i, d in enumerate(data)]
        return [cls.from_dict(data, spec, str(path))]

    def to_dict(self) -> dict:
        return {"name": self.name, "layers": {n: {"w": w, "a": a} for n, (w, a) in self.bits.items()}}

    def save(self, path: str | Path) -> None:
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else yaml.safe_dump(self.to_dict(), sort_keys=False)
        path.write_text(text)

    # ---- summaries ----------------------------------------------------------------------
    def avg_bits(self, spec: NetSpec) -> tuple[float, float]:
        """Mean (w_bits, a_bits) over the switchable layers (all layers when none switch)."""
        layers = spec.switchable or list(spec.layers)
        w = float(np.mean([self.bits[l.name][0] for l in layers]))
        a = float(np.mean([self.bits[l.name][1] for l in layers]))
        return w, a

    def bitops(self, spec: NetSpec) -> int:
        """Sum over layers of MACs * w_bits * a_bits, per sample."""
        return int(sum(l.macs * self.bits[l.name][0] * self.bits[l.name][1] for l in spec.layers))


def _clip_choice(choices: Sequence[int], want: int, layer: str, which: str, name: str) -> int:
    if len(choices) == 1:
        return choices[0]
    if want not in choices:
        raise BitConfigError(f"config {name!r}: layer {layer!r} {which}_bits={want} not in allowed {list(choices)}")
    return want


def _nearest(choices: Sequence[int], b: int) -> int:
    return b if b in choices else min(choices, key=lambda c: (abs(c - b), c))


def _parse_pair(value, where: str) -> tuple[int, int]:
    if isinstance(value, Mapping):
        extra = set(value) - {"w", "a"}
        if extra or not {"w", "a"} <= set(value):
            raise BitConfigError(f"{where}: expected {{w: BITS, a: BITS}}, got {dict(value)!r}")
        return _check_bits(value["w"], f"{where}.w"), _check_bits(value["a"], f"{where}.a")
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise BitConfigError(f"{where}: expected [w, a], got {list(value)!r}")
        return _check_bits(value[0], f"{where}[0]"), _check_bits(value[1], f"{where}[1]")
    b = _check_bits(value, where)
    return b, b


def all_uniform(spec: NetSpec) -> list[BitConfig]:
    return [BitConfig.uniform(spec, b) for b in spec.candidate_bits]


def random_configs(spec: NetSpec, n: int, seed: int = 0, granularity: str = "layer") -> list[BitConfig]:
    """n random configs from one seeded stream, named random-<i>."""
    rng = np.random.default_rng(seed)
    return [BitConfig.random(spec, rng, granularity, name=f"random-{i}") for i in range(n)]
