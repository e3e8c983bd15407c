"""flatten: (N, C, 1, 1) -> (N, C)."""
from __future__ import annotations

import numpy as np

from ..ir import IntModel, Op
from .checks import same_bits
from .kind import OpKind


def check(ir: IntModel, op: Op, where: str) -> None:
    same_bits(ir, op, where)


def out_shape(ir: IntModel, op: Op, ins) -> tuple[int, ...]:
    return (int(np.prod(ins[0])),)


def execute(run, op: Op, x):
    return np.ascontiguousarray(x.reshape(x.shape[0], -1))


KIND = OpKind("flatten", check, out_shape, execute)
