"""An MR-row x 16-channel integer GEMM tile on byte multiply-adds (x86 `vpmaddubsw`), as a numba intrinsic,
its variant that requantises the tile in registers (`tile_madd_rq`), and the parallel loops of tiles over a
conv's output (`conv_tiles`, `conv_tiles_rq`; conv_madd.py lays out their operands).

One step multiplies 4 unsigned activation bytes (one row, K positions 4i..4i+3, broadcast to every lane)
by 16 channels x 4 signed weight bytes (64 bytes, two 32-byte vectors) with `pmaddubsw`: each int16 lane
is the sum of two byte products, a[4i+2e]*w[4i+2e] + a[4i+2e+1]*w[4i+2e+1]. The int16 lanes accumulate
`nflush` steps, then `pmaddwd` with ones adds each channel's two int16 lanes into int32 accumulators.

Exactness is the caller's (conv_plan.madd_flush_steps): activations in [0, 255], weights in [-128, 127],
nflush * 2 * max|x| * max|w| <= 2^15 - 1, so `pmaddubsw` never saturates and no int16 lane wraps, and
K * max|x| * max|w| <= 2^31 - 1, so no int32 accumulator wraps. Under those bounds the x86 instructions
and the portable form (widen, multiply, add neighbouring lanes: for CPUs without AVX2) give the same
exact integers. LLVM cannot be asked for `vpmaddubsw` from a plain loop (it widens to 32-bit lanes), hence
the intrinsic.
"""
from __future__ import annotations

import llvmlite.binding as llvm_binding
from llvmlite import ir
import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

MR = 4            # rows per tile
NR = 16           # output channels per tile: two vectors of 8 channels x 4 bytes
KSTEP = 4         # K positions per step
WSTEP = NR * KSTEP   # weight bytes per step

HAS_AVX2 = bool(llvm_binding.get_host_cpu_features().get("avx2", False))

_I8, _I16, _I32, _I64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
_V32I8, _V16I16, _V8I32 = ir.VectorType(_I8, 32), ir.VectorType(_I16, 16), ir.VectorType(_I32, 8)


def _lanes(builder, v, first: int, n: int):
    """Every second lane of v from `first` (n lanes)."""
    mask = ir.Constant(ir.VectorType(_I32, n), [first + 2 * i for i in range(n)])
    return builder.shuffle_vector(v, ir.Constant(v.type, ir.Undefined), mask)


def _madd_ub_sw(builder, x86: bool, a, w):
    """<16 x i16> pair sums of unsigned bytes a times signed bytes w (the caller proves no int16 overflow)."""
    if x86:
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V16I16, [_V32I8, _V32I8]),
                                            "llvm.x86.avx2.pmadd.ub.sw")
        return builder.call(fn, [a, w])
    v32i16 = ir.VectorType(_I16, 32)
    p = builder.mul(builder.zext(a, v32i16), builder.sext(w, v32i16))   # |p| <= 255 * 128 < 2^15: exact
    return builder.add(_lanes(builder, p, 0, 16), _lanes(builder, p, 1, 16))


def _madd_wd_ones(builder, x86: bool, v):
    """<8 x i32>: v's neighbouring int16 lanes added (pmaddwd with ones)."""
    if x86:
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V8I32, [_V16I16, _V16I16]),
                                            "llvm.x86.avx2.pmadd.wd")
        return builder.call(fn, [v, ir.Constant(_V16I16, [1] * 16)])
    wide = builder.sext(v, ir.VectorType(_I32, 16))
    return builder.add(_lanes(builder, wide, 0, 8), _lanes(builder, wide, 1, 8))


def _concat(builder, vectors):
    """One vector of the lanes of `vectors` (all of one type) in order; trailing lanes undefined when their
    count is not a power of two."""
    vs = list(vectors)
    while len(vs) > 1:
        if len(vs) % 2:
            vs.append(ir.Constant(vs[0].type, ir.Undefined))
        n = vs[0].type.count
        mask = ir.Constant(ir.VectorType(_I32, 2 * n), list(range(2 * n)))
        vs = [builder.shuffle_vector(a, b, mask) for a, b in zip(vs[0::2], vs[1::2])]
    return vs[0]


