"""Slow, obvious numpy reference of the PE simulator's layer arithmetic and cycle walk, used only by the tests.

Written apart from hwsim.pe: an explicit im2col per group (K in (ky, kx, c) order), digits by shifts and
masks on int64 arrays, each digit pair's product as an int64 matmul, the running sum kept as a whole array
per step, and every block of every segment ORed and its digits counted in Python.
"""
from __future__ import annotations

import numpy as np


def im2col(x, kh: int, kw: int, stride: int, padding: int, groups: int) -> np.ndarray:
    """(groups, N, Ho*Wo, K) int64 patches, K = (ky*kw + kx)*Cg + c."""
    x = np.pad(np.asarray(x, np.int64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    N, C, H, W = x.shape
    Cg = C // groups
    Ho, Wo = (H - kh) // stride + 1, (W - kw) // stride + 1
    cols = np.zeros((groups, N, Ho * Wo, kh * kw * Cg), np.int64)
    for g in range(groups):
        for ky in range(kh):
            for kx in range(kw):
                t = ky * kw + kx
                patch = x[:, g * Cg:(g + 1) * Cg, ky:ky + stride * (Ho - 1) + 1:stride, kx:kx + stride * (Wo - 1) + 1:stride]
                cols[g, :, :, t * Cg:(t + 1) * Cg] = patch.reshape(N, Cg, Ho * Wo).transpose(0, 2, 1)
    return cols


def digits(v, bits: int, d: int) -> list[np.ndarray]:
    """Low digits masked, the top one an arithmetic shift (keeps the sign)."""
    v = np.asarray(v, np.int64)
    n = -(-bits // d)
    return [(v >> (d * j)) & ((1 << d) - 1) for j in range(n - 1)] + [v >> (d * (n - 1))]


def pe_layer(x, w, stride, padding, groups, a_bits, w_bits, da, dw, psum_bits, acc_bits):
    """(acc (N, O, Ho, Wo), psum overflows, acc overflows, max |psum|, max |running sum|) of the PE order:
    acc = sum over activation digit i, then weight digit j, of (X_i @ W_j) << (da*i + dw*j)."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    cols = im2col(x, kh, kw, stride, padding, groups)
    og = O // groups
    acc = np.zeros((N, O, Ho * Wo), np.int64)
    p_lim, a_lim = 2 ** (psum_bits - 1), 2 ** (acc_bits - 1)
    n_p = n_a = max_p = max_a = 0
    for g in range(groups):
        wm = np.asarray(w[g * og:(g + 1) * og], np.int64).transpose(0, 2, 3, 1).reshape(og, -1).T    # (K, og)
        s = np.zeros((N, Ho * Wo, og), np.int64)
        for i, xi in enumerate(digits(cols[g], a_bits, da)):
            for j, wj in enumerate(digits(wm, w_bits, dw)):
                p = xi @ wj
                s = s + (p << (da * i + dw * j))
                n_p += int(np.sum((p >= p_lim) | (p < -p_lim)))
                n_a += int(np.sum((s >= a_lim) | (s < -a_lim)))
                max_p = max(max_p, int(np.abs(p).max(initial=0)))
                max_a = max(max_a, int(np.abs(s).max(initial=0)))
        acc[:, g * og:(g + 1) * og] = s.transpose(0, 2, 1)
    return acc.reshape(N, O, Ho, Wo), n_p, n_a, max_p, max_a


def nonzero_digits(v: int, da: int, n: int) -> int:
    return sum(1 for j in range(n) if (v >> (da * j)) & ((1 << da) - 1))


def block_steps(x, kh, kw, stride, padding, groups, segments, bm, bk, da, n_digits, steps_of) -> tuple[int, int]:
    """(sum of steps_of(non-zero digits) over every block, number of blocks) over samples, groups and segments:
    each sample's im2col of a group cut into `segments` parts of K // segments columns, blocks of bm x bk."""
    cols = im2col(x, kh, kw, stride, padding, groups)
    total = blocks = 0
    for g in range(cols.shape[0]):
        for n in range(cols.shape[1]):
            xm = cols[g, n]
            seg = xm.shape[1] // segments
            for t in range(segments):
                part = xm[:, t * seg:(t + 1) * seg]
                for r in range(0, part.shape[0], bm):
                    for c in range(0, part.shape[1], bk):
                        v = int(np.bitwise_or.reduce(part[r:r + bm, c:c + bk].reshape(-1)))
                        total += steps_of(nonzero_digits(v, da, n_digits))
                        blocks += 1
    return total, blocks
