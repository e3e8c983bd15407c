"""Bit-widths of a network: typed bits variables, the layer table, and checked bit configurations.

A bits variable names a width that a config decides: `Const(b)` ("const:b"), a layer's activation width
`ActOf(layer)` ("a:layer"), its weight width `WeightOf(layer)` ("w:layer"), or `ACC` ("acc", the
accumulator). Text is parsed once, where an IR is built or loaded; code after that holds typed values.

A layer's a_bits is the width of the tensor it reads; that tensor is quantised once, by its producer,
so layers reading the same tensor (a block's first conv and its shortcut conv) share it: the shortcut
is `a_tied_to` the first conv, and `LayerTable.tie` is the one place that applies the rule.

A config is checked once, where it enters (`LayerTable.validate`); the BitConfig it returns carries its
table, and validating it again against the same table returns it unchanged. Torch-free.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from collections.abc import Mapping
from typing import ClassVar, Sequence, Union

import numpy as np
import yaml

from . import documents
from .errors import UserError, excerpt

LAYER_KINDS = ("conv", "linear")


class BitsError(UserError):
    """A malformed bits variable or layer table (names the text or the layer)."""


class BitConfigError(BitsError):
    """A bit configuration that does not fit the network (names the layer and the value)."""


# ---- bits variables -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Const:
    """A fixed width, e.g. the 8-bit network input."""
    bits: int
    PREFIX: ClassVar[str] = "const"

    def __str__(self) -> str:
        return f"const:{self.bits}"

    def domain(self, table: "LayerTable") -> tuple[int, ...]:
        return (self.bits,)

    def resolve(self, bits: Mapping[str, tuple], acc_bits: int | None = None):
        return self.bits


@dataclass(frozen=True)
class _OfLayer:
    """A width a config gives one layer: its `_CHOICES` field bounds it, item `_INDEX` of its (w, a) picks it."""
    layer: str
    PREFIX: ClassVar[str]
    _CHOICES: ClassVar[str]
    _INDEX: ClassVar[int]

    def __str__(self) -> str:
        return f"{self.PREFIX}:{self.layer}"

    def domain(self, table: "LayerTable") -> tuple[int, ...]:
        return getattr(table[self.layer], self._CHOICES)

    def resolve(self, bits: Mapping[str, tuple], acc_bits: int | None = None):
        return bits[self.layer][self._INDEX]


@dataclass(frozen=True)
class ActOf(_OfLayer):
    """The activation width a config gives a layer (the width of the tensor it reads)."""
    PREFIX: ClassVar[str] = "a"
    _CHOICES: ClassVar[str] = "a_choices"
    _INDEX: ClassVar[int] = 1


@dataclass(frozen=True)
class WeightOf(_OfLayer):
    """The weight width a config gives a layer."""
    PREFIX: ClassVar[str] = "w"
    _CHOICES: ClassVar[str] = "w_choices"
    _INDEX: ClassVar[int] = 0


@dataclass(frozen=True)
class Acc:
    """An unclamped integer intermediate: as wide as the accumulator, chosen by the hardware, not the config."""

    def __str__(self) -> str:
        return "acc"

    def domain(self, table: "LayerTable") -> tuple[int, ...]:
        raise BitsError("bits variable 'acc' is the accumulator; no config chooses its width")

    def resolve(self, bits: Mapping[str, tuple], acc_bits: int | None = None):
        if acc_bits is None:
            raise BitsError("bits variable 'acc' needs the accumulator width")
        return acc_bits


ACC = Acc()
BitsVar = Union[Const, ActOf, WeightOf, Acc]
BITS_VAR_TYPES = (Const, ActOf, WeightOf, Acc)
_BY_PREFIX = {c.PREFIX: c for c in (Const, ActOf, WeightOf)}
_FORMS = "'const:B', 'a:LAYER', 'w:LAYER' or 'acc'"


def parse(text) -> BitsVar:
    """The typed bits variable of its text form; a typed one is returned as is. BitsError on anything else."""
    if isinstance(text, BITS_VAR_TYPES):
        return text
    if not isinstance(text, str):
        raise BitsError(f"bits variable {text!r} is not text; expected {_FORMS}")
    if text == "acc":
        return ACC
    prefix, sep, rest = text.partition(":")
    cls = _BY_PREFIX.get(prefix)
    if not sep or cls is None or not rest:
        raise BitsError(f"bits variable {text!r} is malformed; expected {_FORMS}")
    if cls is Const:
        # canonical decimal only, so that str(parse(t)) == t and files stay byte-identical
        if not rest.isdigit() or str(int(rest)) != rest or int(rest) < 1:
            raise BitsError(f"bits variable {text!r}: width {rest!r} is not a positive integer")
        return Const(int(rest))
    return cls(rest)


# ---- the layer table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layer:
    """One quantisable layer: the widths a config may pick for it, and what it costs."""
    name: str
    kind: str                      # "conv" | "linear"
    w_choices: tuple[int, ...]
    a_choices: tuple[int, ...]
    a_tied_to: str | None = None   # reads the same tensor as this layer, so shares its a_bits
    macs: int = 0                  # multiply-accumulates per sample
    block: str = ""                # block name, for per-block configs; "" -> the layer's own name
    params: int = 0

    def __post_init__(self):
        object.__setattr__(self, "w_choices", tuple(int(b) for b in self.w_choices))
        object.__setattr__(self, "a_choices", tuple(int(b) for b in self.a_choices))
        object.__setattr__(self, "block", self.block or self.name)

    @property
    def fixed(self) -> bool:
        return len(self.w_choices) == 1 and len(self.a_choices) == 1


@dataclass(frozen=True)
class LayerTable:
    """The ordered quantisable layers of a network and the candidate widths it was built for."""
    layers: tuple[Layer, ...]
    candidate_bits: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "candidate_bits", tuple(int(b) for b in self.candidate_bits))
        index = {}
        for l in self.layers:
            if l.name in index:
                raise BitsError(f"layer table: duplicate layer {l.name!r}")
            if l.kind not in LAYER_KINDS:
                raise BitsError(f"layer {l.name!r}: kind {l.kind!r} is not one of {list(LAYER_KINDS)}")
            if not l.w_choices or not l.a_choices:
                raise BitsError(f"layer {l.name!r}: w_choices and a_choices must be non-empty")
            index[l.name] = l
        object.__setattr__(self, "_index", index)
        for l in self.layers:
            if l.a_tied_to is None:
                continue
            to = index.get(l.a_tied_to)
            if to is None or to.a_tied_to is not None:
                raise BitsError(f"layer {l.name!r}: tied to {l.a_tied_to!r}, which is not an untied layer of the table")
            if to.a_choices != l.a_choices:
                raise BitsError(f"layer {l.name!r}: tied to {l.a_tied_to!r} but their a_choices differ")

    def __getitem__(self, name: str) -> Layer:
        try:
            return self._index[name]
        except KeyError:
            raise BitsError(f"no layer {name!r}; the layers are {self.names}") from None

    def __contains__(self, name) -> bool:
        return name in self._index

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def names(self) -> list[str]:
        return [l.name for l in self.layers]

    @property
    def switchable(self) -> list[Layer]:
        return [l for l in self.layers if not l.fixed]

    @property
    def blocks(self) -> list[str]:
        return list(dict.fromkeys(l.block for l in self.layers))

    def tie(self, bits: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """The tie rule: every tied layer takes the a_bits of the layer whose input tensor it shares."""
        return {n: (w, bits[self._index[n].a_tied_to][1]) if self._index[n].a_tied_to else (w, a)
                for n, (w, a) in bits.items()}

    def validate(self, cfg: "BitConfig | Mapping[str, tuple[int, int]]", name: str | None = None) -> "BitConfig":
        """A BitConfig checked against this table: every layer present, widths among its choices, ties kept.

        A BitConfig already checked against an equal table is returned as is; a plain mapping
        (layer -> (w_bits, a_bits)) is checked and wrapped, named `name`."""
        if isinstance(cfg, BitConfig):
            if cfg.table is self or (cfg.table is not None and cfg.table == self):
                return cfg
            name, bits, meta = cfg.name if name is None else name, cfg.bits, cfg.meta
        elif isinstance(cfg, Mapping):
            name, bits, meta = "config" if name is None else name, cfg, {}
        else:
            raise BitConfigError(f"{name or 'config'}: expected a mapping layer -> (w_bits, a_bits), "
                                 f"got {type(cfg).__name__}")
        unknown = [n for n in bits if n not in self._index]
        if unknown:
            raise BitConfigError(f"config {name!r}: unknown layer(s) {unknown}; this network's layers are {self.names}")
        missing = [n for n in self.names if n not in bits]
        if missing:
            raise BitConfigError(f"config {name!r}: no bits given for layer(s) {missing}")
        checked = {}
        for l in self.layers:
            checked[l.name] = _pair(bits[l.name], f"config {name!r}: layer {l.name!r}")
            w, a = checked[l.name]
            if w not in l.w_choices:
                raise BitConfigError(f"config {name!r}: layer {l.name!r} w_bits={w} not in allowed {list(l.w_choices)}")
            if a not in l.a_choices:
                raise BitConfigError(f"config {name!r}: layer {l.name!r} a_bits={a} not in allowed {list(l.a_choices)}")
        tied = self.tie(checked)
        for l in self.layers:
            if tied[l.name] != checked[l.name]:
                raise BitConfigError(
                    f"config {name!r}: layer {l.name!r} reads the same tensor as {l.a_tied_to!r} and must share "
                    f"its a_bits ({checked[l.name][1]} vs {tied[l.name][1]})")
        return BitConfig(checked, name, meta, table=self)


def _pair(value, where: str) -> tuple[int, int]:
    try:
        w, a = value
    except (TypeError, ValueError):
        raise BitConfigError(f"{where}: bits must be a (w_bits, a_bits) pair, got {excerpt(value)}") from None
    return _check_bits(w, f"{where} w_bits"), _check_bits(a, f"{where} a_bits")


def _check_bits(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BitConfigError(f"{where}: bit-width must be an integer, got {excerpt(value)}")
    return int(value)


# ---- configurations -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BitConfig:
    """Layer name -> (w_bits, a_bits), in the network's layer order; `table` is set once it is checked."""
    bits: Mapping[str, tuple[int, int]]
    name: str = ""
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)
    table: LayerTable | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "bits", MappingProxyType(dict(self.bits)))

    def w(self, layer: str) -> int:
        return self.bits[layer][0]

    def a(self, layer: str) -> int:
        return self.bits[layer][1]

    # ---- constructors (every one returns a checked config) -------------------------------------
    @classmethod
    def _from_choice(cls, table: LayerTable, pick, name: str) -> "BitConfig":
        """Fixed layers keep their bits; `pick(layer)` gives (w, a) of the others; ties are applied."""
        bits = {l.name: (l.w_choices[0], l.a_choices[0]) if l.fixed else pick(l) for l in table.layers}
        return table.validate(table.tie(bits), name)

    @classmethod
    def uniform(cls, table: LayerTable, w_bits: int, a_bits: int | None = None) -> "BitConfig":
        """Every switchable layer at (w_bits, a_bits); BitConfigError where a layer does not allow them."""
        a_bits = w_bits if a_bits is None else a_bits
        name = f"W{w_bits}A{a_bits}"
        return cls._from_choice(table, lambda l: (_clip_choice(l.w_choices, w_bits, l.name, "w", name),
                                                  _clip_choice(l.a_choices, a_bits, l.name, "a", name)), name)

    @classmethod
    def uniform_where_allowed(cls, table: LayerTable, b: int) -> "BitConfig":
        """Every layer at b where its choices allow it, else at its last choice."""
        def pick(choices):
            return b if b in choices else choices[-1]
        return cls._from_choice(table, lambda l: (pick(l.w_choices), pick(l.a_choices)), f"W{b}A{b}")

    @classmethod
    def random(cls, table: LayerTable, seed: int | np.random.Generator, granularity: str = "layer",
               base_bits: int | None = None, p_deviate: float = 1.0, name: str | None = None) -> "BitConfig":
        """Random bit-widths (w = a per layer), per layer or per block.

        With `base_bits`, each unit keeps base_bits except with probability `p_deviate`, when it draws
        uniformly from the candidates (stage 3's ramp); without it every unit draws.
        """
        if granularity not in ("layer", "block"):
            raise BitConfigError(f"granularity must be 'layer' or 'block', got {granularity!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        cands = table.candidate_bits
        units = table.names if granularity == "layer" else table.blocks
        chosen = {}
        for u in units:
            if base_bits is not None and rng.random() >= p_deviate:
                chosen[u] = base_bits
            else:
                chosen[u] = int(cands[rng.integers(len(cands))])
        key = (lambda l: l.name) if granularity == "layer" else (lambda l: l.block)
        label = name or (f"random-{granularity}-{seed}" if not isinstance(seed, np.random.Generator) else f"random-{granularity}")
        # A layer with narrower choices (the stem's input is always 8-bit) keeps the nearest it allows.
        return cls._from_choice(table, lambda l: (nearest_choice(l.w_choices, chosen[key(l)]),
                                                  nearest_choice(l.a_choices, chosen[key(l)])), label)

    @classmethod
    def from_dict(cls, data, table: LayerTable, source: str = "<dict>") -> "BitConfig":
        """{name?, default?: {w, a}, layers: {layer: {w, a} | [w, a] | b}}; fixed layers may be omitted,
        and a tied layer left out takes its a_bits (and, without a default, its w_bits) from its partner."""
        if not isinstance(data, Mapping):
            raise BitConfigError(f"{source}: a bit config must be a mapping with a 'layers' key, got {type(data).__name__}")
        extra = [k for k in data if k not in ("name", "default", "layers")]
        if extra:
            raise BitConfigError(f"{source}: unknown key(s) {excerpt(extra)}; allowed: name, default, layers")
        if not isinstance(data.get("name", ""), str):
            raise BitConfigError(f"{source}: name must be a string, got {excerpt(data['name'])}")
        layers = data.get("layers", {}) or {}
        if not isinstance(layers, Mapping):
            raise BitConfigError(f"{source}: 'layers' must map layer names to bits, got {type(layers).__name__}")
        default = _parse_pair(data["default"], f"{source}: default") if "default" in data else None
        unknown = [n for n in layers if n not in table]
        if unknown:
            raise BitConfigError(f"{source}: unknown layer(s) {excerpt(unknown)}; this network's layers are "
                                 f"{excerpt(table.names, 400)}")
        bits = {}
        for l in table.layers:
            if l.name in layers:
                bits[l.name] = _parse_pair(layers[l.name], f"{source}: layers.{l.name}")
            elif l.fixed:
                bits[l.name] = (l.w_choices[0], l.a_choices[0])
            elif default is not None:
                bits[l.name] = default
            elif l.a_tied_to is None:
                raise BitConfigError(f"{source}: no bits for layer {l.name!r} and no 'default'")
        for l in table.layers:
            if l.name not in bits:
                bits[l.name] = bits[l.a_tied_to]
        tied = table.tie(bits)
        bits = {n: bits[n] if n in layers else tied[n] for n in table.names}
        name = str(data.get("name") or Path(source).stem)
        try:
            return table.validate(bits, name)
        except BitConfigError as e:
            raise BitConfigError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | Path, table: LayerTable) -> list["BitConfig"]:
        """Read one config, or a list of them, from a YAML or JSON file."""
        path = Path(path)
        data = documents.read(path, BitConfigError, "bit config file")
        if isinstance(data, Mapping) and "configs" in data:
            if set(data) != {"configs"} or not isinstance(data["configs"], list):
                raise BitConfigError(f"{path}: a file of several configs is {{configs: [CONFIG, ...]}} and nothing "
                                     f"else; got keys {excerpt(list(data))}")
            data = data["configs"]
        if isinstance(data, list):
            return [cls.from_dict(d, table, f"{path}[{i}]") for i, d in enumerate(data)]
        return [cls.from_dict(data, table, str(path))]

    def to_dict(self) -> dict:
        return {"name": self.name, "layers": {n: {"w": w, "a": a} for n, (w, a) in self.bits.items()}}

    def save(self, path: str | Path) -> None:
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) if path.suffix == ".json" else yaml.safe_dump(self.to_dict(), sort_keys=False)
        path.write_text(text)

    # ---- summaries ----------------------------------------------------------------------
    def avg_bits(self, table: LayerTable) -> tuple[float, float]:
        """Mean (w_bits, a_bits) over the switchable layers (all layers when none switch)."""
        layers = table.switchable or list(table.layers)
        w = float(np.mean([self.bits[l.name][0] for l in layers]))
        a = float(np.mean([self.bits[l.name][1] for l in layers]))
        return w, a

    def bitops(self, table: LayerTable) -> int:
        """Sum over layers of MACs * w_bits * a_bits, per sample."""
        return int(sum(l.macs * self.bits[l.name][0] * self.bits[l.name][1] for l in table.layers))


