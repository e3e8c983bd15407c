"""Cycles a layer's activation blocks cost on a design with zero-plane skipping, walked on the NCHW codes.

The organisation's step plan (hwsim.dataflow.organisations.base.StepPlan) cuts each group of each sample's
im2col matrix X (M x K, K in (ky, kx, c) order) into `segments` parts of K // segments columns and each
part into blocks of bm rows x bk columns; a step feeding a block costs the PE kind's cycles for the number
of activation digit positions non-zero somewhere in the block. The kernel reads X's blocks straight from a
zero-padded NHWC copy of the codes (no im2col): a block's columns are runs of channels of a few taps, so
it ORs contiguous channel runs per pixel and counts the non-zero digits of the OR once per block.
"""
from __future__ import annotations

import numpy as np
from numba import njit


def padded_nhwc(x: np.ndarray, padding: int) -> np.ndarray:
    """x (N, C, H, W) as int64 (N, H + 2p, W + 2p, C), zeros in the padding."""
    n, c, h, w = x.shape
    out = np.zeros((n, h + 2 * padding, w + 2 * padding, c), np.int64)
    out[:, padding:padding + h, padding:padding + w] = x.transpose(0, 2, 3, 1)
    return out


@njit(cache=True)
def _nonzero_digits(v, da, n_digits):
    """Digit positions j < n_digits whose digit (v >> da*j) & (2^da - 1) is non-zero."""
    mask = (np.int64(1) << da) - 1
    c = 0
    for j in range(n_digits):
        if (v >> (da * j)) & mask:
            c += 1
    return c


@njit(cache=True)
def skipped_block_steps(xh, groups, kh, kw, stride, ho, wo, segments, bm, bk, da, n_digits, steps_by_nonzero):
    """Sum over samples, groups, segments and (bm x bk) blocks of steps_by_nonzero[z], z the block's non-zero
    activation digit positions. xh: padded NHWC codes (`padded_nhwc`); K = kh*kw*C/groups in (ky, kx, c)
    order, each segment K // segments columns from its start (a remainder of K is not fed, as in the plan)."""
    n_all, _, _, c_all = xh.shape
    cg = c_all // groups
    seg = (kh * kw * cg) // segments
    m_all = ho * wo
    pm = (m_all + bm - 1) // bm
    pk = (seg + bk - 1) // bk
    ors = np.zeros((pm, pk), np.int64)
    total = 0
    for n in range(n_all):
        for g in range(groups):
            c0 = g * cg
            for t in range(segments):
                ors[:, :] = 0
                kbase = t * seg
                kend = kbase + seg
                for m in range(m_all):
                    oy = m // wo
                    ox = m - oy * wo
                    p = m // bm
                    k = kbase
                    while k < kend:
                        tap = k // cg
                        c = k - tap * cg
                        q = (k - kbase) // bk
                        e = min(kend, kbase + (q + 1) * bk, (tap + 1) * cg)     # one tap's run inside one block
                        ky = tap // kw
                        row = xh[n, oy * stride + ky, ox * stride + tap - ky * kw]
                        v = np.int64(0)
                        for cc in range(c0 + c, c0 + c + e - k):
                            v |= row[cc]
                        ors[p, q] |= v
                        k = e
                for p in range(pm):
                    for q in range(pk):
                        total += steps_by_nonzero[_nonzero_digits(ors[p, q], da, n_digits)]
    return total
