"""rescale: shortcut codes -> the add's scale, rq with a scalar (M0, shift), unclamped."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .. import kernels as K
from ..bits import ACC
from ..ir import IntModel, IRError, Op
from .checks import check_requant, domain, need, tensor_bits
from .kind import OpKind
from .prepared import prepared


def check(ir: IntModel, op: Op, where: str) -> None:
    need(op, where, "out_bits")
    in_var = tensor_bits(ir, op.inputs[0], where)
    if len(op.inputs) != 1 or in_var == ACC or tensor_bits(ir, op.output, where) != ACC:
        raise IRError(f"{where}: rescale reads one code tensor and writes an 'acc' tensor")
    for key in itertools.product(domain(ir, in_var, where), domain(ir, op.attrs["out_bits"], f"{where}: out_bits")):
        if key not in op.requant:
            raise IRError(f"{where}: no rescale entry for (in, out) = {key}")
        check_requant(op.requant[key], 1, f"{where} rescale {key}")
        if op.requant[key].bias[0] != 0 or op.requant[key].frac[0] != 0:
            raise IRError(f"{where}: rescale {key} must have zero bias and frac")


def out_shape(ir: IntModel, op: Op, ins) -> tuple[int, ...]:
    return ins[0]


def execute(run, op: Op, x):
    if op.name in run.deferred:
        return DeferredRescale(x, op)
    r = entry(run, op)
    x = K.as_nchw(x)
    if x.size == 0:
        return np.zeros(x.shape, np.int32)
    rows = x.reshape(x.shape[0], 1, -1)          # the scalar entry as one channel, one task per image
    out = K.requantize_ranged(rows, prepared(r), *run.INT32, False,
                              lambda lo, hi: run.check_rescaled(op.name, int(lo[0]), int(hi[0]), r))[0]
    return out.reshape(x.shape)


@dataclass(frozen=True)
class DeferredRescale:
    """A rescale left to its only reader, the residual add, which applies it in its own pass
    (kernels.add_rescaled) so the int32 rescaled shortcut is never stored."""
    codes: np.ndarray
    op: Op

    def entry(self, run):
        return entry(run, self.op)


def entry(run, op: Op):
    """The requant entry a rescale op selects under the run's bit config: (input bits, output bits)."""
    return op.requant[(run.ir.tensors[op.inputs[0]].resolve(run.bits), op.attrs["out_bits"].resolve(run.bits))]


def deferrable(ir: IntModel) -> set[str]:
    """Names of the rescale ops whose output only one add reads (and which is not the IR's output)."""
    readers: dict[str, list[Op]] = {}
    for op in ir.ops:
        for t in op.inputs:
            readers.setdefault(t, []).append(op)
    return {op.name for op in ir.ops if op.kind == "rescale" and op.output != ir.output_name
            and [r.kind for r in readers.get(op.output, [])] == ["add"]}


def acc_bound(op: Op, key: tuple) -> np.ndarray:
    """The largest input code, 2^in_bits - 1: a rescale multiplies codes directly."""
    return np.full(1, 2 ** key[0] - 1, np.int64)


KIND = OpKind("rescale", check, out_shape, execute, attrs=("out_bits",), acc_bound=acc_bound)
