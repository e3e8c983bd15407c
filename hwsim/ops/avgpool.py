"""avgpool: global sum, then rq with M = 1/(H*W), clamped to the input's bits."""
from __future__ import annotations

from .. import kernels as K
from ..ir import IntModel, IRError, Op
from .checks import check_requant, same_bits
from .kind import OpKind
from .prepared import prepared


def check(ir: IntModel, op: Op, where: str) -> None:
    same_bits(ir, op, where)
    if set(op.requant) != {()}:
        raise IRError(f"{where}: avgpool holds one requant entry keyed ()")
    check_requant(op.requant[()], 1, where)
    if op.requant[()].bias[0] != 0 or op.requant[()].frac[0] != 0:
        raise IRError(f"{where}: avgpool must have zero bias and frac")


def out_shape(ir: IntModel, op: Op, ins) -> tuple[int, ...]:
    return ins[0][0], 1, 1


def execute(run, op: Op, x):
    r = op.requant[()]
    s = K.global_sum(x)
    run.check(op.name, int(s.min(initial=0)), int(s.max(initial=0)), run.lim, run.acc_bits)
    hi = 2 ** run.ir.tensors[op.output].resolve(run.bits) - 1
    y = K.requantize_ranged(s.reshape(-1, 1), prepared(r), 0, hi, True)[0]   # one scalar entry: one channel
    return y.reshape(s.shape[0], s.shape[1], 1, 1)


KIND = OpKind("avgpool", check, out_shape, execute)
