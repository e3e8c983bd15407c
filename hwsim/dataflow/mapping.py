"""Dataflows of the systolic organisation: which GEMM dimension lies along the array rows, the columns,
and time.

A layer is the GEMM  O[m, n] = sum_k X[m, k] W[k, n]  per group (m: output pixels, k: the reduction
C/g*kh*kw, n: filters), as in SCALE-Sim. A PE kind that runs `lanes` MACs of one dot product side by
side shortens k to ceil(K / lanes) slots. A dataflow only names the dimensions it puts on rows,
columns and time; folds, cycles and operand reuse follow from that one fact, by the same code for
every dataflow (see `fold_plan`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import Registry


@dataclass(frozen=True)
class Dataflow:
    name: str
    rows: str      # GEMM dimension ("m", "k" or "n") spread over the array rows
    cols: str
    time: str      # the dimension streamed through the array, one slot per step
    stationary: str
    preload: bool  # the stationary operand is shifted into the array (R cycles) before each fold streams

    # Operand -> the GEMM dimensions that index it.
    OPERAND_DIMS = {"inputs": ("m", "k"), "weights": ("k", "n"), "outputs": ("m", "n")}

    def fill_drain(self, rows: int, cols: int) -> int:
        """Slots a fold spends beyond its t streamed slots: loading a stationary operand (R, none for
        output-stationary, whose accumulators start at zero) plus the skew across rows and columns;
        SCALE-Sim's per-fold T + R + C - 2 (+ R)."""
        return rows * self.preload + rows + cols - 2


DATAFLOWS = Registry("dataflow")


def register_dataflow(df: Dataflow) -> Dataflow:
    """Make `df` the dataflow answering to `df.name` in hardware configs; rows, cols and time must be the
    three GEMM dimensions, and the stationary operand the one indexed by the two spatial ones."""
    if sorted((df.rows, df.cols, df.time)) != ["k", "m", "n"] or \
            set(Dataflow.OPERAND_DIMS.get(df.stationary, ())) != {df.rows, df.cols}:
        raise ValueError(f"dataflow {df.name!r}: rows/cols/time {df.rows}/{df.cols}/{df.time} and stationary "
                         f"{df.stationary!r} are not one mapping of m, k, n")
    return DATAFLOWS.register(df.name, df)


def get_dataflow(name: str) -> Dataflow:
    return DATAFLOWS.lookup(name)


for _df in (Dataflow("os", rows="m", cols="n", time="k", stationary="outputs", preload=False),
            Dataflow("ws", rows="k", cols="n", time="m", stationary="weights", preload=True),
            Dataflow("is", rows="k", cols="m", time="n", stationary="inputs", preload=True)):
    register_dataflow(_df)


@dataclass(frozen=True)
class FoldPlan:
    """How a GEMM of extents {m, k, n} (k in lane slots) folds onto an R x C array."""
    extents: dict
    row_folds: int
    col_folds: int
    t: int                 # slots along the time dimension per fold

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds


def ceil_div(a, b):
    """ceil(a / b) for non-negative ints or integer numpy arrays."""
    return -(-a // b)


def fold_plan(df: Dataflow, rows: int, cols: int, m, k_slots, n) -> FoldPlan:
    """Extents may be ints or integer arrays (one entry per config)."""
    ext = {"m": m, "k": k_slots, "n": n}
    return FoldPlan(ext, ceil_div(ext[df.rows], rows), ceil_div(ext[df.cols], cols), ext[df.time])


def compute_cycles(df: Dataflow, rows: int, cols: int, m, k_slots, n, step):
    """Closed form: every fold streams t slots of `step` cycles and pays the array's fill and drain
    (a bit-serial PE stretches every slot, fill and drain included, by `step`)."""
    p = fold_plan(df, rows, cols, m, k_slots, n)
    return p.folds * step * (p.t + df.fill_drain(rows, cols))


def operand_refetch(df: Dataflow, rows: int, cols: int, m: int, k_slots: int, n: int) -> dict[str, int]:
    """How many times each operand is streamed from its buffer: once per fold along the spatial
    dimension that does NOT index it (that dimension's folds each need the whole operand again)."""
    p = fold_plan(df, rows, cols, m, k_slots, n)
    out = {}
    for op, dims in Dataflow.OPERAND_DIMS.items():
        f = 1
        if df.rows not in dims:
            f *= p.row_folds
        if df.cols not in dims:
            f *= p.col_folds
        out[op] = f
    return out
