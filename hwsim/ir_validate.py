"""The one validator of the integer-model IR's invariants (graph, tables, ranges). Raises IRError naming the op."""
from __future__ import annotations

import itertools

import numpy as np

from .bits import ACC, BITS_VAR_TYPES, BitsError, BitsVar, Const, WeightOf
from .ir import FRAC_MAX, M0_MAX, M0_MIN, OP_KINDS, SHIFT_MAX, SHIFT_MIN, IntModel, IRError, Op, Requant, weight_max


def validate(ir: IntModel) -> None:
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
        _CHECKS[op.kind](ir, op, where)
    if not ir.ops or ir.ops[-1].kind != "linear":
        raise IRError("the last op must be the linear classifier that produces the logits")


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
            _domain(ir, var, f"tensor {t!r}")  # raises on an unknown layer or a non-variable


def _domain(ir: IntModel, var: BitsVar, where: str) -> tuple[int, ...]:
    if not isinstance(var, BITS_VAR_TYPES):
        raise IRError(f"{where}: {var!r} is not a bits variable")
    try:
        return var.domain(ir.table)
    except BitsError as e:
        raise IRError(f"{where}: {e}") from None


def _layer(ir: IntModel, name: str, where: str):
    try:
        return ir.table[name]
    except BitsError as e:
        raise IRError(f"{where}: {e}") from None


def _bits(ir: IntModel, t: str, where: str) -> str:
    if t not in ir.tensors:
        raise IRError(f"{where}: tensor {t!r} missing from the tensor table")
    return ir.tensors[t]


def _need(op: Op, where: str, *keys: str) -> None:
    missing = [k for k in keys if k not in op.attrs]
    if missing:
        raise IRError(f"{where}: missing attribute(s) {missing}")


def _check_requant(rq: Requant, n: int, where: str) -> None:
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


def _check_weights(ir: IntModel, op: Op, layer, shape_tail: tuple[int, ...] | None, where: str) -> int:
    if set(op.weights) != set(layer.w_choices):
        raise IRError(f"{where}: weights for bits {sorted(op.weights)}, layer table says {list(layer.w_choices)}")
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


def _layer_of(ir: IntModel, op: Op, kind: str, where: str):
    _need(op, where, "layer")
    layer = _layer(ir, op.attrs["layer"], where)
    if layer.kind != kind:
        raise IRError(f"{where}: layer {layer.name!r} is a {layer.kind}, not a {kind}")
    in_var = _bits(ir, op.inputs[0], where)
    if in_var == ACC or _domain(ir, in_var, where) != layer.a_choices:
        raise IRError(f"{where}: input tensor {op.inputs[0]!r} ({in_var}) does not carry the a_bits of {layer.name!r}")
    return layer


def _check_conv(ir: IntModel, op: Op, where: str) -> None:
    _need(op, where, "stride", "padding", "groups", "clamp", "out_bits", "prev_bits")
    if len(op.inputs) != 1:
        raise IRError(f"{where}: conv takes one input")
    layer = _layer_of(ir, op, "conv", where)
    s, p, g = (op.attrs[k] for k in ("stride", "padding", "groups"))
    if not all(isinstance(v, int) for v in (s, p, g)) or s < 1 or p < 0 or g < 1:
        raise IRError(f"{where}: stride {s}, padding {p}, groups {g} must be ints >= 1, >= 0, >= 1")
    n_out = _check_weights(ir, op, layer, None, where)
    w = next(iter(op.weights.values()))
    if w.ndim != 4 or n_out % g:
        raise IRError(f"{where}: weights {w.shape} are not (O, C/groups, kh, kw) with O divisible by groups {g}")
    out_var = op.attrs["out_bits"]
    if op.attrs["clamp"] is True:
        if _bits(ir, op.output, where) != out_var:
            raise IRError(f"{where}: clamped output {op.output!r} must carry bits '{out_var}'")
    elif op.attrs["clamp"] is False:
        if _bits(ir, op.output, where) != ACC:
            raise IRError(f"{where}: unclamped output {op.output!r} must be an 'acc' tensor")
    else:
        raise IRError(f"{where}: clamp must be true or false")
    prev_var = op.attrs["prev_bits"]
    if not isinstance(prev_var, (WeightOf, Const)):
        raise IRError(f"{where}: prev_bits must be 'w:LAYER' or 'const:B', got '{prev_var}'")
    _domain(ir, out_var, f"{where}: out_bits")
    _domain(ir, prev_var, f"{where}: prev_bits")
    for key in ir.conv_keys(op):
        if key not in op.requant:
            raise IRError(f"{where}: no requant entry for (w, a, out, prev) = {key}")
        _check_requant(op.requant[key], n_out, f"{where} requant {key}")