def _clip_choice(choices: Sequence[int], want: int, layer: str, which: str, name: str) -> int:
    if len(choices) == 1:
        return choices[0]
    if want not in choices:
        raise BitConfigError(f"config {name!r}: layer {layer!r} {which}_bits={want} not in allowed {list(choices)}")
    return want


def nearest_choice(choices: Sequence[int], b: int) -> int:
    """b if a layer allows it, else its nearest allowed width (the lower one on a tie)."""
    return b if b in choices else min(choices, key=lambda c: (abs(c - b), c))


def _parse_pair(value, where: str) -> tuple[int, int]:
    if isinstance(value, Mapping):
        extra = set(value) - {"w", "a"}
        if extra or not {"w", "a"} <= set(value):
            raise BitConfigError(f"{where}: expected {{w: BITS, a: BITS}}, got {excerpt(value)}")
        return _check_bits(value["w"], f"{where}.w"), _check_bits(value["a"], f"{where}.a")
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise BitConfigError(f"{where}: expected [w, a], got {excerpt(value)}")
        return _check_bits(value[0], f"{where}[0]"), _check_bits(value[1], f"{where}[1]")
    b = _check_bits(value, where)
    return b, b


def all_uniform(table: LayerTable) -> list[BitConfig]:
    return [BitConfig.uniform(table, b) for b in table.candidate_bits]


def random_configs(table: LayerTable, n: int, seed: int = 0, granularity: str = "layer") -> list[BitConfig]:
    """n random configs from one seeded stream, named random-<i>."""
    rng = np.random.default_rng(seed)
    return [BitConfig.random(table, rng, granularity, name=f"random-{i}") for i in range(n)]
