"""maxpool: max over windows of codes (zero padding is exact: codes >= 0)."""
from __future__ import annotations

from .. import kernels as K
from ..ir import IntModel, IRError, Op
from .checks import need, plain_int, same_bits
from .kind import OpKind


def check(ir: IntModel, op: Op, where: str) -> None:
    need(op, where, "kernel", "stride", "padding")
    same_bits(ir, op, where)
    k, s, p = (op.attrs[x] for x in ("kernel", "stride", "padding"))
    if not all(plain_int(v) for v in (k, s, p)) or k < 1 or s < 1 or not 0 <= p <= k // 2:
        raise IRError(f"{where}: kernel {k}, stride {s}, padding {p}: padding must be in [0, kernel//2]")


def out_shape(ir: IntModel, op: Op, ins) -> tuple[int, ...]:
    c, h, w = ins[0]
    k, s, p = (int(op.attrs[x]) for x in ("kernel", "stride", "padding"))
    return c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def execute(run, op: Op, x):
    return K.maxpool2d(x, op.attrs["kernel"], op.attrs["stride"], op.attrs["padding"])


KIND = OpKind("maxpool", check, out_shape, execute, attrs=("kernel", "stride", "padding"))
