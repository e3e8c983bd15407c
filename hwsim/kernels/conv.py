"""Integer convolution and matmul accumulators: NHWC im2col + an int8 GEMM with int32 accumulation.

Exactness rule: the int32 path runs only when the worst-case |acc| = K * max|x| * max|w| fits int32
(so no partial sum can wrap, whatever the summation order); otherwise every value is widened to int64
(exact while that bound is below 2^63, else KernelInputError). Activations enter the fast path as uint8
(codes 0..255) or int8, weights as int8; LLVM turns the contiguous u8/i8 dot products below into
vpmaddwd (16-bit products, pairwise int32 sums), which is exact for |x|,|w| <= 255.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar, value_range

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
_RM, _RO = 4, 4            # register tile: 4 im2col rows x 4 output channels = 16 int32 accumulators
_KALIGN = 16               # K padded with zeros to a multiple of the 16-lane vector width


# ---------------------------------------------------------------------------------------------- kernels
@njit(parallel=True, cache=True)
def _pad_nhwc(x, p, xp):
    """xp[n, y+p, x+p, c] = x[n, c, y, x]; xp is zero-initialised (zero padding), cast to xp's dtype."""
    N, C, H, W = x.shape
    for n in prange(N):
        for c in range(C):
            for y in range(H):
                for xx in range(W):
                    xp[n, y + p, xx + p, c] = x[n, c, y, xx]


@njit(parallel=True, cache=True)
def _im2col(xp, kh, kw, s, Ho, Wo, cols):
    """cols[g, m, (ky*kw + kx)*Cg + c] = xp[n, oy*s + ky, ox*s + kx, g*Cg + c], m = (n*Ho + oy)*Wo + ox.

    The channel run of one tap is contiguous in both arrays (a vectorised copy); K padding stays zero."""
    N = xp.shape[0]
    C = xp.shape[3]
    G = cols.shape[0]
    Cg = C // G
    for t in prange(N * Ho):
        n = t // Ho
        oy = t % Ho
        for ox in range(Wo):
            m = t * Wo + ox
            for g in range(G):
                row = cols[g, m]
                for ky in range(kh):
                    src = xp[n, oy * s + ky]
                    for kx in range(kw):
                        px = src[ox * s + kx]
                        base = (ky * kw + kx) * Cg
                        c0 = g * Cg
                        for c in range(Cg):
                            row[base + c] = px[c0 + c]


