"""A tensor kept between layers as the next conv's input layout: a zero padded NHWC buffer.

The madd conv reads its activations from a zero padded NHWC byte buffer (conv_madd.py). A conv or residual
add that writes its output straight into such a buffer spares the next conv that copy; elementwise ops
read and write the interior in place of the NCHW array. Writers fill only the interior (the N x H x W x C
values), so the padding ring stays zero for every later use of a buffer (buffers.padded_buffer).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .buffers import padded_buffer


@dataclass(frozen=True)
class PaddedNHWC:
    """An (N, C, H, W) tensor held as buf (N, H + 2*pad, W + 2*pad, C), zero outside the interior.
    `value_range`: the interior's exact (min, max) as its writer derived it, or None (then a reader scans)."""
    buf: np.ndarray
    pad: int
    value_range: tuple[int, int] | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        N, Hp, Wp, C = self.buf.shape
        return N, C, Hp - 2 * self.pad, Wp - 2 * self.pad

    @property
    def dtype(self):
        return self.buf.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def interior(self) -> np.ndarray:
        """The values as a (N, H, W*C) view: per image row, one contiguous run."""
        N, C, H, W = self.shape
        p = self.pad
        return self.buf.reshape(N, H + 2 * p, -1)[:, p:p + H, p * C:(p + W) * C]

    def nchw(self) -> np.ndarray:
        """The tensor as a contiguous (N, C, H, W) array (a copy)."""
        N, C, H, W = self.shape
        return np.ascontiguousarray(self.interior().reshape(N, H, W, C).transpose(0, 3, 1, 2))


def new_padded(shape: tuple[int, int, int, int], pad: int, dtype) -> PaddedNHWC:
    """A PaddedNHWC of (N, C, H, W) `shape` whose padding ring is zero (its interior is for the caller to fill)."""
    N, C, H, W = shape
    return PaddedNHWC(padded_buffer((N, H + 2 * pad, W + 2 * pad, C), dtype, pad), pad)


def as_nchw(v):
    """v as an NCHW array (PaddedNHWC converted, anything else as it is)."""
    return v.nchw() if isinstance(v, PaddedNHWC) else v


def storage(v) -> np.ndarray:
    """The array holding v's values (a PaddedNHWC's buffer, whose ring of zeros a range may include)."""
    return v.buf if isinstance(v, PaddedNHWC) else v


def value_range_of(v: PaddedNHWC) -> tuple[int, int]:
    """The exact (min, max) of v's values: its writer's, else its interior scanned."""
    if v.value_range is not None:
        return v.value_range
    inner = v.interior()
    return (int(inner.min()), int(inner.max())) if inner.size else (0, 0)
