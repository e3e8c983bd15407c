"""Slow, obvious walks of each array organisation's loop nest (tests only): every step is enumerated,
every MAC it performs is marked in a (group, m, k, n) tally, and the cycles are summed one step at a
time. K is in (ky, kx, c) order, m in (sample, out_y, out_x) order, as in hwsim's im2col."""
from __future__ import annotations

import numpy as np


def tally(s):
    return np.zeros((s.groups, s.m, s.k, s.n), np.int64)


def k_index(s, ky, kx, c):
    return (ky * s.kw + kx) * (s.in_ch // s.groups) + c


def bitfusion_walk(s, rows, cols, lanes, step):
    """Columns take filters, rows x lanes take reduction elements; the first layer (one group, <= 4
    channels) spreads all of C*kh*kw over the rows, others one kernel tap at a time; one output pixel
    per cycle; no fill or drain. Returns (cycles, MAC tally, input feeds (m, k), weight loads (k, n))."""
    cg = s.in_ch // s.groups
    if s.groups == 1 and s.in_ch <= 4:
        reductions = [list(range(s.k))]
    else:
        reductions = [[k_index(s, ky, kx, c) for c in range(cg)] for ky in range(s.kh) for kx in range(s.kw)]
    macs, cycles = tally(s), 0
    in_feeds, w_loads = np.zeros((s.groups, s.m, s.k), np.int64), np.zeros((s.groups, s.k, s.n), np.int64)
    for g in range(s.groups):
        for n0 in range(0, s.n, cols):
            filters = slice(n0, min(n0 + cols, s.n))
            for ks in reductions:
                for r0 in range(0, len(ks), rows * lanes):
                    on_rows = ks[r0:r0 + rows * lanes]
                    for k in on_rows:
                        w_loads[g, k, filters] += 1
                    for pixel in range(s.m):
                        cycles += step
                        for k in on_rows:
                            in_feeds[g, pixel, k] += 1
                            macs[g, pixel, k, filters] += 1
    return cycles, macs, in_feeds, w_loads


def tiled_walk(s, rows, cols, reduce_lanes, lanes, step):
    """`cols` filters x `rows` windows side by side, each unit reducing reduce_lanes x lanes channels
    of one kernel tap per step. Returns (cycles, MAC tally, input feeds (m, k), weight feeds (k, n))."""
    cg = s.in_ch // s.groups
    macs, cycles = tally(s), 0
    in_feeds, w_feeds = np.zeros((s.groups, s.m, s.k), np.int64), np.zeros((s.groups, s.k, s.n), np.int64)
    for g in range(s.groups):
        for n0 in range(0, s.n, cols):
            filters = slice(n0, min(n0 + cols, s.n))
            for m0 in range(0, s.m, rows):
                for ky in range(s.kh):
                    for kx in range(s.kw):
                        for c0 in range(0, cg, reduce_lanes * lanes):
                            cycles += step
                            for c in range(c0, min(c0 + reduce_lanes * lanes, cg)):
                                k = k_index(s, ky, kx, c)
                                w_feeds[g, k, filters] += 1
                                for pixel in range(m0, min(m0 + rows, s.m)):
                                    in_feeds[g, pixel, k] += 1
                                    macs[g, pixel, k, filters] += 1
    return cycles, macs, in_feeds, w_feeds


def row_stationary_walk(s, rows, cols, lanes, step):
    """Eyeriss: place as many PE sets (kernel rows high, output rows wide) as fit on the grid; hand out
    the (sample, filter, channel, output strip, kernel-row fold) passes a wave at a time; a PE slides its
    filter row along out_w outputs, kw MACs each (lanes at a time). Returns (cycles, MAC tally)."""
    height, width = min(s.kh, rows), min(s.out_h, cols)
    slots = [(r, c) for r in range(0, rows - height + 1, height) for c in range(0, cols - width + 1, width)]
    cg = s.in_ch // s.groups
    macs, cycles = tally(s), 0
    for g in range(s.groups):
        passes = [(b, n, c, y0, ky0) for b in range(s.batch) for n in range(s.n) for c in range(cg)
                  for y0 in range(0, s.out_h, width) for ky0 in range(0, s.kh, height)]
        while passes:
            wave, passes = passes[:len(slots)], passes[len(slots):]
            cycles += step * s.out_w * -(-s.kw // lanes)
            for b, n, c, y0, ky0 in wave:
                for oy in range(y0, min(y0 + width, s.out_h)):
                    for ky in range(ky0, min(ky0 + height, s.kh)):
                        for ox in range(s.out_w):
                            for kx in range(s.kw):
                                macs[g, (b * s.out_h + oy) * s.out_w + ox, k_index(s, ky, kx, c), n] += 1
    return cycles, macs


# Chen et al., JSSC 2017: a PE's scratchpads in 16-bit entries (filter, ifmap, partial sums)
EYERISS_SPADS = (224, 12, 24)


def row_stationary_pe_fits(kw, p, q):
    """A PE holding p filters x q channels: p*q filter rows of kw, q ifmap windows of kw, p partial sums;
    a row longer than a scratchpad streams through it (one channel, one filter)."""
    filt, ifmap, psum = EYERISS_SPADS
    return (q == 1 or q * kw <= ifmap) and p <= psum and (p * q == 1 or p * q * kw <= filt)


def row_stationary_buffer_walk(s, rows, cols, p, q, r, t):
    """Eyeriss's processing passes under mapping (p, q, r, t): filter groups of p*t outer, then channel
    groups of q*r and kernel-row folds, then strips, then samples. In a pass, set (ri, ti) takes q channels
    and p filters; each ifmap element the pass uses is read once (multicast to every set using it); a set's
    filter rows are loaded on the first (strip, sample) of their (filters, channels, fold); an output is
    written on every pass that adds to it and read back on each after its first.
    Returns (MAC tally, ifmap reads (group, sample, c, y, x), weight loads (group, k, n),
    partial-sum reads and writes (group, m, n))."""
    height, width = min(s.kh, rows), min(s.out_h, cols)
    cg = s.in_ch // s.groups
    macs = tally(s)
    in_reads = np.zeros((s.groups, s.batch, cg, s.in_h, s.in_w), np.int64)
    w_loads = np.zeros((s.groups, s.k, s.n), np.int64)
    ps_reads, ps_writes = np.zeros((s.groups, s.m, s.n), np.int64), np.zeros((s.groups, s.m, s.n), np.int64)
    for g in range(s.groups):
        for f0 in range(0, s.n, p * t):
            for c0 in range(0, cg, q * r):
                for ky0 in range(0, s.kh, height):
                    first = True
                    for y0 in range(0, s.out_h, width):
                        for b in range(s.batch):
                            used = set()
                            for ti in range(t):
                                for ri in range(r):
                                    for n in range(f0 + ti * p, min(f0 + (ti + 1) * p, s.n)):
                                        for c in range(c0 + ri * q, min(c0 + (ri + 1) * q, cg)):
                                            for ky in range(ky0, min(ky0 + height, s.kh)):
                                                for kx in range(s.kw):
                                                    k = k_index(s, ky, kx, c)
                                                    w_loads[g, k, n] += first
                                                    for oy in range(y0, min(y0 + width, s.out_h)):
                                                        for ox in range(s.out_w):
                                                            macs[g, (b * s.out_h + oy) * s.out_w + ox, k, n] += 1
                                                            iy = oy * s.stride - s.padding + ky
                                                            ix = ox * s.stride - s.padding + kx
                                                            if 0 <= iy < s.in_h and 0 <= ix < s.in_w:
                                                                used.add((c, iy, ix))
                            first = False
                            for c, iy, ix in used:
                                in_reads[g, b, c, iy, ix] += 1
                            for n in range(f0, min(f0 + p * t, s.n)):
                                for oy in range(y0, min(y0 + width, s.out_h)):
                                    for ox in range(s.out_w):
                                        mi = (b * s.out_h + oy) * s.out_w + ox
                                        ps_reads[g, mi, n] += ps_writes[g, mi, n] > 0
                                        ps_writes[g, mi, n] += 1
    return macs, in_reads, w_loads, ps_reads, ps_writes
