"""Checks the op kinds share (hwsim/ops/<kind>.py): attributes, tensors' bits, weight and requant tables.
Each raises IRError naming `where` (the op)."""
from __future__ import annotations

import numpy as np

from ..bits import ACC, BITS_VAR_TYPES, BitsError, BitsVar
from ..errors import excerpt
from ..nested_codes import NESTED, WEIGHT_CODES
from ..ir import FRAC_MAX, M0_MAX, M0_MIN, SHIFT_MAX, SHIFT_MIN, IntModel, IRError, Op, Requant, weight_max


def domain(ir: IntModel, var: BitsVar, where: str) -> tuple[int, ...]:
    if not isinstance(var, BITS_VAR_TYPES):
        raise IRError(f"{where}: {var!r} is not a bits variable")
    try:
        return var.domain(ir.table)
    except BitsError as e:
        raise IRError(f"{where}: {e}") from None


def table_layer(ir: IntModel, name: str, where: str):
    if not isinstance(name, str):
        raise IRError(f"{where}: layer {excerpt(name)} is not a layer name")
    try:
        return ir.table[name]
    except BitsError as e:
        raise IRError(f"{where}: {e}") from None


def tensor_bits(ir: IntModel, t: str, where: str) -> BitsVar:
    if t not in ir.tensors:
        raise IRError(f"{where}: tensor {t!r} missing from the tensor table")
    return ir.tensors[t]


def need(op: Op, where: str, *keys: str) -> None:
    missing = [k for k in keys if k not in op.attrs]
    if missing:
        raise IRError(f"{where}: missing attribute(s) {missing}")


def check_requant(rq: Requant, n: int, where: str) -> None:
    for arr, name, dt in ((rq.m0, "m0", np.int32), (rq.shift, "shift", np.int32), (rq.bias, "bias", np.int64),
                          (rq.frac, "frac", np.int64)):
        if not isinstance(arr, np.ndarray) or arr.dtype != dt or arr.shape != (n,):
            raise IRError(f"{where}: {name} must be {np.dtype(dt).name} of shape ({n},), got "
                          f"{getattr(arr, 'dtype', type(arr).__name__)} {getattr(arr, 'shape', '')}")
    mag = np.abs(rq.m0.astype(np.int64))
    bad = (mag != 0) & ((mag < M0_MIN) | (mag >= M0_MAX))
    if bad.any():
        raise IRError(f"{where}: |M0| = {int(mag[bad][0])} outside [2^30, 2^31) and not 0")
    if (np.abs(rq.frac) > FRAC_MAX).any():
        raise IRError(f"{where}: |frac| = {int(np.abs(rq.frac).max())} exceeds 2^30")
    badsh = (rq.shift < SHIFT_MIN) | (rq.shift > SHIFT_MAX)
    if badsh.any():
        raise IRError(f"{where}: shift {int(rq.shift[badsh][0])} outside [{SHIFT_MIN}, {SHIFT_MAX}]")


def check_weights(ir: IntModel, op: Op, layer, shape_tail: tuple[int, ...] | None, where: str) -> int:
    if op.weight_codes not in WEIGHT_CODES:
        raise IRError(f"{where}: weight_codes {excerpt(op.weight_codes)} is not one of {list(WEIGHT_CODES)}")
    stored = {max(layer.w_choices)} if op.weight_codes == NESTED else set(layer.w_choices)
    if set(op.weights) != stored:
        raise IRError(f"{where}: {op.weight_codes} weights store bits {sorted(op.weights)}; for the layer table's "
                      f"{list(layer.w_choices)} they must store {sorted(stored)}")
    shape = None
    for b, w in op.weights.items():
        if not isinstance(w, np.ndarray) or w.dtype != np.int8:
            raise IRError(f"{where}: {b}-bit weights must be int8 codes")
        if shape is None:
            shape = w.shape
        if w.shape != shape:
            raise IRError(f"{where}: {b}-bit weights have shape {w.shape}, others {shape}")
        if w.size and int(np.abs(w.astype(np.int16)).max()) > weight_max(b):
            raise IRError(f"{where}: {b}-bit weight code {int(np.abs(w.astype(np.int16)).max())} outside "
                          f"+-{weight_max(b)}")
    if shape_tail is not None and tuple(shape[1:]) != shape_tail:
        raise IRError(f"{where}: weight shape {shape} does not fit the op (expected (O,) + {shape_tail})")
    return shape[0]


def layer_of(ir: IntModel, op: Op, kind: str, where: str):
    need(op, where, "layer")
    layer = table_layer(ir, op.attrs["layer"], where)
    if layer.kind != kind:
        raise IRError(f"{where}: layer {layer.name!r} is a {layer.kind}, not a {kind}")
    in_var = tensor_bits(ir, op.inputs[0], where)
    if in_var == ACC or domain(ir, in_var, where) != layer.a_choices:
        raise IRError(f"{where}: input tensor {op.inputs[0]!r} ({in_var}) does not carry the a_bits of {layer.name!r}")
    return layer


def same_bits(ir: IntModel, op: Op, where: str) -> BitsVar:
    var = tensor_bits(ir, op.inputs[0], where)
    if len(op.inputs) != 1 or var == ACC or tensor_bits(ir, op.output, where) != var:
        raise IRError(f"{where}: {op.kind} maps one code tensor to one of the same bits")
    return var


def plain_int(v) -> bool:
    """An int that is not a bool: bool is an int subclass, and a manifest's `true` must not pass as 1."""
    return isinstance(v, int) and not isinstance(v, bool)
