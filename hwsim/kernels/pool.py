"""Pooling on activation codes: max pool with zero padding (exact because codes are >= 0), global sum."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar, value_range


@njit(parallel=True, cache=True)
def _maxpool(x, k, s, p, out):
    """out[n, c, y, x] = max over the k x k window at (y*s - p, x*s - p); outside taps count as 0."""
    N, C, H, W = x.shape
    Ho, Wo = out.shape[2], out.shape[3]
    for t in prange(N * C):
        n = t // C
        c = t % C
        for oy in range(Ho):
            for ox in range(Wo):
                best = np.int64(0)          # the zero padding, and the floor of any code
                for ky in range(k):
                    iy = oy * s - p + ky
                    if iy < 0 or iy >= H:
                        continue
                    for kx in range(k):
                        ix = ox * s - p + kx
                        if 0 <= ix < W:
                            v = np.int64(x[n, c, iy, ix])
                            if v > best:
                                best = v
                out[n, c, oy, ox] = best


def maxpool2d(x: np.ndarray, k: int, s: int, p: int) -> np.ndarray:
    """int32 max pool of codes x (N, C, H, W) >= 0: kernel k, stride s, zero padding p in [0, k//2]."""
    x = int_array("x", x, 4)
    k = int_scalar("kernel", k, 1)
    s = int_scalar("stride", s, 1)
    p = int_scalar("padding", p, 0, k // 2)
    N, C, H, W = x.shape
    if H + 2 * p < k or W + 2 * p < k:
        raise KernelInputError(f"maxpool kernel {k} does not fit input {H}x{W} with padding {p}")
    lo, hi = value_range(x)
    if lo < 0 or hi > 2**31 - 1:
        raise KernelInputError(f"maxpool2d needs codes in [0, 2^31 - 1], got values in [{lo}, {hi}]")
    out = np.zeros((N, C, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1), np.int32)
    if out.size:
        _maxpool(np.ascontiguousarray(x), k, s, p, out)
    return out


def global_sum(x: np.ndarray) -> np.ndarray:
    """int64 (N, C) sums of x (N, C, H, W) over H and W (exact: |sum| <= H*W*2^63 is refused below)."""
    x = int_array("x", x, 4)
    lo, hi = value_range(x)
    if x.shape[2] * x.shape[3] * max(abs(lo), abs(hi)) > 2**63 - 1:
        raise KernelInputError(f"global_sum of {x.shape[2]}x{x.shape[3]} values up to {max(abs(lo), abs(hi))} "
                               f"may leave int64")
    return x.sum(axis=(2, 3), dtype=np.int64)
