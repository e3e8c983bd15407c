"""Bit Fusion's array (Sharma et al., ISCA 2018, Sec. IV): rows x cols fusion units, each with its own
weight-buffer bank. An input is broadcast along its row, partial sums are reduced down each column,
so rows take the reduction (k) and columns the filters (n); output pixels (batch included) stream
through time, one per cycle per fusion unit (its `lanes` MACs of one dot product side by side).

Loop order (the paper's compiler): a network's first layer is unrolled over C*kh*kw on the rows; every
other layer steps through its kernel taps and reduces over input channels on the rows, so a layer with
fewer channels than rows x lanes leaves rows idle. Weights are double-buffered in the per-unit banks:
the next fold's weights load while the current one computes, so a fold has no fill or drain.
"""
from __future__ import annotations

from ..mapping import ceil_div
from .base import Organisation, StepPlan, filter_folds

# The first layer reads the image: at most 4 channels (grey, RGB, RGBA) in one group. A grouped or wider
# layer is never a network's first here, so this is how the mapping recognises it from the shape alone.
IMAGE_CHANNELS = 4


def unrolls_kernel(s) -> bool:
    return s.groups == 1 and s.in_ch <= IMAGE_CHANNELS


def tap_segments(s) -> int:
    """Parts of K the rows reduce one after another: 1 (first layer, all of C*kh*kw) or the kernel taps."""
    return 1 if unrolls_kernel(s) else s.taps


class BitFusion(Organisation):
    name = "bitfusion"

    def group_cycles(self, s, array, lanes, step):
        seg = tap_segments(s)
        row_folds = seg * ceil_div(s.k // seg, lanes * array.rows)
        return step * filter_folds(s, array.cols) * row_folds * s.m

    def operand_refetch(self, s, array, lanes) -> dict:
        # inputs once per filter fold; each weight sits in one unit's bank for exactly one fold;
        # partial sums go round the output buffer once per reduction fold
        seg = tap_segments(s)
        return {"inputs": filter_folds(s, array.cols), "weights": 1,
                "outputs": seg * ceil_div(s.k // seg, lanes * array.rows)}

    def reads_im2col(self, s) -> bool:
        # the artifact's simulator (simulator.py get_cycles) has the CPU lay the first layer out im2col
        return unrolls_kernel(s)

    def step_plan(self, s, array, lanes: int) -> StepPlan:
        return StepPlan(tap_segments(s), 1, lanes * array.rows, filter_folds(s, array.cols))
