"""DaDianNao-style tiles, as Stripes (Judd et al., MICRO 2016, Sec. 4) and Loom (Sharify et al., DAC 2018)
organise them: `cols` filters (16 per tile x 16 tiles) and `rows` windows (output pixels) are computed
side by side; each unit reduces `reduce_lanes` input channels of one kernel tap per step (16 in the
papers), so a step covers rows windows x reduce_lanes channels of one tap, and the reduction walks the
taps and channel groups in time while the unit keeps its output in its own accumulator. The PE kind
sets the cycles per step: bit-parallel (DaDianNao, 1), activation bits (Stripes) or both (Loom).
"""
from __future__ import annotations

from ..mapping import ceil_div
from .base import Organisation, StepPlan, filter_folds


class Tiled(Organisation):
    name = "tiled"
    params = ("reduce_lanes",)

    def _reduce_steps(self, s, array, lanes):
        return s.taps * ceil_div(s.in_ch_per_group, array.reduce_lanes * lanes)

    def group_cycles(self, s, array, lanes, step):
        return step * filter_folds(s, array.cols) * ceil_div(s.m, array.rows) * self._reduce_steps(s, array, lanes)

    def operand_refetch(self, s, array, lanes) -> dict:
        # inputs are broadcast to every tile, once per filter fold; each tile re-reads its filters for
        # every group of windows; outputs stay in the units' accumulators until complete
        return {"inputs": filter_folds(s, array.cols), "weights": ceil_div(s.m, array.rows), "outputs": 1}

    def step_plan(self, s, array, lanes: int) -> StepPlan:
        return StepPlan(s.taps, array.rows, array.reduce_lanes * lanes, filter_folds(s, array.cols))
