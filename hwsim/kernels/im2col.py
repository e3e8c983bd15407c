"""NHWC im2col and weight packing shared by the GEMM back-ends: integer codes laid out as (group, K chunk,
row, K) panels in any dtype, zero padded (padding cells and alignment rows/columns hold 0)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _pad_nhwc(x, p, center, xp):
    """xp[n, y+p, x+p, c] = x[n, c, y, x] - center; xp is zero-initialised (zero padding), cast to xp's dtype.
    One task per output row; each pixel's channels are gathered from the C input rows and written as one
    contiguous run (2-3x faster than writing each channel across the row at stride C)."""
    N, C, H, W = x.shape
    for t in prange(N * H):
        n = t // H
        y = t % H
        dst = xp[n, y + p]
        for xx in range(W):
            d = dst[xx + p]
            for c in range(C):
                d[c] = x[n, c, y, xx] - center


@njit(parallel=True, cache=True)
def _im2col(xp, kh, kw, s, Ho, Wo, cols):
    """cols[g, k // KC, m, k % KC] = xp[n, oy*s + ky, ox*s + kx, g*Cg + c] for k = (ky*kw + kx)*Cg + c,
    m = (n*Ho + oy)*Wo + ox: K split into nK chunks of KC (the GEMM's cache block). Tap-major per output
    row: a tap's channel run is contiguous in both arrays (a vectorised copy) unless it straddles a chunk
    edge. Padding stays zero."""
    N = xp.shape[0]
    C = xp.shape[3]
    G = cols.shape[0]
    KC = cols.shape[3]
    Cg = C // G
    for t in prange(N * Ho):
        n = t // Ho
        oy = t % Ho
        for g in range(G):
            c0 = g * Cg
            for ky in range(kh):
                row = xp[n, oy * s + ky]
                for kx in range(kw):
                    kk = (ky * kw + kx) * Cg
                    ch = kk // KC
                    off = kk % KC
                    if off + Cg <= KC:
                        for ox in range(Wo):
                            # zero-based slices on both sides: LLVM then emits a plain vector copy
                            src = row[ox * s + kx, c0:c0 + Cg]
                            dst = cols[g, ch, t * Wo + ox, off:off + Cg]
                            for c in range(Cg):
                                dst[c] = src[c]
                    else:
                        for ox in range(Wo):
                            src = row[ox * s + kx]
                            for c in range(Cg):
                                cols[g, (kk + c) // KC, t * Wo + ox, (kk + c) % KC] = src[c0 + c]


def round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def packed_cols(x, kh, kw, stride, padding, groups, dtype, kc, nk, m_align, center=0) -> np.ndarray:
    """(groups, nk, M rounded up to m_align, kc) patches of x - center in `dtype`, K = kh*kw*C/groups in
    (ky, kx, c) order split into nk chunks of kc (zero beyond K)."""
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    xp = np.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype)
    mp, k = round_up(N * Ho * Wo, m_align), kh * kw * (C // groups)
    # _im2col writes every element of the first N*Ho*Wo rows when the chunks tile K exactly (and x has any)
    cols = (np.empty if x.size and nk * kc == k and m_align == 1 else np.zeros)((groups, nk, mp, kc), dtype)
    if x.size and cols.size:
        _pad_nhwc(np.ascontiguousarray(x), padding, center, xp)
        _im2col(xp, kh, kw, stride, Ho, Wo, cols)
    return cols


def packed_weights(w, groups, dtype, kc, nk, o_align) -> np.ndarray:
    O, Cg, kh, kw = w.shape
    og, k = O // groups, kh * kw * Cg
    flat = np.zeros((groups, round_up(og, o_align), nk * kc), dtype)
    flat[:, :og, :k] = w.reshape(groups, og, Cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(groups, og, k)
    return np.ascontiguousarray(flat.reshape(groups, flat.shape[1], nk, kc).transpose(0, 2, 1, 3))


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, padding: int, groups: int, dtype=np.int64) -> np.ndarray:
    """Patches of x (N, C, H, W) as (groups, N*Ho*Wo, K), K = kh*kw*C/groups in (ky, kx, c) order, zero
    padding, cast to `dtype` (the caller ensures the values fit). Pairs with `weight_matrix`."""
    k = kh * kw * (x.shape[1] // groups)
    rows = x.shape[0] * ((x.shape[2] + 2 * padding - kh) // stride + 1) * ((x.shape[3] + 2 * padding - kw) // stride + 1)
    return packed_cols(x, kh, kw, stride, padding, groups, dtype, k, 1, 1)[:, 0, :rows, :]


def weight_matrix(w: np.ndarray, groups: int, dtype=np.int64) -> np.ndarray:
    """w (O, C/groups, kh, kw) as (groups, O/groups, K) in the (ky, kx, c) order of `im2col`."""
    return packed_weights(w, groups, dtype, w.shape[1] * w.shape[2] * w.shape[3], 1, 1)[:, 0]

