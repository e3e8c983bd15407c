"""linear: int matmul; int32 logits = acc + B (no requant)."""
from __future__ import annotations

import itertools

import numpy as np

from .. import kernels as K
from ..dataflow.layers import LayerShape
from ..ir import IntModel, IRError, Op
from .checks import check_weights, layer_of
from .kind import OpKind


def check(ir: IntModel, op: Op, where: str) -> None:
    layer = layer_of(ir, op, "linear", where)
    n_out = check_weights(ir, op, layer, None, where)
    if next(iter(op.weights.values())).ndim != 2:
        raise IRError(f"{where}: linear weights must be (classes, features)")
    if n_out != ir.num_classes:
        raise IRError(f"{where}: {n_out} outputs, the model has {ir.num_classes} classes")
    for key in itertools.product(layer.w_choices, layer.a_choices):
        b = op.bias.get(key)
        if not isinstance(b, np.ndarray) or b.dtype != np.int64 or b.shape != (n_out,):
            raise IRError(f"{where}: bias for (w, a) = {key} must be int64 of shape ({n_out},)")


def layer_shape(ir: IntModel, op: Op, ins) -> LayerShape:
    w = next(iter(op.weights.values()))
    feat = int(np.prod(ins[0]))
    return LayerShape(op.attrs["layer"], "linear", feat, w.shape[0], 1, 1, 1, 0, 1, 1, 1, ir.tensors[op.output])


def out_shape(ir: IntModel, op: Op, ins) -> tuple[int, ...]:
    w = next(iter(op.weights.values()))
    if w.shape[1] != int(np.prod(ins[0])):
        raise IRError(f"weights {w.shape} read {w.shape[1]} features, but the input {ins[0]} has "
                      f"{int(np.prod(ins[0]))}")
    return (w.shape[0],)


def execute(run, op: Op, x):
    layer = op.attrs["layer"]
    w_bits, a_bits = run.bits[layer]
    acc = K.linear_acc(x, op.weights_at(w_bits))
    bias = op.bias[(w_bits, a_bits)]
    run.acc_plus_bias(layer, acc, bias)
    return (acc.astype(np.int64) + bias[None, :]).astype(np.int32)


KIND = OpKind("linear", check, out_shape, execute, layer_shape, attrs=("layer",))
