"""The one validator of the integer-model IR's invariants: the graph and layer table here, each op by its kind
(hwsim/ops/). Raises IRError naming the op."""
from __future__ import annotations

import numpy as np

from .bits import ACC, Const, WeightOf
from .errors import excerpt
from .ir import IntModel, IRError
from .ops import OP_KINDS
from .ops.checks import domain

MAX_ELEMENTS = 1 << 24   # values per sample in any tensor: far above CIFAR's 3x32x32, far below memory


def validate(ir: IntModel) -> IntModel:
    """The model itself when every invariant holds; IRError naming the first broken one otherwise."""
    _check_layers(ir)
    _check_tensors(ir)
    produced = {ir.input_name}
    shapes = {ir.input_name: tuple(ir.input_shape)}
    names = set()
    for i, op in enumerate(ir.ops):
        where = f"op {i} ({op.name!r}, {op.kind})"
        if op.kind not in OP_KINDS:
            raise IRError(f"{where}: unknown op kind; the vocabulary is {list(OP_KINDS)}")
        _check_signature(op, OP_KINDS[op.kind], where)
        if op.name in names:
            raise IRError(f"{where}: duplicate op name")
        names.add(op.name)
        for t in op.inputs:
            if t not in produced:
                raise IRError(f"{where}: input tensor {t!r} is used before any op produces it")
        if op.output in produced:
            raise IRError(f"{where}: output tensor {op.output!r} is produced twice")
        if op.output not in ir.tensors:
            raise IRError(f"{where}: output tensor {op.output!r} missing from the tensor table")
        produced.add(op.output)
        OP_KINDS[op.kind].check(ir, op, where)
        shapes[op.output] = _out_shape(ir, op, [shapes[t] for t in op.inputs], where)
    if not ir.ops or ir.ops[-1].kind != "linear":
        raise IRError("the last op must be the linear classifier that produces the logits")
    return ir


def _check_signature(op, kind, where: str) -> None:
    """Tensor names are strings, the op reads as many as its kind takes and carries exactly its attributes."""
    if not all(isinstance(t, str) for t in (op.name, op.output, *op.inputs)):
        raise IRError(f"{where}: op, input and output names must be strings")
    if len(op.inputs) != kind.arity:
        raise IRError(f"{where}: reads {len(op.inputs)} tensors; {kind.name} reads {kind.arity}")
    missing = [a for a in kind.attrs if a not in op.attrs]
    if missing:
        raise IRError(f"{where}: missing attribute(s) {missing}")
    unknown = [a for a in op.attrs if a not in kind.attrs + kind.optional_attrs]
    if unknown:
        optional = f" (and may carry {list(kind.optional_attrs)})" if kind.optional_attrs else ""
        raise IRError(f"{where}: unknown attribute(s) {excerpt(unknown)}; {kind.name} carries {list(kind.attrs)}"
                      f"{optional}")


def _out_shape(ir: IntModel, op, ins, where: str) -> tuple[int, ...]:
    """The op's per-sample output shape, checked against what its weights read; every size at least 1."""
    try:
        out = tuple(int(d) for d in OP_KINDS[op.kind].out_shape(ir, op, ins))
    except IRError as e:
        raise IRError(f"{where}: {e}") from None
    if not out or min(out) < 1 or int(np.prod(out, dtype=object)) > MAX_ELEMENTS:
        raise IRError(f"{where}: output shape {out} is empty or larger than {MAX_ELEMENTS} values per sample")
    return out


def _check_layers(ir: IntModel) -> None:
    """The table checks its own structure (names, kinds, ties); the IR adds its width range (int8 codes)."""
    for l in ir.table:
        for what, ch in (("w_choices", l.w_choices), ("a_choices", l.a_choices)):
            if any(not 2 <= b <= 8 for b in ch):
                raise IRError(f"layer {l.name!r}: {what} {list(ch)} must be bit-widths in [2, 8]")
    shape = ir.input_shape
    if (ir.input_bits != 8 or len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or min(shape) < 1 or int(np.prod(shape, dtype=object)) > MAX_ELEMENTS):
        raise IRError(f"input must be 8-bit codes of shape (C, H, W); got {ir.input_bits} bits, {ir.input_shape}")


def _check_tensors(ir: IntModel) -> None:
    if ir.tensors.get(ir.input_name) != Const(ir.input_bits):
        raise IRError(f"input tensor {ir.input_name!r} must have bits 'const:{ir.input_bits}'")
    for t, var in ir.tensors.items():
        if isinstance(var, WeightOf):
            raise IRError(f"tensor {t!r}: bits '{var}' name a weight width; a tensor carries const:B, a:LAYER or acc")
        if var != ACC:
            domain(ir, var, f"tensor {t!r}")  # raises on an unknown layer or a non-variable
