"""Eyeriss's row-stationary array (Chen et al., ISCA 2016 Sec. V; JSSC 2017): rows x cols PEs (12 x 14).
A PE keeps one filter row and slides it along one input row: kw MACs per output, out_w outputs, one
MAC per cycle. A PE set is kh PEs high (one per filter row, partial sums summed up the column) and
as wide as the output rows it computes (at most cols; taller outputs are cut into strips); sets are
replicated over the array, and each set pass takes one (sample, filter, input channel, strip). A
kernel taller than the array is cut into row folds.
"""
from __future__ import annotations

from ..mapping import ceil_div
from .base import Organisation


def set_geometry(s, array) -> tuple[int, int, int, int]:
    """(kernel row folds, set height, strip width, sets on the array)."""
    height = min(s.kh, array.rows)
    width = min(s.out_h, array.cols)
    return ceil_div(s.kh, array.rows), height, width, (array.rows // height) * (array.cols // width)


def set_passes(s, array) -> int:
    folds, _, width, _ = set_geometry(s, array)
    return s.batch * s.n * s.in_ch_per_group * ceil_div(s.out_h, width) * folds


class RowStationary(Organisation):
    name = "row_stationary"

    def group_cycles(self, s, array, lanes, step):
        sets = set_geometry(s, array)[3]
        return step * ceil_div(set_passes(s, array), sets) * s.out_w * ceil_div(s.kw, lanes)

    def operand_refetch(self, s, array, lanes) -> dict:
        # a pass wave multicasts one input strip to the sets holding different filters; a filter row stays
        # in its PE while the batch's ifmap rows pass (ISCA 2016 Sec. IV: the rows of N ifmaps are
        # concatenated), so it is reloaded once per output strip; partial sums accumulate in the PEs'
        # scratchpads across input channels (Eyeriss interleaves channels in a PE) and leave once per
        # kernel row fold
        folds, _, width, sets = set_geometry(s, array)
        return {"inputs": ceil_div(s.n, sets), "weights": ceil_div(s.out_h, width), "outputs": folds}