def _byte_ptr(builder, base, offset, ty):
    return builder.bitcast(builder.gep(base, [offset]), ir.PointerType(ty))


def _accumulate(builder, x86: bool, xptr, rowptr, koffptr, nkq, wptr, wofs, nflush):
    """The tile's sums: 2*MR <8 x i32> values, row r's channels 8h..8h+7 at index 2r + h."""
    zero16, zero32 = ir.Constant(_V16I16, None), ir.Constant(_V8I32, None)
    a16 = [cgutils.alloca_once_value(builder, zero16) for _ in range(2 * MR)]
    a32 = [cgutils.alloca_once_value(builder, zero32) for _ in range(2 * MR)]
    bases = [builder.load(builder.gep(rowptr, [ir.Constant(_I64, r)])) for r in range(MR)]

    def flush():
        for s16, s32 in zip(a16, a32):
            builder.store(builder.add(builder.load(s32), _madd_wd_ones(builder, x86, builder.load(s16))), s32)
            builder.store(zero16, s16)

    nchunks = builder.sdiv(builder.add(nkq, builder.sub(nflush, ir.Constant(_I64, 1))), nflush)
    with cgutils.for_range(builder, nchunks) as chunk:
        start = builder.mul(chunk.index, nflush)
        stop = builder.select(builder.icmp_signed("<", builder.add(start, nflush), nkq),
                              builder.add(start, nflush), nkq)
        with cgutils.for_range(builder, stop, start=start) as step:
            i = step.index
            ko = builder.load(builder.gep(koffptr, [i]))
            wo = builder.add(wofs, builder.mul(i, ir.Constant(_I64, WSTEP)))
            wv = [builder.load(_byte_ptr(builder, wptr, builder.add(wo, ir.Constant(_I64, 32 * h)), _V32I8),
                               align=1) for h in range(2)]
            for r in range(MR):
                word = builder.load(_byte_ptr(builder, xptr, builder.add(bases[r], ko), _I32), align=1)
                splat = builder.shuffle_vector(builder.insert_element(ir.Constant(_V8I32, ir.Undefined), word,
                                                                      ir.Constant(_I32, 0)),
                                               ir.Constant(_V8I32, ir.Undefined), ir.Constant(_V8I32, None))
                av = builder.bitcast(splat, _V32I8)
                for h in range(2):
                    s = a16[2 * r + h]
                    builder.store(builder.add(builder.load(s), _madd_ub_sw(builder, x86, av, wv[h])), s)
        flush()
    return [builder.load(a) for a in a32]


