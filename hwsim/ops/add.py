"""add: clamp(a + b, 0, 2^b_out - 1) of two unclamped inputs in one scale, rounding away frac_bits first."""
from __future__ import annotations

from .. import kernels as K
from ..bits import ACC
from ..ir import IntModel, IRError, Op
from .checks import tensor_bits
from .kind import OpKind
from .conv import DeferredConv
from .rescale import DeferredRescale


def check(ir: IntModel, op: Op, where: str) -> None:
    if len(op.inputs) != 2 or any(tensor_bits(ir, t, where) != ACC for t in op.inputs):
        raise IRError(f"{where}: add takes two 'acc' tensors")
    if tensor_bits(ir, op.output, where) == ACC:
        raise IRError(f"{where}: add output must be a code tensor (it clamps)")
    f = op.attrs.get("frac_bits")
    if isinstance(f, bool) or not isinstance(f, int) or not 0 <= f <= 24:
        raise IRError(f"{where}: frac_bits must be an integer in [0, 24], got {f!r}")


def out_shape(ir: IntModel, op: Op, ins) -> tuple[int, ...]:
    if ins[0] != ins[1]:
        raise IRError(f"adds tensors of shapes {ins[0]} and {ins[1]}")
    return ins[0]


def execute(run, op: Op, a, b):
    hi = 2 ** run.ir.tensors[op.output].resolve(run.bits) - 1
    f = op.attrs["frac_bits"]
    convs = sorted((v for v in (a, b) if isinstance(v, DeferredConv)), key=lambda v: run.ir.ops.index(v.op))
    if convs:       # the later conv takes the add into its tiles; the earlier one (if any) runs first, as in op order
        fused = convs[-1]
        other = b if a is fused else a
        if isinstance(other, DeferredConv):
            other = other.materialize(run)
        out = fused.add_into(run, op, other, f, hi)
        if out is not None:
            return out
        a, b = fused.materialize(run), other
    if isinstance(a, DeferredRescale):
        a, b = b, a
    if isinstance(b, DeferredRescale):        # the shortcut's rescale in this pass (bytes out when they fit)
        r = b.entry(run)
        out, (lo_s, hi_s), (lo_c, hi_c) = K.add_rescaled(a, b.codes, int(r.m0[0]), int(r.shift[0]), f, 0, hi,
                                                         narrow=True)
        if b.codes.size:
            run.check_rescaled(b.op.name, lo_c, hi_c, r)
    else:
        out, lo_s, hi_s = K.add_round_clamp(a, b, f, 0, hi, narrow=True)     # bytes when the codes fit
    if f and a.size:  # the sum is an int32 intermediate before the rounding shift
        run.check(f"{op.name} (sum)", lo_s, hi_s, run.INT32, 32)
    return out


KIND = OpKind("add", check, out_shape, execute, attrs=("frac_bits",), arity=2)
