"""Eyeriss's row-stationary array (Chen et al., ISCA 2016 Sec. V; JSSC 2017): rows x cols PEs (12 x 14).
A PE keeps one filter row and slides it along one input row: kw MACs per output, out_w outputs, one
MAC per cycle. A PE set is kh PEs high (one per filter row, partial sums summed up the column) and
as wide as the output rows it computes (at most cols; taller outputs are cut into strips); sets are
replicated over the array, and each set pass takes one (sample, filter, input channel, strip). A
kernel taller than the array is cut into row folds.

Global-buffer traffic follows Eyeriss's processing pass (ISCA 2016 Sec. V; JSSC 2017, its mapping
parameters p, q, r, t): a PE interleaves p filters and q input channels, so its scratchpads hold
p x q filter rows, q ifmap windows and p partial sums; r sets take different channels (their partial sums
meet in the array) and t = sets // r different filters (one ifmap read is multicast to them). Filter
groups of p x t are the outer loop, then channel groups of q x r and kernel-row folds, then strips and
samples: a filter row stays in its PE's scratchpad while strips and samples pass (the ifmap rows of N
samples are concatenated, ISCA 2016 Sec. IV), an ifmap row is read once per filter group, and a partial
sum leaves for the buffer after each (channel group, fold) pass and comes back for the next.
The cycles count waves of single (sample, filter, channel, strip) passes: they leave out the PEs a
mapping's p x t filters or q x r channels leave idle where those do not divide the layer's.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..mapping import ceil_div
from .base import Organisation

# Chen et al., JSSC 2017 (the chip's PE): scratchpads of 16-bit entries; 224 + 12 + 24 entries, 520 bytes,
# about the 512 B register file per PE of the ISCA 2016 analysis framework
FILTER_SPAD, IFMAP_SPAD, PSUM_SPAD = 224, 12, 24


def set_geometry(s, array) -> tuple[int, int, int, int]:
    """(kernel row folds, set height, strip width, sets on the array)."""
    height = min(s.kh, array.rows)
    width = min(s.out_h, array.cols)
    return ceil_div(s.kh, array.rows), height, width, (array.rows // height) * (array.cols // width)


def set_passes(s, array) -> int:
    folds, _, width, _ = set_geometry(s, array)
    return s.batch * s.n * s.in_ch_per_group * ceil_div(s.out_h, width) * folds


@dataclass(frozen=True)
class Mapping:
    """A PE's p filters x q channels; r sets on different channels, t on different filters (ints, or arrays
    of candidates)."""
    p: int
    q: int
    r: int
    t: int


def input_rows(s, array) -> int:
    """Ifmap rows (inside the image) the (strip, kernel-row fold) passes read, summed over them: strips
    overlap by kh - stride rows."""
    _, height, width, _ = set_geometry(s, array)
    total = 0
    for y0 in range(0, s.out_h, width):
        for ky0 in range(0, s.kh, height):
            total += _inside({oy * s.stride - s.padding + ky for oy in range(y0, min(y0 + width, s.out_h))
                              for ky in range(ky0, min(ky0 + height, s.kh))}, s.in_h)
    return total


def input_cols(s) -> int:
    """Ifmap columns (inside the image) some window reads: a stride wider than the kernel skips some."""
    return _inside({ox * s.stride - s.padding + kx for ox in range(s.out_w) for kx in range(s.kw)}, s.in_w)


def _inside(coords: set, size: int) -> int:
    return sum(0 <= c < size for c in coords)


def glb_reads(s, array, m: Mapping) -> dict:
    """Elements one group moves through the global buffer under mapping `m` (operand_reads' keys)."""
    folds = set_geometry(s, array)[0]
    cg = s.in_ch_per_group
    return {"inputs": s.batch * cg * input_cols(s) * input_rows(s, array) * ceil_div(s.n, m.p * m.t),
            "weights": s.k * s.n,
            "partials": s.m * s.n * (ceil_div(cg, m.q * m.r) * folds - 1)}


@lru_cache(maxsize=4096)
def best_mapping(s, array) -> Mapping:
    """The mapping that moves the fewest words through the buffer (ifmaps, filters and partial sums are all
    16-bit words on the chip), as Eyeriss's mapper picks the least-energy one under the scratchpads; ties go
    to the smallest q, then p, then r."""
    sets, cg = set_geometry(s, array)[3], s.in_ch_per_group
    q = np.arange(1, min(cg, max(1, IFMAP_SPAD // s.kw)) + 1)[:, None, None]
    p = np.arange(1, min(s.n, PSUM_SPAD) + 1)[None, :, None]
    r = np.arange(1, sets + 1)[None, None, :]
    f = glb_reads(s, array, Mapping(p, q, r, sets // r))       # every candidate at once, as arrays
    words = f["inputs"] + 2 * f["partials"]
    legal = (p * q * s.kw <= max(FILTER_SPAD, s.kw)) & (r <= -(-cg // q))  # no set without a channel
    words = np.where(legal, words, np.iinfo(np.int64).max)
    iq, ip, ir = np.unravel_index(int(np.argmin(words)), words.shape)
    return Mapping(int(p[0, ip, 0]), int(q[iq, 0, 0]), int(r[0, 0, ir]), sets // int(r[0, 0, ir]))


@lru_cache(maxsize=4096)
def _best_reads(s, array) -> dict:
    return glb_reads(s, array, best_mapping(s, array))


class RowStationary(Organisation):
    name = "row_stationary"

    def group_cycles(self, s, array, lanes, step):
        sets = set_geometry(s, array)[3]
        return step * ceil_div(set_passes(s, array), sets) * s.out_w * ceil_div(s.kw, lanes)

    def operand_reads(self, s, array, lanes) -> dict:
        return dict(_best_reads(s, array))