def _store_columns(builder, rows32, outptr, out_off, stride):
    """Channel j's MR consecutive pixels at outptr[out_off + j*stride] (a transpose), each value truncated to
    outptr's element type."""
    elt = outptr.type.pointee
    for h in range(2):
        rows = _concat(builder, [rows32[2 * r + h] for r in range(MR)])
        for j in range(8):      # lane j of every row vector
            col = builder.shuffle_vector(rows, ir.Constant(rows.type, ir.Undefined),
                                         ir.Constant(ir.VectorType(_I32, MR), [8 * r + j for r in range(MR)]))
            if elt.width < 32:
                col = builder.trunc(col, ir.VectorType(elt, MR))
            at = builder.add(out_off, builder.mul(ir.Constant(_I64, 8 * h + j), stride))
            builder.store(col, builder.bitcast(builder.gep(outptr, [at]), ir.PointerType(ir.VectorType(elt, MR))),
                          align=elt.width // 8)


def _tile_codegen(x86: bool):
    def codegen(context, builder, sig, args):
        xp, rows, koff, nkq, wp, wofs, nflush, acc, out, out_off, stride = args
        data = [context.make_array(t)(context, builder, v).data for t, v in zip(sig.args, args)
                if isinstance(t, types.Array)]
        xptr, rowptr, koffptr, wptr, accptr, outptr = data
        rows32 = _accumulate(builder, x86, xptr, rowptr, koffptr, nkq, wptr, wofs, nflush)
        with builder.if_else(builder.icmp_signed(">=", out_off, ir.Constant(_I64, 0))) as (to_out, to_acc):
            with to_out:
                _store_columns(builder, rows32, outptr, out_off, stride)
            with to_acc:
                for r in range(MR):
                    for h in range(2):
                        dst = builder.bitcast(builder.gep(accptr, [ir.Constant(_I64, r * NR + 8 * h)]),
                                              ir.PointerType(_V8I32))
                        builder.store(rows32[2 * r + h], dst, align=4)
        return context.get_dummy_value()
    return codegen


def _splat(builder, v, ty):
    vec = builder.insert_element(ir.Constant(ty, ir.Undefined), v, ir.Constant(_I32, 0))
    return builder.shuffle_vector(vec, ir.Constant(ty, ir.Undefined), ir.Constant(ir.VectorType(_I32, ty.count), None))


def _clamp(builder, y, lo, hi):
    y = builder.select(builder.icmp_signed("<", y, lo), lo, y)
    return builder.select(builder.icmp_signed(">", y, hi), hi, y)


def _requant_tile(builder, rows32, biasptr, mptr, addptr, shptr, minptr, maxptr, ch0, lo, hi, rng_off):
    """The codes of the tile's int32 sums (same layout as rows32): clamp(rq(T + bias)) per channel, the
    per-channel min / max of T + bias folded into minptr / maxptr[rng_off + c].

    shptr holds each channel's shift as int64, or as int32 d = shift - 32 (`tile_shifts`): then rq is the high
    word of P << max(-d, 0), shifted right by max(d, 0), one 32-bit shift and clamp per 8 lanes (`vpsravd`,
    `vpmaxsd`) instead of AVX2's emulated 64-bit ones. P = x*M0 + add (|P| < 2^63 by the caller's proof): for
    d >= 0 the high word is floor(P / 2^32), and floor(floor(P / 2^32) / 2^d) = floor(P / 2^shift); for d < 0
    the caller proves rq an int32 value, so P < 2^(31 + shift) in magnitude and P * 2^-d cannot wrap int64."""
    v8i64 = ir.VectorType(_I64, 8)
    high_word = shptr.type.pointee.width == 32
    if high_word:
        lo8, hi8 = (_splat(builder, builder.trunc(v, _I32), _V8I32) for v in (lo, hi))
        odd = ir.Constant(ir.VectorType(_I32, 8), list(range(1, 16, 2)))
    else:
        lo8, hi8 = _splat(builder, lo, v8i64), _splat(builder, hi, v8i64)
    codes = [None] * (2 * MR)
    for h in range(2):
        c = builder.add(ch0, ir.Constant(_I64, 8 * h))
        b, m = (builder.load(_byte_ptr(builder, ptr, c, _V8I32), align=4) for ptr in (biasptr, mptr))
        a = builder.load(_byte_ptr(builder, addptr, c, v8i64), align=8)
        s = builder.load(_byte_ptr(builder, shptr, c, _V8I32 if high_word else v8i64), align=4)
        if high_word:
            zero = ir.Constant(_V8I32, None)
            up = builder.sext(builder.select(builder.icmp_signed("<", s, zero), builder.neg(s), zero), v8i64)
            s = builder.select(builder.icmp_signed(">", s, zero), s, zero)
        m64 = builder.sext(m, v8i64)
        xs = [builder.add(rows32[2 * r + h], b) for r in range(MR)]        # acc + bias: int32 by the proof
        for r, x in enumerate(xs):
            p = builder.add(builder.mul(builder.sext(x, v8i64), m64), a)     # vpmuldq
            if high_word:
                words = builder.bitcast(builder.shl(p, up), ir.VectorType(_I32, 16))
                y = builder.ashr(builder.shuffle_vector(words, ir.Constant(words.type, ir.Undefined), odd), s)
                codes[2 * r + h] = _clamp(builder, y, lo8, hi8)
            else:
                codes[2 * r + h] = builder.trunc(_clamp(builder, builder.ashr(p, s), lo8, hi8), _V8I32)
        at = builder.add(rng_off, c)
        for ptr, op in ((minptr, "<"), (maxptr, ">")):
            dst = _byte_ptr(builder, ptr, at, _V8I32)
            ext = builder.load(dst, align=4)
            for x in xs:
                ext = builder.select(builder.icmp_signed(op, x, ext), x, ext)
            builder.store(ext, dst, align=4)
    return codes


def _store_rows(builder, rows32, outptr, orowptr, ch0):
    """Row r's 16 channels as one contiguous run at outptr[orows[r] + ch0] (an NHWC store), each value
    truncated to outptr's element type."""
    elt = outptr.type.pointee
    for r in range(MR):
        base = builder.add(builder.load(builder.gep(orowptr, [ir.Constant(_I64, r)])), ch0)
        for h in range(2):
            v = rows32[2 * r + h]
            if elt.width < 32:
                v = builder.trunc(v, ir.VectorType(elt, 8))
            dst = builder.bitcast(builder.gep(outptr, [builder.add(base, ir.Constant(_I64, 8 * h))]),
                                  ir.PointerType(v.type))
            builder.store(v, dst, align=elt.width // 8)


def _tile_rq_codegen(x86: bool, nhwc: bool):
    def codegen(context, builder, sig, args):
        (xp, rows, koff, nkq, wp, wofs, nflush, bias, m32, add, sh, ch0, lo, hi, cmin, cmax, rng_off, out) = args[:18]
        data = [context.make_array(t)(context, builder, v).data for t, v in zip(sig.args, args)
                if isinstance(t, types.Array)]
        xptr, rowptr, koffptr, wptr, biasptr, mptr, addptr, shptr, minptr, maxptr, outptr = data[:11]
        rows32 = _accumulate(builder, x86, xptr, rowptr, koffptr, nkq, wptr, wofs, nflush)
        codes = _requant_tile(builder, rows32, biasptr, mptr, addptr, shptr, minptr, maxptr, ch0, lo, hi, rng_off)
        if nhwc:
            _store_rows(builder, codes, outptr, data[11], ch0)
        else:
            _store_columns(builder, codes, outptr, args[18], args[19])
        return context.get_dummy_value()
    return codegen


def _tile_rq_add_codegen(x86: bool):
    def codegen(context, builder, sig, args):
        (xp, rows, koff, nkq, wp, wofs, nflush, bias, m32, add, sh, ch0, cmin, cmax, rng_off, out, orows, sc, sc_m0,
         sc_add, sc_sh, f_add, f, lo, hi, smin, smax) = args
        data = [context.make_array(t)(context, builder, v).data for t, v in zip(sig.args, args)
                if isinstance(t, types.Array)]
        (xptr, rowptr, koffptr, wptr, biasptr, mptr, addptr, shptr, minptr, maxptr, outptr, orowptr, scptr, sminptr,
         smaxptr) = data
        rows32 = _accumulate(builder, x86, xptr, rowptr, koffptr, nkq, wptr, wofs, nflush)
        i32_lo, i32_hi = ir.Constant(_I64, -(2**31)), ir.Constant(_I64, 2**31 - 1)
        ys = _requant_tile(builder, rows32, biasptr, mptr, addptr, shptr, minptr, maxptr, ch0, i32_lo, i32_hi, rng_off)
        v8i64 = ir.VectorType(_I64, 8)
        sum32 = sminptr.type.pointee.width == 32      # the caller proved every sum + 2^(f-1) an int32 value
        wide = _V8I32 if sum32 else v8i64
        m8, a8, s8 = (_splat(builder, v, v8i64) for v in (sc_m0, sc_add, sc_sh))
        fa8, f8, lo8, hi8 = (_splat(builder, builder.trunc(v, _I32) if sum32 else v, wide) for v in (f_add, f, lo, hi))
        codes_in = scptr.type.pointee.width == 8
        elt = outptr.type.pointee
        bases = [builder.add(builder.load(builder.gep(orowptr, [ir.Constant(_I64, r)])), ch0) for r in range(MR)]
        for h in range(2):
            at_rng = builder.add(rng_off, builder.add(ch0, ir.Constant(_I64, 8 * h)))
            ext = [builder.load(_byte_ptr(builder, ptr, at_rng, wide), align=4) for ptr in (sminptr, smaxptr)]
            for r in range(MR):
                at = builder.add(bases[r], ir.Constant(_I64, 8 * h))
                if codes_in:        # the shortcut's rescale, rq(c; m0, shift) in int64 (|c*m0| < 2^39)
                    c = builder.zext(builder.load(_byte_ptr(builder, scptr, at, ir.VectorType(_I8, 8)), align=1), v8i64)
                    t = builder.ashr(builder.add(builder.mul(c, m8), a8), s8)
                    t = builder.trunc(t, _V8I32) if sum32 else t
                else:
                    t = builder.load(_byte_ptr(builder, scptr, at, _V8I32), align=4)
                    t = t if sum32 else builder.sext(t, v8i64)
                s_ = builder.add(ys[2 * r + h] if sum32 else builder.sext(ys[2 * r + h], v8i64), t)
                ext[0] = builder.select(builder.icmp_signed("<", s_, ext[0]), s_, ext[0])
                ext[1] = builder.select(builder.icmp_signed(">", s_, ext[1]), s_, ext[1])
                o = _clamp(builder, builder.ashr(builder.add(s_, fa8), f8), lo8, hi8)
                if elt.width < wide.element.width:
                    o = builder.trunc(o, ir.VectorType(elt, 8))
                builder.store(o, builder.bitcast(builder.gep(outptr, [at]), ir.PointerType(o.type)), align=elt.width // 8)
            for ptr, v in zip((sminptr, smaxptr), ext):
                builder.store(v, _byte_ptr(builder, ptr, at_rng, wide), align=4)
        return context.get_dummy_value()
    return codegen


def _make_tile(x86: bool):
    @intrinsic
    def tile(typingctx, xp, rows, koff, nkq, wp, wofs, nflush, acc, out, out_off, stride):
        """T[r, j] = sum_i sum_e xp[rows[r] + koff[i] + e] * wp[wofs + 64*i + 4*j + e], i < nkq, e < 4, for
        r < MR, j < 16 (int32; int16 partial sums flushed every nflush steps), stored to acc[r*16 + j] when
        out_off < 0, else to out[out_off + j*stride + r] (16 channel rows of 4 consecutive pixels, int32)."""
        sig = types.void(xp, rows, koff, types.int64, wp, types.int64, types.int64, acc, out, types.int64,
                         types.int64)
        return sig, _tile_codegen(x86)
    return tile


def _make_tile_rq(x86: bool):
    @intrinsic
    def tile_rq(typingctx, xp, rows, koff, nkq, wp, wofs, nflush, bias, m32, add, sh, ch0, lo, hi, cmin, cmax, rng_off,
                out, out_off, stride):
        """The tile T of `tile` (16 whole channels from ch0), requantised in registers: out[out_off + j*stride + r] =
        clamp(rq(T[r, j] + bias[c]; m32[c], sh[c], add[c] - 2^(sh[c]-1)), lo, hi), c = ch0 + j (bias, m32: int32
        arrays; add: int64; sh: int64, or int32 holding sh[c] - 32 where every sh[c] >= 32), truncated to out's
        element type; cmin / cmax[rng_off + c] (int32) take the min /
        max of T[r, j] + bias[c]. The caller proves |T + bias| <= 2^31 - 1 (then the 32x32 -> 64-bit product
        and its int64 sum cannot wrap, and [lo, hi] fits out's type)."""
        sig = types.void(xp, rows, koff, types.int64, wp, types.int64, types.int64, bias, m32, add, sh, types.int64,
                         types.int64, types.int64, cmin, cmax, types.int64, out, types.int64, types.int64)
        return sig, _tile_rq_codegen(x86, False)
    return tile_rq


def _make_tile_rq_nhwc(x86: bool):
    @intrinsic
    def tile_rq_nhwc(typingctx, xp, rows, koff, nkq, wp, wofs, nflush, bias, m32, add, sh, ch0, lo, hi, cmin, cmax,
                     rng_off, out, orows):
        """`tile_rq` storing row r's 16 codes contiguously at out[orows[r] + ch0 + j] (an NHWC tensor; orows:
        MR int64 offsets) instead of transposed."""
        sig = types.void(xp, rows, koff, types.int64, wp, types.int64, types.int64, bias, m32, add, sh, types.int64,
                         types.int64, types.int64, cmin, cmax, types.int64, out, orows)
        return sig, _tile_rq_codegen(x86, True)
    return tile_rq_nhwc


tile_madd = _make_tile(HAS_AVX2)        # vpmaddubsw / vpmaddwd where the host has AVX2
tile_portable = _make_tile(False)       # the same integers from plain vector IR (any CPU; tests compare both)
tile_madd_rq = _make_tile_rq(HAS_AVX2)
tile_madd_rq_nhwc = _make_tile_rq_nhwc(HAS_AVX2)


@intrinsic
def tile_madd_rq_add(typingctx, xp, rows, koff, nkq, wp, wofs, nflush, bias, m32, add, sh, ch0, cmin, cmax, rng_off, out,
                     orows, sc, sc_m0, sc_add, sc_sh, f_add, f, lo, hi, smin, smax):
    """The residual add in the tile of `tile_rq_nhwc` (unclamped: y = rq(T + bias) as int32, its ranges kept the
    same way), NHWC at orows[r] + ch0 + j: out = clamp((y + v + f_add) >> f, lo, hi) with v the shortcut at the same
    place of sc, rq(sc; sc_m0, sc_sh, 0) (sc_add = 2^(sc_sh-1)) where sc holds byte codes, else sc's int32 value
    (sh as in `tile_rq`: int64 shifts or int32 shift - 32);
    smin / smax[rng_off + c] take the min / max of y + v. The caller proves rq(T + bias) and v int32 (else it raises:
    values are then unspecified); every sum is then exact in int64. With int32 smin / smax the sums, their rounding
    and clamp run in int32 lanes: the caller proves |y| + |v| + f_add <= 2^31 - 1 for every value (`sums_fit_int32`)."""
    sig = types.void(xp, rows, koff, types.int64, wp, types.int64, types.int64, bias, m32, add, sh, types.int64, cmin,
                     cmax, types.int64, out, orows, sc, types.int64, types.int64, types.int64, types.int64, types.int64,
                     types.int64, types.int64, smin, smax)
    return sig, _tile_rq_add_codegen(HAS_AVX2)

# The loop over tiles lives in this file because numba's on-disk cache is keyed on the source file of the
# jitted function only: beside the intrinsic, an edit of the tile also recompiles the loop that inlines it.
TILES_PER_TASK = 32       # row tiles per parallel task (amortises the task's scratch arrays)


@njit(inline="always")
def _tile_rows(rowbase, tm, P, rows):
    """(first row m0, its image n and pixel q0) of row tile tm; rows[r] = rowbase[m0 + r], rows beyond the
    last one repeating it."""
    m0 = tm * MR
    for r in range(MR):
        rows[r] = rowbase[min(m0 + r, rowbase.shape[0] - 1)]
    return m0, m0 // P, m0 % P


@njit(parallel=True, cache=True)
def conv_tiles(xflat, rowbase, koff, wpk, nflush, O, P, out):
    """out[n, o, q] = sum_i sum_e xflat[rowbase[m] + koff[i] + e] * W[o, 4i + e] for m = n*P + q, o < O,
    with W packed in wpk (see the module docstring). Rows beyond M in the last tile repeat row M-1 and are
    dropped. Tasks write disjoint rows."""
    M = rowbase.shape[0]
    nkq = koff.shape[0]
    flat = out.reshape(-1)
    nb = wpk.shape[0] // (nkq * WSTEP)
    ntm = (M + MR - 1) // MR
    for task in prange((ntm + TILES_PER_TASK - 1) // TILES_PER_TASK):
        rows = np.empty(MR, np.int64)
        acc = np.empty(MR * NR, np.int32)
        for tm in range(task * TILES_PER_TASK, min(ntm, (task + 1) * TILES_PER_TASK)):
            m0, n, q0 = _tile_rows(rowbase, tm, P, rows)
            whole = q0 + MR <= P         # the tile's rows are consecutive pixels of one image
            for b in range(nb):
                nj = min(NR, O - b * NR)
                at = (n * O + b * NR) * P + q0 if whole and nj == NR else -1
                tile_madd(xflat, rows, koff, np.int64(nkq), wpk, np.int64(b * nkq * WSTEP), np.int64(nflush), acc,
                          flat, np.int64(at), np.int64(P))
                if at >= 0:
                    continue
                for r in range(min(MR, M - m0)):
                    n = (m0 + r) // P
                    q = (m0 + r) % P
                    for j in range(nj):
                        out[n, b * NR + j, q] = acc[r * NR + j]


@njit(inline="always")
def _rq_code(v, b, m, a, sh, lo, hi):
    """clamp(rq(v + b; m, sh, frac), lo, hi) with a = 2^(sh-1) + frac and m = M0 (an int32 value), as
    requant.py's int32 form (vpmuldq): the caller proves |v + b| <= 2^31 - 1, so the 32x32 -> 64-bit product
    and the int64 sum cannot wrap."""
    y = (np.int64(np.int32(np.int64(v) + b)) * m + a) >> sh
    return min(max(y, lo), hi)


@njit(inline="always")
def _edge_tile_rq(xflat, rows, koff, nkq, wpk, nflush, b, nj, m0, nr, task, bias, m32, add, sh, lo, hi, t, cmin, cmax,
                  flat, obase, O, P):
    """An edge tile (nr rows, nj channels of block b) from the 256-byte scratch t, requantised in scalars:
    value (m, o) to flat[obase[m] + o] when obase holds the M pixels' offsets (NHWC), else to flat's NCHW
    place ((m // P)*O + o)*P + m % P."""
    tile_madd(xflat, rows, koff, np.int64(nkq), wpk, np.int64(b * nkq * WSTEP), np.int64(nflush), t,
              t, np.int64(0), np.int64(MR))
    for j in range(nj):
        o = b * NR + j
        bo, mo, ao, so = np.int64(bias[o]), np.int64(m32[o]), add[o], sh[o]
        for r in range(nr):
            v = np.int64(t[j * MR + r]) + bo
            cmin[task, o] = min(cmin[task, o], v)
            cmax[task, o] = max(cmax[task, o], v)
            m = m0 + r
            at = obase[m] + o if obase.shape[0] else ((m // P) * O + o) * P + m % P
            flat[at] = _rq_code(t[j * MR + r], bo, mo, ao, so, lo, hi)


@njit(parallel=True, cache=True)
def conv_tiles_rq(xflat, rowbase, koff, wpk, nflush, O, P, bias, m32, add, sh, tsh, lo, hi, out, cmin, cmax, obase):
    """out[n, o, q] = clamp(rq(T[m, o] + bias[o]; m32[o], sh[o], add[o] - 2^(sh[o]-1)), lo, hi) for m = n*P + q,
    T as `conv_tiles` computes it (bias, m32: int32; add, sh: int64): whole tiles are requantised in registers
    (`tile_madd_rq`, which reads the shifts from tsh: sh, or int32 sh - 32 where every sh >= 32), edge tiles
    from a 256-byte scratch; the layer's int32 sums are never stored. With obase
    non-empty (M int64 offsets), value (m, o) goes to out.flat[obase[m] + o] instead (an NHWC tensor, any
    padding; `tile_madd_rq_nhwc`). cmin[t, o] / cmax[t, o] (int32): min / max of T + bias over task t's rows
    (the caller fills them with the int32 extremes and reduces over t). The caller proves
    K*max|x|*max|w| + |bias[o]| <= 2^31 - 1 (conv_requant.fused_requant_fits)."""
    M = rowbase.shape[0]
    nkq = koff.shape[0]
    nb = wpk.shape[0] // (nkq * WSTEP)
    ntm = (M + MR - 1) // MR
    flat = out.reshape(-1)
    rmin = cmin.reshape(-1)
    rmax = cmax.reshape(-1)
    nhwc = obase.shape[0] > 0
    for task in prange(cmin.shape[0]):
        rows = np.empty(MR, np.int64)
        orows = np.empty(MR, np.int64)
        t = np.empty(MR * NR, np.int32)          # an edge tile, channel-major: t[j*MR + r]
        for tm in range(task * TILES_PER_TASK, min(ntm, (task + 1) * TILES_PER_TASK)):
            m0, n, q0 = _tile_rows(rowbase, tm, P, rows)
            nr = min(MR, M - m0)
            if nhwc:
                _tile_rows(obase, tm, P, orows)
            whole = nr == MR and (nhwc or q0 + MR <= P)
            for b in range(nb):
                nj = min(NR, O - b * NR)
                if not (whole and nj == NR):
                    _edge_tile_rq(xflat, rows, koff, nkq, wpk, nflush, b, nj, m0, nr, task, bias, m32, add, sh, lo, hi,
                                  t, cmin, cmax, flat, obase, O, P)
                elif nhwc:
                    tile_madd_rq_nhwc(xflat, rows, koff, np.int64(nkq), wpk, np.int64(b * nkq * WSTEP),
                                      np.int64(nflush), bias, m32, add, tsh, np.int64(b * NR), np.int64(lo),
                                      np.int64(hi), rmin, rmax, np.int64(task * O), flat, orows)
                else:
                    tile_madd_rq(xflat, rows, koff, np.int64(nkq), wpk, np.int64(b * nkq * WSTEP), np.int64(nflush),
                                 bias, m32, add, tsh, np.int64(b * NR), np.int64(lo), np.int64(hi), rmin, rmax,
                                 np.int64(task * O), flat, np.int64((n * O + b * NR) * P + q0), np.int64(P))


@njit(parallel=True, cache=True)
def conv_tiles_rq_add(xflat, rowbase, koff, wpk, nflush, O, bias, m32, add, sh, obase, cmin, cmax, sc, sc_m0, sc_sh,
                      f, lo, hi, out, smin, smax):
    """The NHWC `conv_tiles_rq` of an unclamped conv with the residual add in its tiles (`tile_madd_rq_add`):
    out.flat[obase[m] + o] = clamp((rq(T[m, o] + bias[o]) + v + 2^(f-1)) >> f, lo, hi) (f = 0: no rounding),
    v the shortcut sc.flat[obase[m] + o] (rescaled by sc_m0, sc_sh when sc holds byte codes); sh as tsh of
    conv_tiles_rq (int64 shifts, or int32 shift - 32 where every shift >= 32). Whole tiles only:
    the caller has M % 4 == 0 and O % 16 == 0. cmin / cmax (int32) as in conv_tiles_rq, smin / smax[t, o]
    (int64, or int32 where the caller proved the sums int32, as `tile_madd_rq_add` says): min / max of the sum
    over task t's rows."""
    M = rowbase.shape[0]
    nkq = koff.shape[0]
    ntm = M // MR
    flat = out.reshape(-1)
    scf = sc.reshape(-1)
    rmin, rmax, qmin, qmax = cmin.reshape(-1), cmax.reshape(-1), smin.reshape(-1), smax.reshape(-1)
    sc_add = np.int64(1) << (sc_sh - 1)
    f_add = (np.int64(1) << (f - 1)) if f > 0 else np.int64(0)
    for task in prange(cmin.shape[0]):
        rows = np.empty(MR, np.int64)
        orows = np.empty(MR, np.int64)
        for tm in range(task * TILES_PER_TASK, min(ntm, (task + 1) * TILES_PER_TASK)):
            _tile_rows(rowbase, tm, 1, rows)
            _tile_rows(obase, tm, 1, orows)
            for b in range(O // NR):
                tile_madd_rq_add(xflat, rows, koff, np.int64(nkq), wpk, np.int64(b * nkq * WSTEP), np.int64(nflush),
                                 bias, m32, add, sh, np.int64(b * NR), rmin, rmax, np.int64(task * O), flat, orows, scf,
                                 np.int64(sc_m0), sc_add, np.int64(sc_sh), f_add, np.int64(f), np.int64(lo),
                                 np.int64(hi), qmin, qmax)
