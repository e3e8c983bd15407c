"""Direct float32 convolution over stride phase planes: no im2col, exact by the same 2^24 bound as "fp32".

Layout. Each input channel of each image is zero padded and split into s*s stride phases (phase (py, px)
holds padded pixels (py + s*i, px + s*j)), each a plane of Hq x Wq = ceil(Hp/s) x ceil(Wp/s), stored one
after another in one flat row. Tap (ky, kx) then reads its phase plane at a fixed offset
((ky%s)*s + kx%s)*Hq*Wq + (ky//s)*Wq + kx//s, and output pixel (oy, ox) sits at flat position oy*Wq + ox
in every tap's window: a stride-s conv becomes, per tap, a contiguous multiply-add of Ho*Wq floats (the
Wq - Wo extra columns per row are computed and dropped). The inner loop updates 4 output channels from 3
taps (3 loads, 12 FMAs and 4 accumulator read-modify-writes per vector), which LLVM vectorises.

Exactness. Operands are integer codes. The float accumulator of one output is flushed into an int64
accumulator every `cc` input channels, with cc*T*max|x|*max|w| <= 2^24 - 1 (T = kh*kw): every product and
every partial sum inside a flush interval, in any order, is an integer of magnitude < 2^24, so no float
operation rounds. Needs T*max|x|*max|w| <= 2^24 - 1 (cc >= 1); the planner (conv_plan.py) proves it.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .buffers import zeroed_buffer
from .conv_plan import ConvPlan, direct_packing

_OT = 4   # output channels per task (the register/accumulator tile)


@njit(parallel=True, cache=True)
def _phase_planes(x, p, s, Hq, Wq, xq):
    """xq[n, c, ((yy%s)*s + xx%s)*Hq*Wq + (yy//s)*Wq + xx//s] = x[n, c, y, xx'] for padded yy = y+p,
    xx = xx'+p; xq is zero-initialised (the padding and any tail stay zero)."""
    N, C, H, W = x.shape
    hw = Hq * Wq
    for t in prange(N * C):
        n = t // C
        c = t % C
        src = x[n, c]
        dst = xq[n, c]
        if s == 1:
            for y in range(H):
                base = (y + p) * Wq + p
                d = dst[base:base + W]            # zero-based slices: a plain vectorised copy (3x faster)
                r = src[y]
                for xx in range(W):
                    d[xx] = r[xx]
        else:
            for y in range(H):
                yy = y + p
                base = (yy % s) * s * hw + (yy // s) * Wq
                for xx in range(W):
                    xc = xx + p
                    dst[base + (xc % s) * hw + xc // s] = src[y, xx]


@njit(parallel=True, cache=True, fastmath={"contract"})
def _direct(xq, wt, offs, Ho, Wo, Wq, cc, F, S, out):
    """out[n, g*Og + o, oy, ox] = sum over c < Cg, taps t of w[g, o, c, t] * xq[n, g*Cg + c, offs[t] + oy*Wq + ox].

    xq (N, C, Lx) float32 phase planes (see the module docstring); offs (T,) int64 tap offsets; out
    (N, O, Ho, Wo) int32/int64. wt (G, Ogp, Cg, T) float32, Ogp a multiple of 4: row p packs the F output
    channels p*F + j as sum_j w[p*F + j] * 2^(j*S) (F = 1: plain weights; zero rows beyond Og). Float sums
    are flushed every `cc` channels into integer accumulators, each field j recovered by rounding off the
    fields below it (the caller proves every partial sum exact and every field below 2^(S-1) in magnitude).
    Only contraction (a + u*e -> one FMA, exact here) is allowed, no reassociation. A task owns one image
    and 4 packed rows; tasks write disjoint outputs."""
    N = xq.shape[0]
    G, Ogp, Cg, T = wt.shape
    O = out.shape[1]
    Og = O // G
    nt = Ogp // _OT
    L = Ho * Wq
    flush = cc < Cg or F > 1
    half = np.int32(1 << (S - 1)) if F > 1 else np.int32(0)
    for task in prange(N * G * nt):
        n = task // (G * nt)
        g = (task // nt) % G
        o0 = (task % nt) * _OT
        a = np.zeros((_OT, L), np.float32)
        ai = np.zeros((_OT * F, L if flush else 0), np.int64)
        a0 = a[0]
        a1 = a[1]
        a2 = a[2]
        a3 = a[3]
        for c in range(Cg):
            xc = xq[n, g * Cg + c]
            w0 = wt[g, o0, c]
            w1 = wt[g, o0 + 1, c]
            w2 = wt[g, o0 + 2, c]
            w3 = wt[g, o0 + 3, c]
            t = 0
            while t + 3 <= T:
                xa = xc[offs[t]:offs[t] + L]
                xb = xc[offs[t + 1]:offs[t + 1] + L]
                xd = xc[offs[t + 2]:offs[t + 2] + L]
                u0, u1, u2 = w0[t], w0[t + 1], w0[t + 2]
                v0, v1, v2 = w1[t], w1[t + 1], w1[t + 2]
                p0, p1, p2 = w2[t], w2[t + 1], w2[t + 2]
                r0, r1, r2 = w3[t], w3[t + 1], w3[t + 2]
                for q in range(L):
                    e = xa[q]
                    f = xb[q]
                    h = xd[q]
                    # left to right: three FMAs per accumulator
                    a0[q] = ((a0[q] + u0 * e) + u1 * f) + u2 * h
                    a1[q] = ((a1[q] + v0 * e) + v1 * f) + v2 * h
                    a2[q] = ((a2[q] + p0 * e) + p1 * f) + p2 * h
                    a3[q] = ((a3[q] + r0 * e) + r1 * f) + r2 * h
                t += 3
            while t < T:
                xa = xc[offs[t]:offs[t] + L]
                u0, v0, p0, r0 = w0[t], w1[t], w2[t], w3[t]
                for q in range(L):
                    e = xa[q]
                    a0[q] = a0[q] + u0 * e
                    a1[q] = a1[q] + v0 * e
                    a2[q] = a2[q] + p0 * e
                    a3[q] = a3[q] + r0 * e
                t += 1
            if flush and ((c + 1) % cc == 0 or c + 1 == Cg):
                for i in range(_OT):
                    ar = a[i]
                    for j in range(F - 1):     # field j = v minus v rounded to a multiple of 2^S
                        dst_i = ai[i * F + j]
                        for q in range(L):
                            v = np.int32(ar[q])            # an exact integer below 2^24
                            r = (v + half) >> S
                            dst_i[q] += v - (r << S)
                            ar[q] = r
                    dst_i = ai[i * F + F - 1]
                    for q in range(L):
                        dst_i[q] += np.int64(ar[q])
                        ar[q] = 0
        for i in range(_OT):
            for j in range(F):
                o = (o0 + i) * F + j
                if o >= Og:
                    continue
                dst = out[n, g * Og + o]
                for oy in range(Ho):
                    for ox in range(Wo):
                        q = oy * Wq + ox
                        dst[oy, ox] = ai[i * F + j, q] if flush else np.int64(a[i, q])


def conv_direct(x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int, plan: ConvPlan,
                out: np.ndarray) -> None:
    """Fill out (N, O, Ho, Wo) with the exact conv of validated integer codes x, w, flushing float sums every
    plan.param >= 1 input channels (the planner's `direct_flush_channels`, from the 2^24 bound)."""
    _run_direct(x, w, stride, padding, groups, min(plan.param, w.shape[1]), 1, 0, out)


def conv_direct_packed(x: np.ndarray, w: np.ndarray, stride: int, padding: int, groups: int, plan: ConvPlan,
                       out: np.ndarray) -> None:
    """As conv_direct with F output channels packed into each float32 weight, fields S bits apart
    (conv_plan.direct_packing proves the plan's flush interval keeps every field exact and separable)."""
    pk = direct_packing(plan.bounds)
    _run_direct(x, w, stride, padding, groups, min(pk.channels, w.shape[1]), pk.fields, pk.shift, out)


def _run_direct(x, w, stride, padding, groups, cc, F, S, out) -> None:
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    s = stride
    Hq, Wq = -(-(H + 2 * padding) // s), -(-(W + 2 * padding) // s)
    Ho, Wo = out.shape[2], out.shape[3]
    # tail: the last tap's window overrun; padding, tail and phase slack stay zero, so a buffer is reusable
    xq = zeroed_buffer((N, C, s * s * Hq * Wq + (kw - 1) // s), np.float32, (H, W, padding, s))
    _phase_planes(np.ascontiguousarray(x), padding, s, Hq, Wq, xq)
    og = O // groups
    rows = -(-og // F)
    wt = np.zeros((groups, -(-rows // _OT) * _OT, Cg, kh * kw), np.float32)
    wg = np.zeros((groups, rows * F, Cg, kh * kw), np.int64)
    wg[:, :og] = w.reshape(groups, og, Cg, kh * kw)
    scale = np.int64(1) << (S * np.arange(F, dtype=np.int64))        # 2^(j*S), exact integers
    wt[:, :rows] = (wg.reshape(groups, rows, F, Cg, kh * kw) * scale[None, None, :, None, None]).sum(2)
    offs = np.array([((ky % s) * s + kx % s) * Hq * Wq + (ky // s) * Wq + kx // s
                     for ky in range(kh) for kx in range(kw)], np.int64)
    _direct(xq, wt, offs, Ho, Wo, Wq, cc, F, S, out)
