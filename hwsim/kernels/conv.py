"""Integer convolution and matmul accumulators: a direct float32 conv, or NHWC im2col + a GEMM; exact by construction.

`method="auto"` picks "direct" for small channel counts (see `_prefers_direct`) when kh*kw*max|x|*max|w|
< 2^24, else fp32 when its K chunks hold at least min(K, 16) terms, else int64 (int8 is never faster on
the measured machine); a forced method that would not be exact is refused:

- "direct": no im2col; float32 multiply-adds over stride phase planes, float sums flushed to int64 every
  few input channels so that they stay below 2^24 (see direct.py).

- "fp32": im2col into float32, BLAS sgemm per K chunk. Exactness (gemmlowp style): operands are
  integer codes; float32 holds every integer of magnitude <= 2^24. The chunk length is
  Kc = floor((2^24 - 1) / (max|x| * max|w|)) from the operands' ACTUAL maxima, so every product and every
  partial sum any summation order (blocking, SIMD lanes, FMA) can form inside a chunk is an integer of
  magnitude <= Kc*max|x|*max|w| < 2^24: each float op then has an exactly representable result and rounds
  nothing. Each chunk's sum is converted to an integer (exact) and chunks are summed in int32 when
  K*max|x|*max|w| <= 2^31 - 1, else int64. Applies when max|x|*max|w| < 2^24 (Kc >= 1). Where the
  Cauchy-Schwarz bound on the actual codes proves longer, tap-aligned chunks exact, those are taken
  instead, summing unsigned codes about their midpoint where that saves chunks (see `_fp32_plan`):
  usually one chunk, also for uniformly random 8-bit codes at K = 2304 (the element bound needs 5).
- "int8": uint8/int8 operands, a numba 4x4-tile GEMM with int32 accumulators; only when
  K*max|x|*max|w| fits int32 (no partial sum can wrap). Without VNNI, LLVM extends bytes to 32-bit lanes
  and multiplies with vpmaddwd (exact: the upper 16 bits of the activation lane are zero).
- "int64": int64 operands and accumulators; exact while K*max|x|*max|w| <= 2^63 - 1, else
  KernelInputError.

The result dtype depends only on the bound (int32 when K*max|x|*max|w| fits int32, else int64), not on the
method.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._check import KernelInputError, int_array, int_scalar, value_range
from .direct import chunk_channels, conv_direct

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
F32_EXACT = 2**24 - 1      # every integer of magnitude <= 2^24 is a float32; bound partial sums by 2^24 - 1
METHODS = ("auto", "direct", "fp32", "int8", "int64")
_MIN_KC = 16               # auto: fp32 only if a chunk holds >= min(K, 16) terms (Kc 32 beat int64 2x, Kc 2 lost 3x)
_DIRECT_MAX_CO = 1024      # auto: direct when Cg*Og <= 1024 (stride 1, kh*kw > 1) or Cg == 1; see _prefers_direct
_RM, _RO = 4, 4            # register tile: 4 im2col rows x 4 output channels = 16 int32 accumulators
_KALIGN = 16               # K padded with zeros to a multiple of the 16-lane vector width
_KCHUNK = 512              # K cache block


# ---------------------------------------------------------------------------------------------- kernels
@njit(parallel=True, cache=True)
def _pad_nhwc(x, p, center, xp):
    """xp[n, y+p, x+p, c] = x[n, c, y, x] - center; xp is zero-initialised (zero padding), cast to xp's dtype.
    One task per output row (its NHWC row stays in L1 while the C input rows are read)."""
    N, C, H, W = x.shape
    for t in prange(N * H):
        n = t // H
        y = t % H
        dst = xp[n, y + p]
        for c in range(C):
            src = x[n, c, y]
            for xx in range(W):
                dst[xx + p, c] = src[xx] - center


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


@njit(parallel=True, cache=True)
def _pixel_sq_max(x, G, center):
    """[max of sum_c x^2, max of sum_c (x - center)^2] over images, pixels and channel groups (c in the
    group), exactly in int64: squared lengths of one tap's activation run, for the Cauchy-Schwarz chunk bound."""
    N, C, H, W = x.shape
    Cg = C // G
    best = np.zeros((N * G, 2), np.int64)
    for t in prange(N * G):
        n = t // G
        g = t % G
        acc = np.zeros((2, H, W), np.int64)
        for c in range(g * Cg, (g + 1) * Cg):
            plane = x[n, c]
            for y in range(H):
                for xx in range(W):
                    v = np.int64(plane[y, xx])
                    u = v - center
                    acc[0, y, xx] += v * v
                    acc[1, y, xx] += u * u
        for i in range(2):
            best[t, i] = acc[i].max() if H * W else 0
    out = np.zeros(2, np.int64)
    for t in range(N * G):
        for i in range(2):
            out[i] = max(out[i], best[t, i])
    return out


