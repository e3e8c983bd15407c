"""The registry of conv methods by name: each pairs its exactness proof (conv_plan.py) with its back-end.

`conv2d_acc(..., method=name)` looks the name up here and nowhere else; "auto" is not a method but the
planner's choice among them (`conv_plan.auto_method`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import Registry
from . import conv_plan as P
from ._check import KernelInputError
from .conv_madd import conv_madd
from .direct import conv_direct, conv_direct_packed
from .gemm_fp32 import conv_fp32
from .gemm_int import conv_int8, conv_int64

AUTO = "auto"


@dataclass(frozen=True)
class ConvMethod:
    name: str
    prove: Callable[[P.OperandBounds, str], int]   # the plan's param, or KernelInputError when not exact
    run: Callable[[np.ndarray, np.ndarray, int, int, int, P.ConvPlan, np.ndarray], None]   # fills out
    writes_every_output: bool = False              # out may then start uninitialised

    def plan(self, b: P.OperandBounds, where: str) -> P.ConvPlan:
        return P.ConvPlan(self.name, b.accd, self.prove(b, where), b)


CONV_METHODS = Registry("conv method")


def register_conv_method(method: ConvMethod) -> ConvMethod:
    if method.name == AUTO:
        raise ValueError(f"conv method name {AUTO!r} is reserved for the planner's choice")
    return CONV_METHODS.register(method.name, method)


def conv_method(name: str, where: str) -> ConvMethod:
    """The registered method `name` (KernelInputError naming the known ones otherwise)."""
    if isinstance(name, str) and name in CONV_METHODS:
        return CONV_METHODS[name]
    raise KernelInputError(f"{where}: method must be one of {(AUTO,) + tuple(CONV_METHODS)}, got {name!r}")


def plan_conv(b: P.OperandBounds, method: str, where: str, direct_ok: bool = False,
              madd_ok: bool = False) -> P.ConvPlan:
    """The plan of `method` (or of auto's choice; auto takes direct only if `direct_ok`, madd only if
    `madd_ok`) for bounds b."""
    if isinstance(method, str) and method == AUTO:
        method = P.auto_method(b, direct_ok, madd_ok)
    return conv_method(method, where).plan(b, where)


for _m in (ConvMethod("direct", P.direct_flush_channels, conv_direct),
           ConvMethod("packed", P.packed_flush_channels, conv_direct_packed),
           ConvMethod("madd", P.madd_flush_steps, conv_madd, writes_every_output=True),
           ConvMethod("fp32", P.fp32_element_chunk, conv_fp32, writes_every_output=True),
           ConvMethod("int8", P.int8_bytes, conv_int8),
           ConvMethod("int64", P.int64_exact, conv_int64)):
    register_conv_method(_m)
