"""The one validator of the integer-model IR's invariants: the graph and layer table here, each op by its kind
(hwsim/ops/). Raises IRError naming the op."""
from __future__ import annotations

from .bits import ACC, Const, WeightOf
from .ir import IntModel, IRError
from .ops import OP_KINDS
from .ops.checks import domain


def validate(ir: IntModel) -> IntModel:
    """The model itself when every invariant holds; IRError naming the first broken one otherwise."""
    _check_layers(ir)
    _check_tensors(ir)
    produced = {ir.input_name}
    names = set()
    for i, op in enumerate(ir.ops):
        where = f"op {i} ({op.name!r}, {op.kind})"
        if op.kind not in OP_KINDS:
            raise IRError(f"{where}: unknown op kind; the vocabulary is {list(OP_KINDS)}")
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
    if not ir.ops or ir.ops[-1].kind != "linear":
        raise IRError("the last op must be the linear classifier that produces the logits")
    return ir


def _check_layers(ir: IntModel) -> None:
    """The table checks its own structure (names, kinds, ties); the IR adds its width range (int8 codes)."""
    for l in ir.table:
        for what, ch in (("w_choices", l.w_choices), ("a_choices", l.a_choices)):
            if any(not 2 <= b <= 8 for b in ch):
                raise IRError(f"layer {l.name!r}: {what} {list(ch)} must be bit-widths in [2, 8]")
    if ir.input_bits != 8 or len(ir.input_shape) != 3 or min(ir.input_shape) < 1:
        raise IRError(f"input must be 8-bit codes of shape (C, H, W); got {ir.input_bits} bits, {ir.input_shape}")


def _check_tensors(ir: IntModel) -> None:
    if ir.tensors.get(ir.input_name) != Const(ir.input_bits):
        raise IRError(f"input tensor {ir.input_name!r} must have bits 'const:{ir.input_bits}'")
    for t, var in ir.tensors.items():
        if isinstance(var, WeightOf):
            raise IRError(f"tensor {t!r}: bits '{var}' name a weight width; a tensor carries const:B, a:LAYER or acc")
        if var != ACC:
            domain(ir, var, f"tensor {t!r}")  # raises on an unknown layer or a non-variable
