"""Integer GEMM back-ends over im2col panels: "int8" (byte operands, a 4x4-tile numba GEMM with int32
accumulators) and "int64" (int64 operands and accumulators).

Exactness is the planner's (conv_plan.py): "int8" runs only when K*max|x|*max|w| fits int32, so no int32
partial sum can wrap; "int64" only while K*max|x|*max|w| <= 2^63 - 1. Without VNNI, LLVM extends the bytes
to 32-bit lanes and multiplies with vpmaddwd (exact: the upper 16 bits of the activation lane are zero).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .conv_plan import ConvPlan, int8_dtype
from .im2col import packed_cols, packed_weights, round_up

_RM, _RO = 4, 4            # register tile: 4 im2col rows x 4 output channels = 16 int32 accumulators
_KALIGN = 16               # K padded with zeros to a multiple of the 16-lane vector width
_KCHUNK = 512              # K cache block


@njit(parallel=True, cache=True)
def _gemm_i32(a, b, M, Og, P, out):
    """out[n, g*Og + o, q] += sum_k a[g, :, m, :] * b[g, :, o, :] over all K chunks, m = n*P + q, int32.

    a: (G, nK, Mp, KC) uint8/int8, b: (G, nK, Op, KC) int8, zero padded (Mp % 4 == 0, Op % 4 == 0); out
    starts at zero. The caller guarantees K * max|a| * max|b| <= 2^31 - 1, so every int32 partial sum is
    exact (none can wrap). A parallel task owns 4 rows (a 4x4 register tile sweeps all channels, so the
    4 activation rows stay in L1 and the weight chunk in L2); tasks write disjoint outputs."""
    G, nK, Mp, KC = a.shape
    Op = b.shape[2]
    ntm = Mp // 4
    for t in prange(G * ntm):
        g = t // ntm
        m = (t % ntm) * 4
        for kc in range(nK):
            a0 = a[g, kc, m]
            a1 = a[g, kc, m + 1]
            a2 = a[g, kc, m + 2]
            a3 = a[g, kc, m + 3]
            for o in range(0, Op, 4):
                b0 = b[g, kc, o]
                b1 = b[g, kc, o + 1]
                b2 = b[g, kc, o + 2]
                b3 = b[g, kc, o + 3]
                c00 = np.int32(0)
                c01 = np.int32(0)
                c02 = np.int32(0)
                c03 = np.int32(0)
                c10 = np.int32(0)
                c11 = np.int32(0)
                c12 = np.int32(0)
                c13 = np.int32(0)
                c20 = np.int32(0)
                c21 = np.int32(0)
                c22 = np.int32(0)
                c23 = np.int32(0)
                c30 = np.int32(0)
                c31 = np.int32(0)
                c32 = np.int32(0)
                c33 = np.int32(0)
                for k in range(KC):
                    x0 = np.int32(a0[k])
                    x1 = np.int32(a1[k])
                    x2 = np.int32(a2[k])
                    x3 = np.int32(a3[k])
                    w0 = np.int32(b0[k])
                    w1 = np.int32(b1[k])
                    w2 = np.int32(b2[k])
                    w3 = np.int32(b3[k])
                    # np.int32(...) truncates numba's int64 promotion back to 32 bits, so LLVM vectorises
                    # with 32-bit lanes (vpmaddwd on zero/sign-extended bytes); exact by the caller's bound.
                    c00 = np.int32(c00 + x0 * w0)
                    c01 = np.int32(c01 + x0 * w1)
                    c02 = np.int32(c02 + x0 * w2)
                    c03 = np.int32(c03 + x0 * w3)
                    c10 = np.int32(c10 + x1 * w0)
                    c11 = np.int32(c11 + x1 * w1)
                    c12 = np.int32(c12 + x1 * w2)
                    c13 = np.int32(c13 + x1 * w3)
                    c20 = np.int32(c20 + x2 * w0)
                    c21 = np.int32(c21 + x2 * w1)
                    c22 = np.int32(c22 + x2 * w2)
                    c23 = np.int32(c23 + x2 * w3)
                    c30 = np.int32(c30 + x3 * w0)
                    c31 = np.int32(c31 + x3 * w1)
                    c32 = np.int32(c32 + x3 * w2)
                    c33 = np.int32(c33 + x3 * w3)
                oc = g * Og + o
                nv = min(4, Og - o)
                _store4(out, m + 0, M, P, oc, nv, c00, c01, c02, c03)
                _store4(out, m + 1, M, P, oc, nv, c10, c11, c12, c13)
                _store4(out, m + 2, M, P, oc, nv, c20, c21, c22, c23)
                _store4(out, m + 3, M, P, oc, nv, c30, c31, c32, c33)


@njit(inline="always")
def _store4(out, m, M, P, oc, nv, v0, v1, v2, v3):
    """out[n, oc:oc+nv, q] += (v0..v3)[:nv] for row m = n*P + q; padded rows (m >= M) are dropped."""
    if m < M:
        n = m // P
        q = m % P
        out[n, oc, q] += v0
        if nv > 1:
            out[n, oc + 1, q] += v1
        if nv > 2:
            out[n, oc + 2, q] += v2
        if nv > 3:
            out[n, oc + 3, q] += v3


@njit(parallel=True, cache=True)
def _gemm_i64(a, b, M, Og, P, out):
    """As _gemm_i32 for one K chunk, int64 operands and accumulators (exact: the caller bounds |acc| < 2^63)."""
    G, nK, Mp, K = a.shape
    for t in prange(G * M):
        g = t // M
        m = t % M
        n = m // P
        q = m % P
        row = a[g, 0, m]
        for o in range(Og):
            wr = b[g, 0, o]
            acc = np.int64(0)
            for k in range(K):
                acc += row[k] * wr[k]
            out[n, g * Og + o, q] = acc



def _chunks(k: int) -> tuple[int, int]:
    """(KC, nK): K in chunks of at most 512 (the 4 activation rows of a tile then stay in L1)."""
    if k <= _KCHUNK:
        return round_up(k, _KALIGN), 1
    return _KCHUNK, -(-k // _KCHUNK)


def conv_int8(x, w, stride, padding, groups, plan: ConvPlan, out) -> None:
    """out (zeroed, int32, (N, O, Ho, Wo)) += the conv of validated codes x, w on the int8 GEMM."""
    kc, nk = _chunks(w.shape[1] * w.shape[2] * w.shape[3])
    cols = packed_cols(x, w.shape[2], w.shape[3], stride, padding, groups, int8_dtype(plan.bounds), kc, nk, _RM)
    wm = packed_weights(w, groups, np.int8, kc, nk, _RO)
    N, O, Ho, Wo = out.shape
    _gemm_i32(cols, wm, N * Ho * Wo, O // groups, Ho * Wo, out.reshape(N, O, Ho * Wo))


def conv_int64(x, w, stride, padding, groups, plan: ConvPlan, out) -> None:
    """out (N, O, Ho, Wo) = the conv of validated codes x, w on the int64 GEMM (one K chunk)."""
    k = w.shape[1] * w.shape[2] * w.shape[3]
    cols = packed_cols(x, w.shape[2], w.shape[3], stride, padding, groups, np.int64, k, 1, _RM)
    wm = packed_weights(w, groups, np.int64, k, 1, 1)
    N, O, Ho, Wo = out.shape
    _gemm_i64(cols, wm, N * Ho * Wo, O // groups, Ho * Wo, out.reshape(N, O, Ho * Wo))
