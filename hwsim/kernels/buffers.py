"""Zero-initialised scratch buffers kept per thread and reused by later calls of the same shape and geometry.

For layouts whose writer fills the same cells on every call (zero padding and alignment slack are never
written, so they stay zero): reusing the buffer saves allocating, zeroing and faulting in fresh pages per
layer, which on the small layers of a whole network costs as much as the arithmetic.
"""
from __future__ import annotations

import threading

import numpy as np

_BUFFERS = threading.local()
_MAX_BUFFERS = 16         # a ResNet's distinct layer geometries, inputs and accumulators, all fit


def zeroed_buffer(shape: tuple, dtype, geometry: tuple) -> np.ndarray:
    """A buffer of `shape` and `dtype`, zero when first made; the same one again for the same shape, dtype and
    `geometry` (whatever else fixes which cells the caller writes) while it is among the 16 used last."""
    cache = getattr(_BUFFERS, "cache", None)
    if cache is None:
        cache = _BUFFERS.cache = {}
    key = (tuple(shape), np.dtype(dtype).str) + tuple(geometry)
    buf = cache.pop(key, None)
    if buf is None:
        buf = np.zeros(shape, dtype)
        while len(cache) >= _MAX_BUFFERS:
            cache.pop(next(iter(cache)))
    cache[key] = buf                      # most recently used last
    return buf


_POOL_PER_SHAPE = 4       # the most tensors of one shape a ResNet block holds at once, with one spare


def padded_buffer(shape: tuple, dtype, pad: int) -> np.ndarray:
    """A buffer of `shape` whose ring of `pad` cells around axes 1 and 2 is zero: taken back from `release_buffer`
    (whose callers only ever wrote inside that ring) or freshly zeroed. Saves zeroing and faulting in pages
    for every layer's output."""
    pool = _pool().get((tuple(shape), np.dtype(dtype).str, pad))
    return pool.pop() if pool else np.zeros(shape, dtype)


def release_buffer(buf: np.ndarray, pad: int) -> None:
    """Hands a `padded_buffer` of ring `pad` back once nothing reads it any more (the caller's promise)."""
    pool = _pool().setdefault((buf.shape, buf.dtype.str, pad), [])
    if len(pool) < _POOL_PER_SHAPE and all(b is not buf for b in pool):
        pool.append(buf)


def _pool() -> dict:
    pool = getattr(_BUFFERS, "pool", None)
    if pool is None:
        pool = _BUFFERS.pool = {}
    return pool