@njit(parallel=True, cache=True)
def _tap_sums(w, T):
    """(sum_c w[o, c, t], sum_c w[o, c, t]^2), each (O, T) exactly in int64, for w viewed as (O, Cg, T)."""
    O = w.shape[0]
    Cg = w.shape[1] // T
    ws = np.zeros((O, T), np.int64)
    wsq = np.zeros((O, T), np.int64)
    for o in prange(O):
        row = w[o]
        for c in range(Cg):
            for t in range(T):
                v = np.int64(row[c * T + t])
                ws[o, t] += v
                wsq[o, t] += v * v
    return ws, wsq


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


# ---------------------------------------------------------------------------------------------- wrappers
def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def _chunks(k: int) -> tuple[int, int]:
    """(KC, nK): K in chunks of at most 512 (the 4 activation rows of a tile then stay in L1)."""
    if k <= _KCHUNK:
        return _round_up(k, _KALIGN), 1
    return _KCHUNK, -(-k // _KCHUNK)


def _int8_dtype(x_lo: int, x_hi: int, w_lo: int, w_hi: int):
    """uint8/int8 activation dtype for the int8 GEMM, or None when the operands do not fit bytes."""
    if -128 <= w_lo and w_hi <= 127:
        if 0 <= x_lo and x_hi <= 255:
            return np.uint8
        if -128 <= x_lo and x_hi <= 127:
            return np.int8
    return None


def _prefers_direct(cg: int, og: int, taps: int, stride: int) -> bool:
    """Whether auto takes the direct conv where it is exact. Measured at batch 8, 1 thread (numba and
    OpenBLAS), 8-bit codes, direct time / fp32 time: 0.5 at 16->16 ch 32x32, 0.8 at 32->32 16x16, 0.1
    depthwise 32 ch, 0.4 at 3->16 ch; but 1.7 at 64->64 8x8, 1.2 at 64->64 16x16, 2.6 at 256->256 14x14,
    1.4 at 16->32 stride 2 and 2.5-5.5 on 1x1 stride-2 shortcuts (short rows, one tap per pass)."""
    return cg == 1 or (stride == 1 and taps > 1 and cg * og <= _DIRECT_MAX_CO)


def _f32_chunk_len(k: int, pmax: int) -> int:
    """The element bound: the most terms (<= k) whose sum stays exact in float32 when every |product| <= pmax."""
    return min(k, F32_EXACT // pmax) if pmax else k


def _plan(x_lo: int, x_hi: int, w_lo: int, w_hi: int, k: int, method: str, where: str, taps: int = 1,
          direct_ok: bool = False):
    """(method, accumulator dtype, fp32 chunk length or direct's channels per flush, else 0) for an exact
    product sum over k terms, `taps` of them per input channel; auto takes direct only if `direct_ok`."""
    if method not in METHODS:
        raise KernelInputError(f"{where}: method must be one of {METHODS}, got {method!r}")
    xmax, wmax = max(abs(x_lo), abs(x_hi)), max(abs(w_lo), abs(w_hi))
    bound = k * xmax * wmax                     # Python int: exact worst-case |acc|
    if bound > INT64_MAX:
        raise KernelInputError(f"{where}: worst-case |accumulator| {bound} (K={k}, max|x|={xmax}, "
                               f"max|w|={wmax}) does not fit int64")
    accd = np.int32 if bound <= INT32_MAX else np.int64
    pmax = xmax * wmax
    if method == "auto":
        if direct_ok and taps * pmax <= F32_EXACT:
            method = "direct"
        else:
            method = "fp32" if pmax * min(k, _MIN_KC) <= F32_EXACT else "int64"
    if method == "direct":
        cc = chunk_channels(taps, pmax, F32_EXACT)
        if cc < 1:
            raise KernelInputError(f"{where}: method 'direct' needs kh*kw*max|x|*max|w| <= 2^24 - 1, got "
                                   f"{taps}*{xmax}*{wmax} = {taps * pmax}")
        return method, accd, cc
    if method == "fp32":
        if pmax > F32_EXACT:
            raise KernelInputError(f"{where}: method 'fp32' needs max|x|*max|w| <= 2^24 - 1, got "
                                   f"{xmax}*{wmax} = {pmax}")
        return method, accd, _f32_chunk_len(k, pmax)
    if method == "int8" and (accd != np.int32 or _int8_dtype(x_lo, x_hi, w_lo, w_hi) is None):
        raise KernelInputError(f"{where}: method 'int8' needs byte operands and K*max|x|*max|w| <= 2^31 - 1, "
                               f"got x in [{x_lo}, {x_hi}], w in [{w_lo}, {w_hi}], K={k}")
    return method, accd, 0


def _fp32_plan(x: np.ndarray, w: np.ndarray, groups: int, x_lo: int, x_hi: int, wmax: int):
    """(center, chunks, per-tap weight sums or None): the fp32 path sums x - center over the K ranges
    `chunks` in float32, each provably exact, as few as the bounds allow.

    - Element bound: chunks of at most kc terms, kc*max|x - center|*max|w| <= 2^24 - 1.
    - Cauchy-Schwarz: fewer chunks, split at tap boundaries of the (ky, kx, c) order, when within each chunk
      of taps S every partial sum is bounded by sum |a_k||w_k| <= ||a_S|| * ||w_S|| <= 2^24 - 1, with
      ||a_S||^2 <= |S| * max over pixels of sum_c (x - center)^2 (padding is 0) and ||w_S||^2 = max over
      outputs of sum over S of w^2 (exact integers).
    - Centring: unsigned codes spread over [lo, hi] (uniformly random 8-bit codes, say) have half the
      magnitude about their midpoint; it is used only when it saves chunks, and the caller adds back
      center * (sum of the weights over each output's non-padding taps), exactly in integers.
    Typical codes need one chunk; uniformly random 8-bit codes at K = 2304 need 1 (2 without centring, 5 by
    the element bound)."""
    O, Cg, kh, kw = w.shape
    k, taps = Cg * kh * kw, kh * kw
    mid = (x_lo + x_hi + 1) // 2 if x_lo >= 0 else 0
    options = [(0, max(abs(x_lo), abs(x_hi)))] + ([(mid, max(mid - x_lo, x_hi - mid))] if mid else [])

    def tap_sums():
        return _tap_sums(np.ascontiguousarray(w).reshape(O, Cg * taps), taps)

    best, stats = None, None
    for i, (center, xdev) in enumerate(options):
        nc = -(-k // _f32_chunk_len(k, xdev * wmax))
        step = -(-k // nc)
        chunks = [(k0, min(k, k0 + step)) for k0 in range(0, k, step)]
        if nc > 1 and Cg * xdev * xdev < 2**62 and Cg * wmax * wmax < 2**62:   # int64 squared sums cannot wrap
            if stats is None:
                ws, wsq = tap_sums()
                cum = np.concatenate([np.zeros((O, 1), np.int64), np.cumsum(wsq, axis=1)], 1)
                stats = ws, cum, _pixel_sq_max(np.ascontiguousarray(x), groups, mid)
            cum, p = stats[1], int(stats[2][i])
            for n in range(1, min(taps, nc - 1) + 1):
                edges = [round(j * taps / n) for j in range(n + 1)]
                if all((t1 - t0) * p * int((cum[:, t1] - cum[:, t0]).max()) <= F32_EXACT ** 2
                       for t0, t1 in zip(edges, edges[1:])):
                    chunks = [(t0 * Cg, t1 * Cg) for t0, t1 in zip(edges, edges[1:])]
                    break
        if best is None or len(chunks) < len(best[1]):
            best = (center, chunks)
    center, chunks = best
    if not center:
        return 0, chunks, None
    return center, chunks, (stats[0] if stats is not None else tap_sums()[0])


def _packed_cols(x, kh, kw, stride, padding, groups, dtype, kc, nk, m_align=_RM, center=0) -> np.ndarray:
    N, C, H, W = x.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    xp = np.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype)
    mp, k = _round_up(N * Ho * Wo, m_align), kh * kw * (C // groups)
    # _im2col writes every element of the first N*Ho*Wo rows when the chunks tile K exactly
    cols = (np.empty if nk * kc == k and m_align == 1 else np.zeros)((groups, nk, mp, kc), dtype)
    if x.size and cols.size:
        _pad_nhwc(np.ascontiguousarray(x), padding, center, xp)
        _im2col(xp, kh, kw, stride, Ho, Wo, cols)
    return cols


def _packed_weights(w, groups, dtype, kc, nk, o_align) -> np.ndarray:
    O, Cg, kh, kw = w.shape
    og, k = O // groups, kh * kw * Cg
    flat = np.zeros((groups, _round_up(og, o_align), nk * kc), dtype)
    flat[:, :og, :k] = w.reshape(groups, og, Cg, kh, kw).transpose(0, 1, 3, 4, 2).reshape(groups, og, k)
    return np.ascontiguousarray(flat.reshape(groups, flat.shape[1], nk, kc).transpose(0, 2, 1, 3))


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, padding: int, groups: int, dtype=np.int64) -> np.ndarray:
    """Patches of x (N, C, H, W) as (groups, N*Ho*Wo, K), K = kh*kw*C/groups in (ky, kx, c) order, zero
    padding, cast to `dtype` (the caller ensures the values fit). Pairs with `weight_matrix`."""
    k = kh * kw * (x.shape[1] // groups)
    rows = x.shape[0] * ((x.shape[2] + 2 * padding - kh) // stride + 1) * ((x.shape[3] + 2 * padding - kw) // stride + 1)
    return _packed_cols(x, kh, kw, stride, padding, groups, dtype, k, 1)[:, 0, :rows, :]


def weight_matrix(w: np.ndarray, groups: int, dtype=np.int64) -> np.ndarray:
    """w (O, C/groups, kh, kw) as (groups, O/groups, K) in the (ky, kx, c) order of `im2col`."""
    return _packed_weights(w, groups, dtype, w.shape[1] * w.shape[2] * w.shape[3], 1, 1)[:, 0]


def conv2d_acc(x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int,
               method: str = "auto") -> np.ndarray:
    """Exact integer conv accumulators acc[n, o, y, x] = sum_{c,ky,kx} x[n, g*Cg+c, y*s+ky-p, x*s+kx-p] * w[o, c, ky, kx].

    x: integer codes (N, C, H, W), any integer dtype; w: integer codes (O, C/groups, kh, kw). Zero padding
    `padding` on each side, `stride`, `groups` (groups == C == O is depthwise). `method`: "auto" (direct
    for small channel counts when kh*kw*max|x|*max|w| < 2^24; else fp32 when min(K, 16)*max|x|*max|w|
    < 2^24, i.e. a K chunk holds at least min(K, 16) terms; else int64), "direct", "fp32", "int8" or
    "int64" (see the module docstring for why each is exact; a forced method that would not be exact is
    a KernelInputError). Returns int32 when the
    worst-case bound K*max|x|*max|w| fits int32, else int64; never wraps.
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
    x_lo, x_hi = value_range(x)
    w_lo, w_hi = value_range(w)
    method, accd, kc32 = _plan(x_lo, x_hi, w_lo, w_hi, k, method, "conv2d_acc", kh * kw,
                               _prefers_direct(Cg, O // groups, kh * kw, stride))
    out = (np.empty if method == "fp32" and k else np.zeros)((N, O, Ho, Wo), accd)   # fp32 writes every output
    if out.size == 0 or k == 0:
        return out
    if method == "direct":
        conv_direct(x, w, stride, padding, groups, kc32, out)
        return out
    og, m = O // groups, N * Ho * Wo
    out3 = out.reshape(N, O, Ho * Wo)
    if method == "fp32":
        center, chunks, tap_sums = _fp32_plan(x, w, groups, x_lo, x_hi, max(abs(w_lo), abs(w_hi)))
        cols = _packed_cols(x, kh, kw, stride, padding, groups, np.float32, k, 1, 1, center)[:, 0]   # (G, M, K)
        wm = _packed_weights(w, groups, np.float32, k, 1, 1)[:, 0]                                   # (G, Og, K)
        res = np.empty((groups, m, og), np.float32)
        acc = res if len(chunks) == 1 else np.empty((groups, m, og), accd)
        for i, (k0, k1) in enumerate(chunks):
            np.matmul(cols[:, :, k0:k1], wm[:, :, k0:k1].transpose(0, 2, 1), out=res)   # sgemm per group
            if len(chunks) > 1:
                _acc_chunk(res, i == 0, acc)
        # centred codes: add back center * (the weights over each output's non-padding taps)
        bias = center * _border_sums(tap_sums, kh, kw, H, W, stride, padding, Ho, Wo) if center else \
            np.zeros((0, 0), np.int64)
        _scatter_nchw(acc, Ho * Wo, bias, out3)
    elif method == "int8":
        kc, nk = _chunks(k)
        cols = _packed_cols(x, kh, kw, stride, padding, groups, _int8_dtype(x_lo, x_hi, w_lo, w_hi), kc, nk)
        wm = _packed_weights(w, groups, np.int8, kc, nk, _RO)
        _gemm_i32(cols, wm, m, og, Ho * Wo, out3)
    else:
        cols = _packed_cols(x, kh, kw, stride, padding, groups, np.int64, k, 1)
        wm = _packed_weights(w, groups, np.int64, k, 1, 1)
        _gemm_i64(cols, wm, m, og, Ho * Wo, out3)
    return out


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