def _check_linear(ir: IntModel, op: Op, where: str) -> None:
    layer = _layer_of(ir, op, "linear", where)
    n_out = _check_weights(ir, op, layer, None, where)
    if next(iter(op.weights.values())).ndim != 2:
        raise IRError(f"{where}: linear weights must be (classes, features)")
    if n_out != ir.num_classes:
        raise IRError(f"{where}: {n_out} outputs, the model has {ir.num_classes} classes")
    for key in itertools.product(layer.w_choices, layer.a_choices):
        b = op.bias.get(key)
        if not isinstance(b, np.ndarray) or b.dtype != np.int64 or b.shape != (n_out,):
            raise IRError(f"{where}: bias for (w, a) = {key} must be int64 of shape ({n_out},)")


def _check_rescale(ir: IntModel, op: Op, where: str) -> None:
    _need(op, where, "out_bits")
    in_var = _bits(ir, op.inputs[0], where)
    if len(op.inputs) != 1 or in_var == ACC or _bits(ir, op.output, where) != ACC:
        raise IRError(f"{where}: rescale reads one code tensor and writes an 'acc' tensor")
    for key in itertools.product(_domain(ir, in_var, where), _domain(ir, op.attrs["out_bits"], f"{where}: out_bits")):
        if key not in op.requant:
            raise IRError(f"{where}: no rescale entry for (in, out) = {key}")
        _check_requant(op.requant[key], 1, f"{where} rescale {key}")
        if op.requant[key].bias[0] != 0 or op.requant[key].frac[0] != 0:
            raise IRError(f"{where}: rescale {key} must have zero bias and frac")


def _check_add(ir: IntModel, op: Op, where: str) -> None:
    if len(op.inputs) != 2 or any(_bits(ir, t, where) != ACC for t in op.inputs):
        raise IRError(f"{where}: add takes two 'acc' tensors")
    if _bits(ir, op.output, where) == ACC:
        raise IRError(f"{where}: add output must be a code tensor (it clamps)")
    f = op.attrs.get("frac_bits")
    if isinstance(f, bool) or not isinstance(f, int) or not 0 <= f <= 24:
        raise IRError(f"{where}: frac_bits must be an integer in [0, 24], got {f!r}")


def _same_bits(ir: IntModel, op: Op, where: str) -> str:
    var = _bits(ir, op.inputs[0], where)
    if len(op.inputs) != 1 or var == ACC or _bits(ir, op.output, where) != var:
        raise IRError(f"{where}: {op.kind} maps one code tensor to one of the same bits")
    return var


def _check_maxpool(ir: IntModel, op: Op, where: str) -> None:
    _need(op, where, "kernel", "stride", "padding")
    _same_bits(ir, op, where)
    k, s, p = (op.attrs[x] for x in ("kernel", "stride", "padding"))
    if not all(isinstance(v, int) for v in (k, s, p)) or k < 1 or s < 1 or not 0 <= p <= k // 2:
        raise IRError(f"{where}: kernel {k}, stride {s}, padding {p}: padding must be in [0, kernel//2]")


def _check_avgpool(ir: IntModel, op: Op, where: str) -> None:
    _same_bits(ir, op, where)
    if set(op.requant) != {()}:
        raise IRError(f"{where}: avgpool holds one requant entry keyed ()")
    _check_requant(op.requant[()], 1, where)
    if op.requant[()].bias[0] != 0 or op.requant[()].frac[0] != 0:
        raise IRError(f"{where}: avgpool must have zero bias and frac")


def _check_flatten(ir: IntModel, op: Op, where: str) -> None:
    _same_bits(ir, op, where)


_CHECKS = {"conv": _check_conv, "linear": _check_linear, "rescale": _check_rescale, "add": _check_add,
           "maxpool": _check_maxpool, "avgpool": _check_avgpool, "flatten": _check_flatten}
