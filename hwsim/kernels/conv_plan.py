"""The exactness planner of integer convolution: which method, how long its float chunks, and why exact.

Every method computes the same exact integers; they differ in speed and in the operand range where their
arithmetic provably cannot round or wrap. `operand_bounds` takes the operands' ACTUAL ranges, and each
method's proof below either returns its chunk parameter or refuses with a KernelInputError:

- "direct" (direct.py): float32 multiply-adds, float sums flushed to int64 every cc input channels,
  cc*kh*kw*max|x|*max|w| <= 2^24 - 1, so every partial sum is an integer float32 holds exactly.
- "packed" (direct.py): the direct conv with two output channels per float32 weight, w[o] + w[o+1]*2^12:
  one FMA does two channels' multiply-add. Flushed every cc channels with cc*kh*kw*max|x|*max|w| <= 2047,
  so each 12-bit field stays separable and every packed partial sum below 2^24 (`direct_packing`).
- "madd" (conv_madd.py, madd_tile.py): byte multiply-adds (`vpmaddubsw`), u8 activations x s8 weights, int16
  pair sums flushed into int32 every n steps of 4 K positions, n*2*max|x|*max|w| <= 2^15 - 1, and
  K*max|x|*max|w| <= 2^31 - 1 (`madd_flush_steps`).
- "fp32" (gemm_fp32.py): float32 sgemm per K chunk; within a chunk every product and every partial sum
  any summation order can form has magnitude <= 2^24 - 1 (the element bound: Kc*max|x|*max|w|; or, for
  longer tap-aligned chunks, Cauchy-Schwarz on the actual codes, see `fp32_chunks`).
- "int8" (gemm_int.py): byte operands, int32 accumulators, only when K*max|x|*max|w| fits int32.
- "int64" (gemm_int.py): exact while K*max|x|*max|w| <= 2^63 - 1.

"auto" (`auto_method`) takes "madd" for ungrouped convs on a CPU with AVX2 where it is exact (`prefers_madd`);
otherwise "direct" for small channel counts (`prefers_direct`) where it is exact ("packed"
instead where its flush interval spans at least 8 input channels, i.e. sub-byte codes), else
"fp32" when its K chunks hold at least min(K, 16) terms, else "int64" (int8 is never faster on the measured
machine). The result dtype depends only on the bound (int32 when K*max|x|*max|w| fits int32, else int64).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit, prange

from ._check import KernelInputError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
F32_EXACT = 2**24 - 1      # every integer of magnitude <= 2^24 is a float32; bound partial sums by 2^24 - 1
_MIN_KC = 16               # auto: fp32 only if a chunk holds >= min(K, 16) terms (Kc 32 beat int64 2x, Kc 2 lost 3x)
_DIRECT_MAX_CO = 1024      # auto: direct when Cg*Og <= 1024 (stride 1, kh*kw > 1) or Cg == 1; see prefers_direct


@dataclass(frozen=True)
class OperandBounds:
    """Actual ranges of the activation and weight codes of a product sum over k terms, `taps` per channel.
    (The derived bounds are cached: every method's proof reads them.)"""
    x_lo: int
    x_hi: int
    w_lo: int
    w_hi: int
    k: int
    taps: int = 1

    @cached_property
    def xmax(self) -> int:
        return max(abs(self.x_lo), abs(self.x_hi))

    @cached_property
    def wmax(self) -> int:
        return max(abs(self.w_lo), abs(self.w_hi))

    @cached_property
    def pmax(self) -> int:
        """Largest |product| of one activation and one weight."""
        return self.xmax * self.wmax

    @cached_property
    def accd(self):
        """Accumulator dtype: int32 when the worst-case |acc| = k * pmax fits it, else int64."""
        return np.int32 if self.k * self.pmax <= INT32_MAX else np.int64


@dataclass(frozen=True)
class ConvPlan:
    """A method proven exact for these bounds; `param`: direct's channels per flush or fp32's element-bound
    chunk length, else 0."""
    method: str
    accd: type
    param: int
    bounds: OperandBounds


def operand_bounds(x_lo: int, x_hi: int, w_lo: int, w_hi: int, k: int, taps: int, where: str) -> OperandBounds:
    """The bounds, refused when even int64 cannot hold the worst-case |accumulator|."""
    b = OperandBounds(x_lo, x_hi, w_lo, w_hi, k, taps)
    if k * b.pmax > INT64_MAX:                  # Python ints: exact
        raise KernelInputError(f"{where}: worst-case |accumulator| {k * b.pmax} (K={k}, max|x|={b.xmax}, "
                               f"max|w|={b.wmax}) does not fit int64")
    return b


def prefers_direct(cg: int, og: int, taps: int, stride: int) -> bool:
    """Whether auto takes the direct conv where it is exact. Measured at batch 8, 1 thread (numba and
    OpenBLAS), 8-bit codes, direct time / fp32 time: 0.5 at 16->16 ch 32x32, 0.8 at 32->32 16x16, 0.1
    depthwise 32 ch, 0.4 at 3->16 ch; but 1.7 at 64->64 8x8, 1.2 at 64->64 16x16, 2.6 at 256->256 14x14,
    1.4 at 16->32 stride 2 and 2.5-5.5 on 1x1 stride-2 shortcuts (short rows, one tap per pass)."""
    return cg == 1 or (stride == 1 and taps > 1 and cg * og <= _DIRECT_MAX_CO)


def prefers_madd(groups: int, has_avx2: bool) -> bool:
    """Whether auto takes "madd" where it is exact: ungrouped convs on a CPU with AVX2 (`vpmaddubsw`); its
    portable form elsewhere is slower than the float paths. Measured at batch 64, 1 thread, 4-bit codes,
    madd time / torch fp32 conv2d: about 0.4-0.8 on the ResNet-20 3x3 layers, against 1-4 for direct/fp32."""
    return groups == 1 and has_avx2


def auto_method(b: OperandBounds, direct_ok: bool, madd_ok: bool = False) -> str:
    """The method "auto" runs; direct only if `direct_ok` (see `prefers_direct`), madd only if `madd_ok`
    (see `prefers_madd`)."""
    if madd_ok and madd_steps(b) is not None:
        return "madd"
    if direct_ok and b.taps * b.pmax <= F32_EXACT:
        pk = direct_packing(b)
        return "packed" if pk is not None and pk.channels * b.taps >= min(b.k, _PACK_MIN_CC * b.taps) else "direct"
    return "fp32" if b.pmax * min(b.k, _MIN_KC) <= F32_EXACT else "int64"


def f32_chunk_len(k: int, pmax: int) -> int:
    """The element bound: the most terms (<= k) whose sum stays exact in float32 when every |product| <= pmax."""
    return min(k, F32_EXACT // pmax) if pmax else k


# ---- each method's exactness proof: its chunk parameter, or a KernelInputError saying what fails
def direct_flush_channels(b: OperandBounds, where: str) -> int:
    """Input channels per float flush interval: the most cc with cc*taps*max|x|*max|w| <= 2^24 - 1."""
    cc = F32_EXACT // (b.taps * b.pmax) if b.pmax else 1 << 62
    if cc < 1:
        raise KernelInputError(f"{where}: method 'direct' needs kh*kw*max|x|*max|w| <= 2^24 - 1, got "
                               f"{b.taps}*{b.xmax}*{b.wmax} = {b.taps * b.pmax}")
    return cc


@dataclass(frozen=True)
class Packing:
    """F output channels per float32 weight, fields S bits apart, float sums flushed every `channels` input
    channels (the "packed" method, direct.py)."""
    fields: int
    shift: int
    channels: int


def _field_span(fields: int, shift: int) -> int:
    """sum_j 2^(j*shift) over the fields: a packed value's magnitude per unit of field magnitude."""
    return sum(1 << (j * shift) for j in range(fields))


# Two fields, S = 12: the widest for which a full field, 2^(S-1) - 1, in both stays below 2^24 in float32.
# Three 8-bit fields were measured too and lost to two on every ResNet-20 layer at 2-4 bits (their flush
# interval is 16x shorter), so they are not offered.
PACK_FIELDS = 2
PACK_SHIFT = max(s for s in range(1, 24) if ((1 << (s - 1)) - 1) * _field_span(PACK_FIELDS, s) <= F32_EXACT)
PACK_FIELD_MAX = (1 << (PACK_SHIFT - 1)) - 1
_PACK_MIN_CC = 8           # auto: packed only when a flush interval spans >= 8 channels (below, decoding costs more)


def direct_packing(b: OperandBounds) -> Packing | None:
    """The packing of the "packed" method for bounds b, or None when no packing is exact.

    Exact by construction: within a flush interval of cc input channels every field's partial sum is a sum
    of at most cc*kh*kw products, so |field| <= cc*kh*kw*max|x|*max|w| <= 2^(S-1) - 1 = B; a packed
    partial sum sum_j field_j * 2^(j*S) is then an integer of magnitude <= B * sum_j 2^(j*S) <= 2^24 - 1,
    which float32 holds (every FMA exact), and the fields separate by rounding off the ones below (each
    lies in [-B, B], inside (-2^(S-1), 2^(S-1))). The packed weight itself, max|w| * sum_j 2^(j*S), is
    bounded the same way."""
    if b.wmax * _field_span(PACK_FIELDS, PACK_SHIFT) > F32_EXACT:
        return None
    cc = PACK_FIELD_MAX // (b.taps * b.pmax) if b.pmax else 1 << 30
    return Packing(PACK_FIELDS, PACK_SHIFT, cc) if cc >= 1 else None


def packed_flush_channels(b: OperandBounds, where: str) -> int:
    pk = direct_packing(b)
    if pk is None:
        raise KernelInputError(f"{where}: method 'packed' needs kh*kw*max|x|*max|w| <= {PACK_FIELD_MAX} (two "
                               f"{PACK_SHIFT}-bit fields in a float32), got {b.taps}*{b.xmax}*{b.wmax} = "
                               f"{b.taps * b.pmax}")
    return pk.channels


def fp32_element_chunk(b: OperandBounds, where: str) -> int:
    if b.pmax > F32_EXACT:
        raise KernelInputError(f"{where}: method 'fp32' needs max|x|*max|w| <= 2^24 - 1, got "
                               f"{b.xmax}*{b.wmax} = {b.pmax}")
    return f32_chunk_len(b.k, b.pmax)


MADD_X = (0, 255)          # "madd": unsigned byte activations
MADD_W = (-128, 127)       # signed byte weights
I16_MAX = 2**15 - 1


def madd_steps(b: OperandBounds) -> int | None:
    """The "madd" method's int16 flush interval in steps for bounds b, or None when it is not exact."""
    try:
        return madd_flush_steps(b, "")
    except KernelInputError:
        return None


def madd_flush_steps(b: OperandBounds, where: str) -> int:
    """Steps (4 K positions each) per int16 flush of the "madd" method (conv_madd.py, madd_tile.py).

    Exact by construction: every int16 lane sums, per step, two byte products, so after n steps it holds a
    sum of 2n products, |lane| <= 2n*max|x|*max|w|; with n*2*max|x|*max|w| <= 2^15 - 1 no lane wraps and
    `pmaddubsw` (which saturates a pair sum beyond int16) never saturates. The int32 accumulators hold sums
    of subsets of the K products, |.| <= K*max|x|*max|w| <= 2^31 - 1 (the int32 accumulator bound).
    Needs activations in [0, 255] and weights in [-128, 127] (the instruction's operand types)."""
    why = None
    if not (MADD_X[0] <= b.x_lo and b.x_hi <= MADD_X[1] and MADD_W[0] <= b.w_lo and b.w_hi <= MADD_W[1]):
        why = (f"activations in {list(MADD_X)} and weights in {list(MADD_W)}, got x in [{b.x_lo}, {b.x_hi}], "
               f"w in [{b.w_lo}, {b.w_hi}]")
    elif 2 * b.pmax > I16_MAX:
        why = f"2*max|x|*max|w| <= 2^15 - 1 (an int16 pair sum), got 2*{b.xmax}*{b.wmax} = {2 * b.pmax}"
    elif b.accd != np.int32:
        why = f"K*max|x|*max|w| <= 2^31 - 1 (int32 accumulators), got {b.k}*{b.pmax} = {b.k * b.pmax}"
    if why:
        raise KernelInputError(f"{where}: method 'madd' needs {why}")
    return I16_MAX // (2 * b.pmax) if b.pmax else 1 << 62


def int8_dtype(b: OperandBounds):
    """uint8/int8 activation dtype for the int8 GEMM, or None when the operands do not fit bytes."""
    if -128 <= b.w_lo and b.w_hi <= 127:
        if 0 <= b.x_lo and b.x_hi <= 255:
            return np.uint8
        if -128 <= b.x_lo and b.x_hi <= 127:
            return np.int8
    return None


def int8_bytes(b: OperandBounds, where: str) -> int:
    if b.accd != np.int32 or int8_dtype(b) is None:
        raise KernelInputError(f"{where}: method 'int8' needs byte operands and K*max|x|*max|w| <= 2^31 - 1, "
                               f"got x in [{b.x_lo}, {b.x_hi}], w in [{b.w_lo}, {b.w_hi}], K={b.k}")
    return 0


def int64_exact(b: OperandBounds, where: str) -> int:
    return 0        # operand_bounds has refused every bound past int64


# ---- fp32: chunks longer than the element bound, proven by Cauchy-Schwarz on the actual codes
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


def fp32_chunks(x: np.ndarray, w: np.ndarray, groups: int, b: OperandBounds):
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
    x_lo, x_hi, wmax = b.x_lo, b.x_hi, b.wmax
    mid = (x_lo + x_hi + 1) // 2 if x_lo >= 0 else 0
    options = [(0, max(abs(x_lo), abs(x_hi)))] + ([(mid, max(mid - x_lo, x_hi - mid))] if mid else [])

    def tap_sums():
        return _tap_sums(np.ascontiguousarray(w).reshape(O, Cg * taps), taps)

    best, stats = None, None
    for i, (center, xdev) in enumerate(options):
        nc = -(-k // f32_chunk_len(k, xdev * wmax))
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

