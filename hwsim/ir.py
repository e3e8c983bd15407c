"""The integer-model IR: a graph of integer ops carrying every bit-width's weights and requant tables.

One op vocabulary (docs/integer_contract.md), each kind checked, shaped, run and costed by hwsim/ops/<kind>.py:
  conv     int conv, then rq(acc + B) per output channel; clamp to [0, 2^b_out - 1] or leave unclamped
  linear   int matmul, int32 logits = acc + B (no requant)
  rescale  shortcut codes -> the add's scale, rq with a scalar (M0, shift), unclamped
  add      clamp(a + b, 0, 2^b_out - 1) of two unclamped inputs in one scale
  maxpool  max over windows of codes (zero padding is exact: codes >= 0)
  avgpool  global sum, then rq with M = 1/(H*W), clamped to the input's bits
  flatten  (N, C, 1, 1) -> (N, C)

Bit-widths are variables resolved per config (hwsim/bits.py): a tensor carries Const(b) ("const:<b>"),
ActOf(layer) ("a:<layer>", quantised at that layer's a_bits) or ACC ("acc", an unclamped integer
intermediate); WeightOf(layer) ("w:<layer>") names a layer's w_bits. A
conv's requant table is keyed by (w_bits, a_bits, bits of its output scale, prev_bits): its attr
`prev_bits` (WeightOf(layer), or Const(b) for the network input) is the weight width of the layer that
produced its input, which with (a_bits, w_bits) selects the transitional BN folded into the table. A conv
reading a block's output (a residual sum with two producers) also carries `prev_shortcut_bits`, the weight
width of the shortcut summand's producer, and its keys are (w, a, out, prev, prev_shortcut). A
rescale's table is keyed by (bits in, bits out); a linear's bias by (w, a).
Text forms are parsed once, when an IntModel is built; validation and file I/O live in
hwsim/ir_validate.py and hwsim/ir_io.py, which import this module (never the other way).
Pure numpy; never imports torch.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .bits import BitConfig, BitConfigError, BitsError, BitsVar, LayerTable, parse
from .errors import UserError
from .nested_codes import NESTED, derive

M0_MIN, M0_MAX = 2**30, 2**31        # |M0| in [M0_MIN, M0_MAX) or exactly 0
FRAC_MAX = 2**30                     # |frac| <= FRAC_MAX
SHIFT_MIN, SHIFT_MAX = 1, 62
BITS_ATTRS = ("out_bits", "prev_bits", "prev_shortcut_bits")   # op attributes that hold bits variables
KEY_ATTRS = ("out_bits", "prev_bits", "prev_shortcut_bits")      # a conv's requant key after (w, a): those it carries


class IRError(UserError):
    """An integer model that breaks an IR invariant, or a config/input it cannot run (names what and where)."""


class IRConfigError(IRError, BitConfigError):
    """A config the integer model cannot run: catchable as either an IR error or a bit-config error."""


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
    attrs: dict = field(default_factory=dict)        # layer, stride, padding, groups, clamp, out_bits, ...
    weights: dict[int, np.ndarray] = field(default_factory=dict)            # stored w_bits -> int8 codes
    requant: dict[tuple[int, ...], Requant] = field(default_factory=dict)   # see module docstring
    bias: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)   # linear: (w, a) -> int64
    weight_codes: str = "per_width"   # or "nested": `weights` holds only the widest codes (hwsim/nested_codes.py)
    _derived: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def weights_at(self, bits: int) -> np.ndarray:
        """The int8 codes a config at `bits` reads: stored, or (nested) derived once from the widest and kept."""
        if self.weight_codes != NESTED:
            return self.weights[bits]
        if bits not in self._derived:
            widest = max(self.weights)
            self._derived[bits] = derive(self.weights[widest], widest, bits)
        return self._derived[bits]


def act_max(bits: int) -> int:
    return 2**bits - 1


def weight_max(bits: int) -> int:
    return 2 ** (bits - 1) - 1


@dataclass
class IntModel:
    table: LayerTable
    tensors: dict[str, BitsVar]
    ops: list[Op]
    input_name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    input_bits: int = 8
    source: dict = field(default_factory=dict)       # provenance (checkpoint, model name): informational

    def __post_init__(self):
        """Bits variables given as text (a file, a hand-built model) become typed here, once."""
        try:
            self.tensors = {t: parse(v) for t, v in self.tensors.items()}
        except BitsError as e:
            raise IRError(f"tensor table: {e}") from None
        for op in self.ops:
            for k in BITS_ATTRS:
                if k in op.attrs:
                    try:
                        op.attrs[k] = parse(op.attrs[k])
                    except BitsError as e:
                        raise IRError(f"op {op.name!r}: attribute {k}: {e}") from None

    # ---- lookups ------------------------------------------------------------------------------
    @property
    def candidate_bits(self) -> tuple[int, ...]:
        return self.table.candidate_bits

    @property
    def output_name(self) -> str:
        return self.ops[-1].output

    def conv_keys(self, op: "Op") -> list[tuple[int, ...]]:
        """Every requant key a conv op must hold: (w, a, out, prev[, prev_shortcut]) over all valid configs."""
        layer = self.table[op.attrs["layer"]]
        return list(itertools.product(layer.w_choices, layer.a_choices,
                                      *(op.attrs[k].domain(self.table) for k in KEY_ATTRS if k in op.attrs)))

    def conv_key(self, op: "Op", bits: Mapping[str, tuple[int, int]]) -> tuple[int, ...]:
        """The requant key a checked config (layer -> (w, a)) selects for a conv op."""
        w, a = bits[op.attrs["layer"]]
        return (w, a, *(op.attrs[k].resolve(bits) for k in KEY_ATTRS if k in op.attrs))

    # ---- configs and inputs, checked where they enter ---------------------------------------------
    def config(self, bits: BitConfig | Mapping[str, tuple[int, int]], name: str = "config") -> BitConfig:
        """A config checked against the layer table (one already checked against it passes unchanged)."""
        try:
            return self.table.validate(bits, None if isinstance(bits, BitConfig) else name)
        except BitConfigError as e:
            raise IRConfigError(str(e)) from None

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
