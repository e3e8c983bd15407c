"""The integer-model IR: a graph of integer ops carrying every bit-width's weights and requant tables.

One op vocabulary (docs/integer_contract.md):
  conv     int conv, then rq(acc + B) per output channel; clamp to [0, 2^b_out - 1] or leave unclamped
  linear   int matmul, int32 logits = acc + B (no requant)
  rescale  shortcut codes -> the add's scale, rq with a scalar (M0, shift), unclamped
  add      clamp(a + b, 0, 2^b_out - 1) of two unclamped inputs in one scale
  maxpool  max over windows of codes (zero padding is exact: codes >= 0)
  avgpool  global sum, then rq with M = 1/(H*W), clamped to the input's bits
  flatten  (N, C, 1, 1) -> (N, C)

Bit-widths are variables resolved per config: a tensor's `bits` is "const:<b>", "a:<layer>" (quantised at
that layer's a_bits) or "acc" (an unclamped integer intermediate); "w:<layer>" names a layer's w_bits. A
conv's requant table is keyed by (w_bits, a_bits, bits of its output scale, prev_bits): its attr
`prev_bits` ("w:<layer>", or "const:<b>" for the network input) is the weight width of the layer that
produced its input, which with (a_bits, w_bits) selects the transitional BN folded into the table. A
rescale's table is keyed by (bits in, bits out); a linear's bias by (w, a).
Pure numpy; never imports torch.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .errors import UserError

OP_KINDS = ("conv", "linear", "rescale", "add", "maxpool", "avgpool", "flatten")
M0_MIN, M0_MAX = 2**30, 2**31        # |M0| in [M0_MIN, M0_MAX) or exactly 0
FRAC_MAX = 2**30                     # |frac| <= FRAC_MAX
SHIFT_MIN, SHIFT_MAX = 1, 62
ACC = "acc"


class IRError(UserError):
    """An integer model that breaks an IR invariant, or a config/input it cannot run (names what and where)."""


@dataclass(frozen=True)
class Layer:
    """One switchable layer of the layer table: the choices a config may pick for it."""
    name: str
    kind: str                      # "conv" | "linear"
    w_choices: tuple[int, ...]
    a_choices: tuple[int, ...]
    a_tied_to: str | None = None   # reads the same tensor as this layer, so shares its a_bits
    macs: int = 0


@dataclass(frozen=True)
class Requant:
    """Per output channel: q = ((acc + bias) * m0 + 2^(shift-1) + frac) >> shift, int64, arithmetic shift.

    `frac` carries the bias's fraction below one accumulator unit, in product units (|frac| <= 2^30):
    without it a low-bit layer, where one accumulator unit is worth ~0.3 output codes, disagrees with the
    float model on ~10% of codes. Arrays of one length (1 for a scalar rescale)."""
    m0: np.ndarray      # int32
    shift: np.ndarray   # int32, in [1, 62]
    bias: np.ndarray    # int64, accumulator units
    frac: np.ndarray | None = None   # int64; None -> zeros

    def __post_init__(self):
        if self.frac is None:
            object.__setattr__(self, "frac", np.zeros(np.shape(self.m0), np.int64))


@dataclass
class Op:
    name: str
    kind: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict = field(default_factory=dict)        # JSON scalars: layer, stride, padding, groups, clamp, ...
    weights: dict[int, np.ndarray] = field(default_factory=dict)            # w_bits -> int8 codes
    requant: dict[tuple[int, ...], Requant] = field(default_factory=dict)   # see module docstring
    bias: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)   # linear: (w, a) -> int64


def act_max(bits: int) -> int:
    return 2**bits - 1


def weight_max(bits: int) -> int:
    return 2 ** (bits - 1) - 1


@dataclass
class IntModel:
    layers: tuple[Layer, ...]
    tensors: dict[str, str]
    ops: list[Op]
    input_name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    candidate_bits: tuple[int, ...]
    input_bits: int = 8
    source: dict = field(default_factory=dict)       # provenance (checkpoint, model name): informational

    # ---- lookups ------------------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        for l in self.layers:
            if l.name == name:
                return l
        raise IRError(f"integer model has no layer {name!r}; its layers are {[l.name for l in self.layers]}")

    @property
    def layer_names(self) -> list[str]:
        return [l.name for l in self.layers]

    @property
    def output_name(self) -> str:
        return self.ops[-1].output

    def bits_domain(self, var: str) -> tuple[int, ...]:
        """The bit-widths a bits variable can take over all valid configs."""
        if var.startswith("const:"):
            return (int(var.split(":", 1)[1]),)
        if var.startswith("a:"):
            return self.layer(var[2:]).a_choices
        if var.startswith("w:"):
            return self.layer(var[2:]).w_choices
        raise IRError(f"bits variable {var!r} has no bit-width (expected const:B, a:LAYER or w:LAYER)")

    def conv_keys(self, op: "Op") -> list[tuple[int, int, int, int]]:
        """Every requant key a conv op must hold: (w, a, out, prev) over all valid configs."""
        layer = self.layer(op.attrs["layer"])
        return list(itertools.product(layer.w_choices, layer.a_choices, self.bits_domain(op.attrs["out_bits"]),
                                      self.bits_domain(op.attrs["prev_bits"])))

    def conv_key(self, op: "Op", bits: Mapping[str, tuple[int, int]]) -> tuple[int, int, int, int]:
        """The requant key a checked config selects for a conv op."""
        w, a = bits[op.attrs["layer"]]
        return w, a, self.resolve(op.attrs["out_bits"], bits), self.resolve(op.attrs["prev_bits"], bits)

    # ---- configs --------------------------------------------------------------------------------
    def layer_bits(self, bits: Mapping[str, tuple[int, int]], name: str = "config") -> dict[str, tuple[int, int]]:
        """Check a config (layer -> (w_bits, a_bits)) against the layer table; returns a plain dict."""
        known = set(self.layer_names)
        unknown = sorted(n for n in bits if n not in known)
        if unknown:
            raise IRError(f"{name}: layer(s) {unknown} not in the integer model; its layers are {self.layer_names}")
        missing = [n for n in self.layer_names if n not in bits]
        if missing:
            raise IRError(f"{name}: no bits given for layer(s) {missing}")
        out = {}
        for l in self.layers:
            try:
                w, a = (int(v) for v in bits[l.name])
            except (TypeError, ValueError):
                raise IRError(f"{name}: layer {l.name!r} bits must be a (w_bits, a_bits) pair, got {bits[l.name]!r}") from None
            if w not in l.w_choices:
                raise IRError(f"{name}: layer {l.name!r} w_bits={w} not in allowed {list(l.w_choices)}")
            if a not in l.a_choices:
                raise IRError(f"{name}: layer {l.name!r} a_bits={a} not in allowed {list(l.a_choices)}")
            out[l.name] = (w, a)
        for l in self.layers:
            if l.a_tied_to is not None and out[l.a_tied_to][1] != out[l.name][1]:
                raise IRError(f"{name}: layer {l.name!r} reads the same tensor as {l.a_tied_to!r} and must share its "
                              f"a_bits ({out[l.name][1]} vs {out[l.a_tied_to][1]})")
        return out

    def resolve(self, var: str, bits: Mapping[str, tuple[int, int]]) -> int:
        """The bit-width of bits variable `var` under a checked config."""
        if var.startswith("const:"):
            return int(var.split(":", 1)[1])
        if var.startswith("a:"):
            return bits[var[2:]][1]
        if var.startswith("w:"):
            return bits[var[2:]][0]
        raise IRError(f"bits variable {var!r} has no bit-width")

    def uniform_bits(self, b: int) -> dict[str, tuple[int, int]]:
        """Every switchable choice at b where allowed (fixed layers keep theirs); ties applied."""
        pick = lambda ch: b if b in ch else ch[-1]  # noqa: E731
        out = {l.name: (pick(l.w_choices), pick(l.a_choices)) for l in self.layers}
        for l in self.layers:
            if l.a_tied_to is not None:
                out[l.name] = (out[l.name][0], out[l.a_tied_to][1])
        return out

    def check_input(self, x: np.ndarray) -> None:
        """Input codes must be integers of shape (N, C, H, W) in [0, 2^input_bits - 1]."""
        want = tuple(self.input_shape)
        if not isinstance(x, np.ndarray) or x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise IRError(f"input must be an array of shape (N, {', '.join(map(str, want))}), got "
                          f"{getattr(x, 'shape', type(x).__name__)}")
        if not np.issubdtype(x.dtype, np.integer):
            raise IRError(f"input codes must be integers, got dtype {x.dtype}")
        hi = 2**self.input_bits - 1
        if x.size and (int(x.min()) < 0 or int(x.max()) > hi):
            raise IRError(f"input codes must lie in [0, {hi}], got [{int(x.min())}, {int(x.max())}]")

    # ---- invariants -------------------------------------------------------------------------------
    def validate(self) -> "IntModel":
        from .ir_validate import validate
        validate(self)
        return self

    def save(self, path) -> None:
        """Write one .npz (arrays + versioned manifest); see hwsim/ir_io.py."""
        from .ir_io import save_ir
        save_ir(self, path)


def load_ir(path) -> IntModel:
    """Read and validate an IR file; IRFormatError (a UserError) on a missing, corrupt or foreign file."""
    from .ir_io import load_ir as _load
    return _load(path)
