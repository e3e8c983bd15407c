"""The PE-faithful functional simulator: a layer's conv computed through its PE kind's decomposition,
with the design's partial-sum and accumulator widths checked and the array cycles counted.

`PESimulator(hw).conv_impl` plugs into `hwsim.executor.execute(..., conv_impl=...)`.
Cycle counting walks the activation data the array actually receives: every step feeds one block of
the im2col matrix (its extent along m and k is the array organisation's step plan), and a design with
zero-plane skipping spends on that step only the activation digit-planes that are non-zero somewhere
in the block.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from ..hwconfig import HwConfig
from ..kernels import im2col, weight_matrix
from ..dataflow.layers import LayerShape
from ..dataflow.mapping import ceil_div
from ..dataflow.organisations import get_organisation
from . import get_pe_kind
from .digits import block_nonzero_digits, shift_accumulate, split_digits, stacked_gemm

_CHUNK_ELEMS = 1 << 23     # bound on the stacked digit products held at once (int64 elements)


class PEOverflow(UserError):
    """A partial sum or accumulator exceeded the width the hardware config gives it."""


@dataclass
class LayerCount:
    samples: int = 0
    cycles: int = 0               # counted, with the config's data-dependent savings
    cycles_no_skip: int = 0       # counted with every digit-plane processed
    psum_overflows: int = 0
    acc_overflows: int = 0
    max_psum: int = 0
    max_acc: int = 0


@dataclass
class PESimulator:
    hw: HwConfig
    skipping: bool | None = None           # None: the config's zero_plane_skipping
    overflow: str = "report"               # "report" counts; "raise" raises PEOverflow
    counts: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.overflow not in ("report", "raise"):
            raise UserError(f"overflow must be 'report' or 'raise', got {self.overflow!r}")
        self.kind = get_pe_kind(self.hw.pe.kind)
        self.org = get_organisation(self.hw.array.organisation)
        if self.skipping is None:
            self.skipping = self.hw.pe.zero_plane_skipping
        if self.skipping and not self.kind.supports_skipping:
            raise UserError(f"PE kind {self.kind.name!r} has no zero-plane skipping")

    def conv_impl(self, x, w, stride, padding, groups, layer_name, w_bits, a_bits):
        """(x (N,C,H,W) codes, w (O,C/g,kh,kw) codes, ...) -> int64 accumulators (N, O, Ho, Wo)."""
        pe = self.hw.pe
        self.kind.check_bits(pe, int(w_bits), int(a_bits))
        N, C, H, W = x.shape
        O, Cg, kh, kw = w.shape
        Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
        # byte codes stay bytes (8x less to copy and split than int64); wider codes widen to int64
        cols = im2col(x, kh, kw, stride, padding, groups, x.dtype if x.dtype.itemsize == 1 else np.int64)
        wm = weight_matrix(w, groups)                                   # (g, O/g, K)
        da, dw = self.kind.digits(pe, w_bits, a_bits)
        rec = self.counts.setdefault(layer_name, LayerCount())
        shape = LayerShape(layer_name, "conv", C, O, kh, kw, stride, padding, groups, H, W, "acc")
        out = np.empty((groups, N * Ho * Wo, O // groups), np.int64)
        for g in range(groups):
            out[g] = self._gemm(cols[g], wm[g].T, a_bits, w_bits, da, dw, rec, layer_name)
            for n in range(N):
                x_n = cols[g][n * Ho * Wo:(n + 1) * Ho * Wo]
                c, c0 = self.count_cycles(x_n, shape, w_bits, a_bits)
                rec.cycles += c
                rec.cycles_no_skip += c0
        rec.samples += N
        return out.reshape(groups, N, Ho, Wo, O // groups).transpose(1, 0, 4, 2, 3).reshape(N, O, Ho, Wo)

    def _gemm(self, xm, wm, a_bits, w_bits, da, dw, rec, layer):
        xd = split_digits(xm, a_bits, da)
        wd = split_digits(wm, w_bits, dw)
        per_row = xd.shape[0] * wd.shape[0] * wm.shape[1]
        step = max(1, _CHUNK_ELEMS // max(per_row, 1))
        out = np.empty((xm.shape[0], wm.shape[1]), np.int64)
        pe = self.hw.pe
        for r0 in range(0, xm.shape[0], step):
            prods = stacked_gemm(np.ascontiguousarray(xd[:, r0:r0 + step]), wd)
            acc, n_p, n_a, mp, ma = shift_accumulate(prods, da, dw, pe.partial_sum_bits, pe.accumulator_bits)
            out[r0:r0 + step] = acc
            rec.psum_overflows += int(n_p)
            rec.acc_overflows += int(n_a)
            rec.max_psum, rec.max_acc = max(rec.max_psum, int(mp)), max(rec.max_acc, int(ma))
        if self.overflow == "raise" and (rec.psum_overflows or rec.acc_overflows):
            raise PEOverflow(f"layer {layer!r} on {self.hw.name}: {rec.psum_overflows} partial sums exceed "
                             f"{pe.partial_sum_bits} bits (largest |psum| {rec.max_psum}), {rec.acc_overflows} "
                             f"running sums exceed the {pe.accumulator_bits}-bit accumulator (largest {rec.max_acc})")
        return out

    def count_cycles(self, x_mk: np.ndarray, shape: LayerShape, w_bits: int, a_bits: int) -> tuple[int, int]:
        """Cycles of one group of one sample's GEMM (x_mk: (M, K) codes of `shape`, one sample): (with
        savings, without). The organisation's step plan says which block of x_mk each step feeds."""
        pe, array = self.hw.pe, self.hw.array
        lanes, step = self.kind.lanes(pe, w_bits, a_bits), self.kind.steps(pe, w_bits, a_bits)
        plan = self.org.step_plan(shape, array, lanes)
        if plan is None:
            if self.skipping:
                raise UserError(f"{self.hw.name}: organisation {self.org.name!r} does not say which data a step "
                                f"feeds, so zero-plane skipping cannot be counted on it")
            c = int(self.org.group_cycles(shape, array, lanes, step))
            return c, c
        da, _ = self.kind.digits(pe, w_bits, a_bits)
        segment = x_mk.shape[1] // plan.segments
        streamed, saved = 0, 0
        for t in range(plan.segments):
            part = x_mk[:, t * segment:(t + 1) * segment]        # a strided view: the kernel reads it in place
            nz = block_nonzero_digits(part, plan.bm, plan.bk, da, ceil_div(a_bits, da))
            streamed += nz.size * step
            if self.skipping and nz.size:
                saved += int(np.sum(np.vectorize(lambda z: self.kind.skipped_steps(pe, w_bits, a_bits, int(z)))(nz)))
        fill = plan.overhead_steps * step
        return fill + plan.reps * (saved if self.skipping else streamed), fill + plan.reps * streamed
