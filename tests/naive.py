"""Slow, obvious reference implementations of hwsim.kernels, used only by the tests.

Written independently of the kernels: convolution as a sum of shifted, strided slices per kernel tap
(no im2col), requantisation on Python ints (unbounded, so nothing can wrap).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np


def conv2d(x, w, stride: int, padding: int, groups: int) -> np.ndarray:
    """int64 acc[n, o, y, x] = sum over taps of the padded, strided input slice times the tap's weight."""
    x = np.pad(np.asarray(x, np.int64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    w = np.asarray(w, np.int64)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Ho, Wo = (H - kh) // stride + 1, (W - kw) // stride + 1
    og = O // groups
    acc = np.zeros((N, O, Ho, Wo), np.int64)
    for g in range(groups):
        for ky in range(kh):
            for kx in range(kw):
                patch = x[:, g * Cg:(g + 1) * Cg, ky:ky + stride * (Ho - 1) + 1:stride, kx:kx + stride * (Wo - 1) + 1:stride]
                acc[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, :, ky, kx])
    return acc


def linear(x, w) -> np.ndarray:
    return np.asarray(x, np.int64) @ np.asarray(w, np.int64).T


def rq(x: int, m0: int, shift: int, frac: int = 0) -> int:
    """Round half up of (x * M0 + frac) / 2^shift on Python ints: floor division of the sum plus half."""
    return (x * m0 + frac + 2 ** (shift - 1)) // 2**shift


def requantize(acc, bias, m0, shift, lo: int, hi: int, clamp: bool, frac=None) -> np.ndarray:
    """Per channel (axis 1) rq(acc + bias), clamped if asked; Python-int loop, returned as int64."""
    acc = np.asarray(acc)
    out = np.zeros(acc.shape, np.int64)
    frac = np.zeros(acc.shape[1], np.int64) if frac is None else frac
    for idx in np.ndindex(*acc.shape):
        c = idx[1]
        y = rq(int(acc[idx]) + int(bias[c]), int(m0[c]), int(shift[c]), int(frac[c]))
        out[idx] = min(max(y, lo), hi) if clamp else y
    return out


def add_clamp(a, b, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.asarray(a, np.int64) + np.asarray(b, np.int64), lo, hi)


def add_round_clamp(a, b, frac_bits: int, lo: int, hi: int) -> np.ndarray:
    """clamp(floor((a + b) / 2^F + 1/2), lo, hi) on Python ints (F = 0: clamp(a + b))."""
    f = frac_bits
    out = [min(max((int(u) + int(v) + (2 ** (f - 1) if f else 0)) // 2**f, lo), hi)
           for u, v in zip(np.ravel(a), np.ravel(b))]
    return np.array(out, np.int64).reshape(np.shape(a))


def maxpool2d(x, k: int, s: int, p: int) -> np.ndarray:
    x = np.pad(np.asarray(x, np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    N, C, H, W = x.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros((N, C, Ho, Wo), np.int64)
    for y in range(Ho):
        for xx in range(Wo):
            out[:, :, y, xx] = x[:, :, y * s:y * s + k, xx * s:xx * s + k].max(axis=(2, 3))
    return out


def global_sum(x) -> np.ndarray:
    x = np.asarray(x)
    return np.array([[sum(int(v) for v in x[n, c].ravel()) for c in range(x.shape[1])] for n in range(x.shape[0])],
                    np.int64)


def nested_code(q: int, big: int, small: int) -> int:
    """q / 2^(big - small) rounded half away from zero with exact fractions, saturated to +-(2^(small-1) - 1)."""
    x = Fraction(q, 2 ** (big - small))
    mag = int(abs(x) + Fraction(1, 2))   # floor(|x| + 1/2)
    qp = 2 ** (small - 1) - 1
    return max(-qp, min(qp, mag if q >= 0 else -mag))
