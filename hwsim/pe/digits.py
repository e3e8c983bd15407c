"""PE arithmetic as one stacked integer GEMM over operand digits (numba).

An integer v of `bits` bits splits into n = ceil(bits/d) digits of d bits, low first:
  digit_j = (v >> d*j) & (2^d - 1) for j < n-1,   digit_{n-1} = v >> d*(n-1)  (arithmetic: keeps the sign)
so v = sum_j digit_j << d*j exactly, for signed two's complement and unsigned codes alike.
A PE kind's dot product is then  sum_{i,j} (X_i @ W_j) << (da*i + dw*j): the activation planes
(Stripes), both operands' planes (Loom), 2x2-bit bricks (Bit Fusion) or one digit each (bit-parallel).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..kernels import matmul_acc


@njit(cache=True)
def _split_into(v, d, out):
    """out[j, i] = digit j of v[i] (see the module docstring), in one pass over v."""
    n = out.shape[0]
    mask = (np.int64(1) << d) - 1
    for i in range(v.shape[0]):
        s = np.int64(v[i])
        for j in range(n - 1):
            out[j, i] = s & mask
            s >>= d
        out[n - 1, i] = s


def split_digits(v: np.ndarray, bits: int, d: int) -> np.ndarray:
    """(n, *v.shape) digits of v (codes that fit `bits` bits, signed or unsigned): int8 when a digit has
    <= 7 bits (the signed top digit included), else int16 for <= 15-bit codes, else int64."""
    v = np.ascontiguousarray(v)
    n = -(-bits // d)
    dtype = np.int8 if d <= 7 else np.int16 if bits <= 15 else np.int64
    out = np.empty((n,) + v.shape, dtype=dtype)
    if v.size:
        _split_into(v.reshape(-1), d, out.reshape(n, -1))
    return out


def stacked_gemm(xd, wd):
    """xd (na, M, K), wd (nw, K, N) integer digits -> (na, nw, M, N) int64 dot products, each digit pair's
    GEMM on the exact planner of hwsim.kernels (small digits: float32 sgemm, proven exact)."""
    na, m_, k_ = xd.shape
    nw, _, n_ = wd.shape
    out = np.empty((na, nw, m_, n_), dtype=np.int64)
    for i in range(na):
        for j in range(nw):
            out[i, j] = matmul_acc(xd[i], wd[j].T)
    return out


@njit(cache=True)
def shift_accumulate(prods, da, dw, psum_bits, acc_bits):
    """acc = sum_{i,j} prods[i,j] << (da*i + dw*j), in the order i, then j (the PE's order).

    Each digit-pair dot product must fit a signed `psum_bits` adder tree and every running sum a
    signed `acc_bits` accumulator. Returns (acc int64 exact, psum overflows, acc overflows,
    largest |psum|, largest |running acc|); overflows are counted, never wrapped.
    """
    na, nw, m_, n_ = prods.shape
    acc = np.zeros((m_, n_), dtype=np.int64)
    p_hi = (np.int64(1) << (psum_bits - 1)) - 1
    a_hi = (np.int64(1) << (acc_bits - 1)) - 1
    n_p = 0
    n_a = 0
    max_p = np.int64(0)
    max_a = np.int64(0)
    for m in range(m_):
        for n in range(n_):
            s = np.int64(0)
            for i in range(na):
                for j in range(nw):
                    p = prods[i, j, m, n]
                    ap = -p if p < 0 else p
                    if ap > max_p:
                        max_p = ap
                    if p > p_hi or p < -p_hi - 1:
                        n_p += 1
                    s += p << (da * i + dw * j)
                    aa = -s if s < 0 else s
                    if aa > max_a:
                        max_a = aa
                    if s > a_hi or s < -a_hi - 1:
                        n_a += 1
            acc[m, n] = s
    return acc, n_p, n_a, max_p, max_a


@njit(cache=True)
def block_nonzero_digits(x, bm, bk, da, n_digits):
    """Non-zero activation digits per (bm x bk) block of x (M, K) unsigned codes.

    out[p, q] = number of digit positions j < n_digits such that some code in block (p, q) has a
    non-zero digit j: the digit-planes a lane group cannot skip.
    """
    m_, k_ = x.shape
    pm = (m_ + bm - 1) // bm
    pk = (k_ + bk - 1) // bk
    ors = np.zeros((pm, pk), dtype=np.int64)
    for m in range(m_):
        for k in range(k_):
            ors[m // bm, k // bk] |= np.int64(x[m, k])
    out = np.zeros((pm, pk), dtype=np.int64)
    mask = (np.int64(1) << da) - 1
    for p in range(pm):
        for q in range(pk):
            v = ors[p, q]
            c = 0
            for j in range(n_digits):
                if (v >> (da * j)) & mask:
                    c += 1
            out[p, q] = c
    return out
