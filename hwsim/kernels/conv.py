"""Exact integer convolution and matmul accumulators: the public entry points.

A call validates its operands, asks the planner (conv_plan.py) for a method proven exact on the operands'
actual ranges, and runs that method's back-end from the registry (conv_methods.py): the byte multiply-add
implicit GEMM (conv_madd.py), the direct float32 conv (direct.py) and its packed variant (two output
channels per float32), the float32 sgemm in exact
chunks (gemm_fp32.py), or the int8 / int64 GEMMs (gemm_int.py). The result is the same exact integers whichever runs; its dtype depends only on the bound
(int32 when K*max|x|*max|w| fits int32, else int64), not on the method.
"""
from __future__ import annotations

import numpy as np

from ._check import KernelInputError, int_array, int_scalar, value_range
from .buffers import zeroed_buffer
from .conv_methods import CONV_METHODS, plan_conv
from .conv_madd import reads_in_place
from .conv_plan import operand_bounds, prefers_direct, prefers_madd
from .nhwc import PaddedNHWC
from .madd_tile import HAS_AVX2
from .im2col import im2col, weight_matrix

__all__ = ["conv2d_acc", "linear_acc", "matmul_acc", "im2col", "weight_matrix"]


def conv2d_acc(x, w: np.ndarray, stride: int, padding: int, groups: int,
               method: str = "auto", scratch: bool = False) -> np.ndarray:
    """Exact integer conv accumulators acc[n, o, y, x] = sum_{c,ky,kx} x[n, g*Cg+c, y*s+ky-p, x*s+kx-p] * w[o, c, ky, kx].

    x: integer codes (N, C, H, W), any integer dtype, or a PaddedNHWC (read in place where the plan is an
    ungrouped madd conv and its buffer is madd's layout, else converted); w: integer codes (O, C/groups, kh, kw). Zero padding
    `padding` on each side, `stride`, `groups` (groups == C == O is depthwise). `method`: "auto" (madd for
    ungrouped convs of byte codes on AVX2 when 2*max|x|*max|w| <= 2^15 - 1 and the int32 bound holds; else direct
    for small channel counts when kh*kw*max|x|*max|w| < 2^24, packed two channels per float where that
    packing flushes every >= 8 channels; else fp32 when min(K, 16)*max|x|*max|w| < 2^24, i.e. a K chunk
    holds at least min(K, 16) terms; else int64), "direct", "packed", "madd", "fp32", "int8" or "int64" (conv_plan.py says why each is exact; a forced method that would not be exact is a
    KernelInputError). Returns int32 when the worst-case bound K*max|x|*max|w| fits int32, else int64;
    never wraps. `scratch`: the result may be a kept buffer that the next scratch call of the same shape
    overwrites (for a caller that consumes it at once; saves faulting in fresh pages per layer).
    """
    x, w, (N, O, Ho, Wo), plan = planned_conv(x, w, stride, padding, groups, method, "conv2d_acc")
    if isinstance(x, PaddedNHWC) and not (plan.method == "madd" and groups == 1 and reads_in_place(x, padding)):
        x = x.nchw()
    k = plan.bounds.k
    backend = CONV_METHODS[plan.method]
    if scratch:
        out = zeroed_buffer((N, O, Ho, Wo), plan.accd, ("acc",))
        if not (backend.writes_every_output and k):
            out.fill(0)
    else:
        out = (np.empty if backend.writes_every_output and k else np.zeros)((N, O, Ho, Wo), plan.accd)
    if out.size and k:      # an empty sum is 0
        backend.run(x, w, stride, padding, groups, plan, out)
    return out


def planned_conv(x, w, stride, padding, groups, method: str, where: str):
    """(x, w, output shape (N, O, Ho, Wo), the plan of `method`) for validated conv operands (see conv2d_acc);
    a PaddedNHWC x's range is its writer's, else a scan of its buffer (whose zero ring keeps it a bound)."""
    if isinstance(x, PaddedNHWC):
        shape_x, x_range = x.shape, x.value_range or value_range(int_array("x", x.buf, 4))
    else:
        x = int_array("x", x, 4)
        shape_x, x_range = x.shape, value_range(x)
    w, shape, plan = planned_shape(shape_x, x_range, w, stride, padding, groups, method, where)
    return x, w, shape, plan


def planned_shape(x_shape, x_range, w, stride, padding, groups, method: str, where: str):
    """(w, output shape, plan) of a conv reading an input of `x_shape` (N, C, H, W) whose codes lie in
    x_range (lo, hi)."""
    w = int_array("w", w, 4)
    stride = int_scalar("stride", stride, 1)
    padding = int_scalar("padding", padding, 0)
    groups = int_scalar("groups", groups, 1)
    N, C, H, W = x_shape
    O, Cg, kh, kw = w.shape
    if C % groups or O % groups:
        raise KernelInputError(f"groups={groups} must divide input channels {C} and output channels {O}")
    if Cg != C // groups:
        raise KernelInputError(f"w has {Cg} input channels per group, x has {C} channels / groups {groups} "
                               f"= {C // groups}")
    if kh < 1 or kw < 1 or H + 2 * padding < kh or W + 2 * padding < kw:
        raise KernelInputError(f"kernel {kh}x{kw} does not fit input {H}x{W} with padding {padding}")
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    k, taps = kh * kw * Cg, kh * kw
    bounds = operand_bounds(*x_range, *value_range(w), k, taps, where)
    plan = plan_conv(bounds, method, where, prefers_direct(Cg, O // groups, taps, stride),
                     prefers_madd(groups, HAS_AVX2))
    return w, (N, O, Ho, Wo), plan


def linear_acc(x: np.ndarray, w: np.ndarray, method: str = "auto") -> np.ndarray:
    """Exact integer matmul acc[n, o] = sum_k x[n, k] * w[o, k]; int32 when the bound fits, else int64."""
    x = int_array("x", x, 2)
    w = int_array("w", w, 2)
    if x.shape[1] != w.shape[1]:
        raise KernelInputError(f"linear_acc: x has {x.shape[1]} features, w expects {w.shape[1]}")
    return conv2d_acc(x[:, :, None, None], w[:, :, None, None], 1, 0, 1, method)[:, :, 0, 0]


def matmul_acc(a: np.ndarray, b: np.ndarray, method: str = "auto") -> np.ndarray:
    """Exact integer a (M, K) @ b (O, K).T -> (M, O), same exactness rule as conv2d_acc (a GEMM building
    block for decompositions such as bit-planes)."""
    return linear_acc(a, b, method)
