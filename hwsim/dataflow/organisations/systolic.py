"""The systolic array (TPU-like, SCALE-Sim's model): a dataflow names the GEMM dimensions on rows,
columns and time; every fold pays the pipeline's fill and drain (hwsim.dataflow.mapping)."""
from __future__ import annotations

from ..mapping import Dataflow, ceil_div, compute_cycles, fold_plan, get_dataflow, operand_refetch
from .base import Organisation, StepPlan


class Systolic(Organisation):
    name = "systolic"
    params = ("dataflow",)

    def group_cycles(self, s, array, lanes, step):
        df = get_dataflow(array.dataflow)
        return compute_cycles(df, array.rows, array.cols, s.m, ceil_div(s.k, lanes), s.n, step)

    def operand_refetch(self, s, array, lanes) -> dict:
        return operand_refetch(get_dataflow(array.dataflow), array.rows, array.cols, s.m, ceil_div(s.k, lanes), s.n)

    def step_plan(self, s, array, lanes: int) -> StepPlan:
        df, R, C = get_dataflow(array.dataflow), array.rows, array.cols
        # each block is fed once per fold along n (n spatial) or once per filter (n along time)
        reps = s.n if df.time == "n" else ceil_div(s.n, R if df.rows == "n" else C)
        folds = fold_plan(df, R, C, s.m, ceil_div(s.k, lanes), s.n).folds
        return StepPlan(1, _block(df, R, C, "m", 1), _block(df, R, C, "k", lanes), reps,
                        folds * df.fill_drain(R, C))


def _block(df: Dataflow, R: int, C: int, dim: str, unit: int) -> int:
    """Extent along `dim` (in elements of `unit` per slot) of the activation block one step feeds."""
    return unit * (R if df.rows == dim else C if df.cols == dim else 1)
