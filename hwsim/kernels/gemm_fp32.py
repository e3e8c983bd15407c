"""The "fp32" back-end: NHWC im2col straight into float32, one BLAS sgemm per K chunk, exact integers out.

Exactness (gemmlowp style) is the planner's (conv_plan.py `fp32_chunks`): operands are integer codes and
within each chunk every product and every partial sum any summation order (blocking, SIMD lanes, FMA) can
form is an integer of magnitude <= 2^24 - 1, which float32 holds exactly, so no float op rounds. Chunk sums
are converted to integers (exact) and summed in the plan's accumulator dtype; codes summed about a centre
get center * (the weights over each output's non-padding taps) added back in integers.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .conv_plan import ConvPlan, fp32_chunks
from .im2col import packed_cols, packed_weights


@njit(parallel=True, cache=True)
def _border_sums(ws, kh, kw, H, W, s, p, Ho, Wo):
    """V[o, oy*Wo + ox] = sum of ws[o, ky*kw + kx] over the taps whose pixel (oy*s + ky - p, ox*s + kx - p)
    is inside the H x W input (not padding)."""
    O = ws.shape[0]
    V = np.zeros((O, Ho * Wo), np.int64)
    for o in prange(O):
        for oy in range(Ho):
            for ox in range(Wo):
                acc = np.int64(0)
                for ky in range(kh):
                    yy = oy * s + ky - p
                    if 0 <= yy < H:
                        for kx in range(kw):
                            xx = ox * s + kx - p
                            if 0 <= xx < W:
                                acc += ws[o, ky * kw + kx]
                V[o, oy * Wo + ox] = acc
    return V


@njit(parallel=True, cache=True)
def _acc_chunk(res, first, acc):
    """acc (=, if first, else +=) res, elementwise; res holds float32 integers of magnitude < 2^24 (one
    chunk's exact sums), so the conversion is exact; the caller's bound keeps acc's dtype from wrapping."""
    a = acc.reshape(-1)
    r = res.reshape(-1)
    nb = (a.size + 4095) // 4096
    for b in prange(nb):
        for i in range(b * 4096, min(a.size, (b + 1) * 4096)):
            if first:
                a[i] = np.int64(r[i])
            else:
                a[i] += np.int64(r[i])


@njit(parallel=True, cache=True)
def _scatter_nchw(res, P, bias, out):
    """out[n, g*Og + o, q] = res[g, n*P + q, o] (+ bias[g*Og + o, q] when bias is not empty); res holds
    integers (or float32 integers < 2^24), and the sums fit out's dtype (the caller's bound)."""
    G, M, Og = res.shape
    N = M // P
    biased = bias.shape[0] > 0
    for t in prange(N * G):
        n = t // G
        g = t % G
        src = res[g, n * P:(n + 1) * P]
        for o in range(Og):
            dst = out[n, g * Og + o]
            if biased:
                b = bias[g * Og + o]
                for q in range(P):
                    dst[q] = np.int64(src[q, o]) + b[q]
            else:
                for q in range(P):
                    dst[q] = np.int64(src[q, o])



def conv_fp32(x, w, stride, padding, groups, plan: ConvPlan, out) -> None:
    """Fill out (N, O, Ho, Wo) with the exact conv of validated codes x, w (every output is written)."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Ho, Wo = out.shape[2], out.shape[3]
    k, og, m = kh * kw * Cg, O // groups, N * Ho * Wo
    center, chunks, tap_sums = fp32_chunks(x, w, groups, plan.bounds)
    cols = packed_cols(x, kh, kw, stride, padding, groups, np.float32, k, 1, 1, center)[:, 0]   # (G, M, K)
    wm = packed_weights(w, groups, np.float32, k, 1, 1)[:, 0]                                   # (G, Og, K)
    res = np.empty((groups, m, og), np.float32)
    acc = res if len(chunks) == 1 else np.empty((groups, m, og), plan.accd)
    for i, (k0, k1) in enumerate(chunks):
        np.matmul(cols[:, :, k0:k1], wm[:, :, k0:k1].transpose(0, 2, 1), out=res)   # sgemm per group
        if len(chunks) > 1:
            _acc_chunk(res, i == 0, acc)
    # centred codes: add back center * (the weights over each output's non-padding taps)
    bias = center * _border_sums(tap_sums, kh, kw, H, W, stride, padding, Ho, Wo) if center else \
        np.zeros((0, 0), np.int64)
    _scatter_nchw(acc, Ho * Wo, bias, out.reshape(N, O, Ho * Wo))
