"""The array-organisation interface: how a design lays one layer's work on its array of PEs.

A PE kind (hwsim.pe) says what one PE does per MAC (lanes side by side, cycles per step); an
organisation says where the MACs of a layer go in space and time, and so answers, at a (w, a) pair:
  group_cycles     compute cycles of one group of the layer (ints or int numpy arrays of lanes/steps)
  operand_refetch  how many times each operand is streamed from its buffer
  operand_reads    the elements each operand streams (by default the refetches times the GEMM operands)
  step_plan        the activation blocks one step feeds, for the PE simulator to walk real data
  reads_im2col     whether a layer's input is laid out im2col-expanded in DRAM (for the tiled DRAM policy)
Every layer is the per-group GEMM O[m, k] = sum_k X[m, k] W[k, n] of hwsim.dataflow.layers, with
K in (ky, kx, c) order (kernel tap outer, channel inner), as the simulator's im2col lays it out.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import HwConfigError
from ..mapping import ceil_div

# Array parameters only some organisations use (hwsim.hwconfig.ArrayConfig); each organisation names
# those it needs, and a config giving one it does not use is refused rather than silently ignored.
OPTIONAL_PARAMS = ("dataflow", "reduce_lanes")


@dataclass(frozen=True)
class StepPlan:
    """How the array walks one group of one sample's im2col matrix X (M x K): K splits into `segments`
    equal contiguous parts (the kernel taps, where the mapping steps tap by tap); each step feeds one
    block of `bm` rows x `bk` columns inside a segment; every block is fed `reps` times (once per fold of
    the filters); `overhead_steps` more steps feed nothing (fill and drain)."""
    segments: int
    bm: int
    bk: int
    reps: int
    overhead_steps: int = 0


class Organisation:
    name = ""
    params: tuple[str, ...] = ()        # the OPTIONAL_PARAMS this organisation needs

    def check_config(self, array, where: str) -> None:
        for p in OPTIONAL_PARAMS:
            given = getattr(array, p) is not None
            if p in self.params and not given:
                raise HwConfigError(f"{where}.{p}: organisation {self.name!r} needs it")
            if given and p not in self.params:
                raise HwConfigError(f"{where}.{p}: organisation {self.name!r} does not use it; remove it")

    def group_cycles(self, s, array, lanes, step):
        raise NotImplementedError

    def compute_cycles(self, s, array, lanes, step):
        """Groups run one after another on the whole array."""
        return s.groups * self.group_cycles(s, array, lanes, step)

    def operand_refetch(self, s, array, lanes) -> dict:
        raise NotImplementedError

    def operand_reads(self, s, array, lanes) -> dict:
        """Elements one group streams from its buffer: `inputs` and `weights` read, `partials` the partial
        sums that leave the array and come back (each read and written once at the accumulator width)."""
        f = self.operand_refetch(s, array, lanes)
        return {"inputs": s.m * s.k * f["inputs"], "weights": s.k * s.n * f["weights"],
                "partials": s.m * s.n * (f["outputs"] - 1)}

    def reads_im2col(self, s) -> bool:
        """Whether the layer's input sits in DRAM im2col-expanded (kh x kw copies of each pixel)."""
        return False

    def step_plan(self, s, array, lanes: int) -> StepPlan | None:
        """None: the cycles do not depend on the data (the simulator takes group_cycles)."""
        return None


def filter_folds(s, units: int):
    """Passes over the filters when `units` of them are computed side by side."""
    return ceil_div(s.n, units)