@njit(parallel=True, cache=True)
def _gemm_i32(a, b, M, Og, P, out):
    """out[n, g*Og + o, q] = sum_k a[g, m, k] * b[g, o, k] with m = n*P + q, int32 accumulators.

    a: (G, Mp, Kp) uint8/int8, b: (G, Op, Kp) int8 (Mp % 4 == 0, Op % 4 == 0, zero padded). The caller
    guarantees K * max|a| * max|b| <= 2^31 - 1, so every int32 partial sum is exact (none can wrap).
    Blocking: a parallel task owns 64 rows x 64 channels (int32 block in registers/L1); K runs in chunks
    of 512 so the 8 operand rows of a 4x4 register tile stay in L1 while the tile's 16 sums build up."""
    G, Mp, Kp = a.shape
    Op = b.shape[1]
    nmb = (Mp + 63) // 64
    nob = (Op + 63) // 64
    for task in prange(G * nmb * nob):
        g = task // (nmb * nob)
        r = task % (nmb * nob)
        m_lo = (r // nob) * 64
        o_lo = (r % nob) * 64
        m_hi = min(m_lo + 64, Mp)
        o_hi = min(o_lo + 64, Op)
        blk = np.zeros((64, 64), np.int32)
        for k_lo in range(0, Kp, 512):
            k_hi = min(k_lo + 512, Kp)
            for o in range(o_lo, o_hi, 4):
                b0 = b[g, o, k_lo:k_hi]
                b1 = b[g, o + 1, k_lo:k_hi]
                b2 = b[g, o + 2, k_lo:k_hi]
                b3 = b[g, o + 3, k_lo:k_hi]
                for m in range(m_lo, m_hi, 4):
                    _tile4x4(a[g, m, k_lo:k_hi], a[g, m + 1, k_lo:k_hi], a[g, m + 2, k_lo:k_hi],
                             a[g, m + 3, k_lo:k_hi], b0, b1, b2, b3, blk, m - m_lo, o - o_lo)
        for i in range(m_hi - m_lo):
            m = m_lo + i
            if m < M:
                n = m // P
                q = m % P
                for j in range(min(o_hi, Og) - o_lo):
                    out[n, g * Og + o_lo + j, q] = blk[i, j]


@njit(inline="always")
def _tile4x4(a0, a1, a2, a3, b0, b1, b2, b3, blk, i, j):
    """blk[i:i+4, j:j+4] += the 4x4 dot products of rows a0..a3 with rows b0..b3 (int32)."""
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
    for k in range(a0.shape[0]):
        x0 = np.int32(a0[k])
        x1 = np.int32(a1[k])
        x2 = np.int32(a2[k])
        x3 = np.int32(a3[k])
        w0 = np.int32(b0[k])
        w1 = np.int32(b1[k])
        w2 = np.int32(b2[k])
        w3 = np.int32(b3[k])
        # np.int32(...) truncates numba's int64 promotion back to 32 bits, so LLVM vectorises with 32-bit
        # lanes (vpmaddwd on zero/sign-extended bytes); exact by the caller's bound.
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
    blk[i, j] += c00
    blk[i, j + 1] += c01
    blk[i, j + 2] += c02
    blk[i, j + 3] += c03
    blk[i + 1, j] += c10
    blk[i + 1, j + 1] += c11
    blk[i + 1, j + 2] += c12
    blk[i + 1, j + 3] += c13
    blk[i + 2, j] += c20
    blk[i + 2, j + 1] += c21
    blk[i + 2, j + 2] += c22
    blk[i + 2, j + 3] += c23
    blk[i + 3, j] += c30
    blk[i + 3, j + 1] += c31
    blk[i + 3, j + 2] += c32
    blk[i + 3, j + 3] += c33


@njit(parallel=True, cache=True)
def _gemm_i64(a, b, M, Og, P, out):
    """As _gemm_i32 with int64 operands and accumulators (exact while |acc| < 2^63, checked by the caller)."""
    G, Mp, Kp = a.shape
    for t in prange(G * M):
        g = t // M
        m = t % M
        n = m // P
        q = m % P
        row = a[g, m]
        for o in range(Og):
            wr = b[g, o]
            acc = np.int64(0)
            for k in range(Kp):
                acc += row[k] * wr[k]
            out[n, g * Og + o, q] = acc


# ---------------------------------------------------------------------------------------------- wrappers
def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def _operand_dtypes(x_lo: int, x_hi: int, w_lo: int, w_hi: int, k: int, where: str):
    """(activation dtype, weight dtype, accumulator dtype) for an exact product sum over k terms."""
    xmax, wmax = max(abs(x_lo), abs(x_hi)), max(abs(w_lo), abs(w_hi))
    bound = k * xmax * wmax                     # Python int: exact worst-case |acc|
    if bound > INT64_MAX:
        raise KernelInputError(f"{where}: worst-case |accumulator| {bound} (K={k}, max|x|={xmax}, "
                               f"max|w|={wmax}) does not fit int64")
    if bound <= INT32_MAX and -128 <= w_lo and w_hi <= 127:
        if 0 <= x_lo and x_hi <= 255:
            return np.uint8, np.int8, np.int32
        if -128 <= x_lo and x_hi <= 127:
            return np.int8, np.int8, np.int32
    return np.int64, np.int64, np.int64


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, padding: int, groups: int,
           dtype=np.int64, k_align: int = 1) -> np.ndarray:
    """Patches of x (N, C, H, W) as (groups, N*Ho*Wo, K) with K = kh*kw*C/groups in (ky, kx, c) order.

    Zero padding; values are cast to `dtype` (the caller ensures they fit). K is zero padded to a multiple
    of k_align. Pair with `weight_matrix` for the matching weight layout."""
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    xp = np.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype)
    if x.size:
        _pad_nhwc(np.ascontiguousarray(x), padding, xp)
    k = kh * kw * (C // groups)
    rows = N * Ho * Wo
    cols = np.zeros((groups, _round_up(rows, _RM), _round_up(k, k_align)), dtype)
    if rows and k:
        _im2col(xp, kh, kw, stride, Ho, Wo, cols)
    return cols[:, :rows, :] if k_align == 1 else cols


def weight_matrix(w: np.ndarray, groups: int, dtype=np.int64, k_align: int = 1, o_align: int = 1) -> np.ndarray:
    """w (O, C/groups, kh, kw) as (groups, O/groups, K) in the (ky, kx, c) order of `im2col`, zero padded."""
    O, Cg, kh, kw = w.shape
    og, k = O // groups, kh * kw * Cg
    wm = np.zeros((groups, _round_up(og, o_align), _round_up(k, k_align)), dtype)
    wm[:, :og, :k] = w.reshape(groups, og, Cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(groups, og, k)
    return wm


def conv2d_acc(x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int) -> np.ndarray:
    """Exact integer conv accumulators acc[n, o, y, x] = sum_{c,ky,kx} x[n, g*Cg+c, y*s+ky-p, x*s+kx-p] * w[o, c, ky, kx].

    x: integer codes (N, C, H, W), any integer dtype; w: integer codes (O, C/groups, kh, kw). Zero padding
    `padding` on each side, `stride`, `groups` (groups == C == O is depthwise). Returns int32 when the
    worst-case bound K*max|x|*max|w| fits int32 (the fast u8/i8 GEMM), else int64; never wraps.
    """
    x = int_array("x", x, 4)
    w = int_array("w", w, 4)
    stride = int_scalar("stride", stride, 1)
    padding = int_scalar("padding", padding, 0)
    groups = int_scalar("groups", groups, 1)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    if C % groups or O % groups:
        raise KernelInputError(f"groups={groups} must divide input channels {C} and output channels {O}")
    if Cg != C // groups:
        raise KernelInputError(f"w has {Cg} input channels per group, x has {C} channels / groups {groups} "
                               f"= {C // groups}")
    if kh < 1 or kw < 1 or H + 2 * padding < kh or W + 2 * padding < kw:
        raise KernelInputError(f"kernel {kh}x{kw} does not fit input {H}x{W} with padding {padding}")
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    k = kh * kw * Cg
    xd, wd, accd = _operand_dtypes(*value_range(x), *value_range(w), k, "conv2d_acc")
    out = np.zeros((N, O, Ho, Wo), accd)
    if out.size == 0 or k == 0:
        return out
    og = O // groups
    if accd == np.int32:
        cols = im2col(x, kh, kw, stride, padding, groups, xd, _KALIGN)
        wm = weight_matrix(w, groups, wd, _KALIGN, _RO)
        _gemm_i32(cols, wm, N * Ho * Wo, og, Ho * Wo, out.reshape(N, O, Ho * Wo))
    else:
        cols = np.ascontiguousarray(im2col(x, kh, kw, stride, padding, groups, np.int64))
        _gemm_i64(cols, weight_matrix(w, groups, np.int64), N * Ho * Wo, og, Ho * Wo, out.reshape(N, O, Ho * Wo))
    return out


def linear_acc(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer matmul acc[n, o] = sum_k x[n, k] * w[o, k]; int32 when the bound fits, else int64."""
    x = int_array("x", x, 2)
    w = int_array("w", w, 2)
    if x.shape[1] != w.shape[1]:
        raise KernelInputError(f"linear_acc: x has {x.shape[1]} features, w expects {w.shape[1]}")
    return conv2d_acc(x[:, :, None, None], w[:, :, None, None], 1, 0, 1)[:, :, 0, 0]


def matmul_acc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer a (M, K) @ b (O, K).T -> (M, O), same exactness rule as conv2d_acc (a GEMM building
    block for decompositions such as bit-planes)."""
    return linear_acc(a, b)
