"""The differentiable cost of fractional widths: each layer's tabulated (w, a, out) grid interpolated
trilinearly at (λ_w, λ_a, λ_a of the layer it feeds), summed over layers in layer order.

At integer widths every weight but one is 0, so the sum is the tabulated figure itself: the cost
equals the cost model's total exactly. For BitOps (MACs·w·a, no output term) the bilinear
interpolation is exact everywhere: it is λ_w·λ_a·MACs.
"""
from __future__ import annotations

import torch

from hwsim.dataflow.cost_table import CostTable

from .widths import FracWidths


class CostPenalty:
    def __init__(self, table: CostTable, widths: FracWidths):
        missing = [l.name for l in table.layers if l.name not in widths.w_ref]
        if missing:
            raise ValueError(f"cost table layers {missing} are not in the network")
        self.table, self.widths = table, widths
        self.values = [torch.as_tensor(l.values, dtype=torch.float64) for l in table.layers]

    def cost(self) -> torch.Tensor:
        """The network's cost at the current λ (a 0-d float64 tensor, in the table's unit)."""
        total = torch.zeros((), dtype=torch.float64)
        for l, v in zip(self.table.layers, self.values):
            o_mix = [(l.o[0], 1.0)] if l.out_of is None else self.widths.a_mix(l.out_of)
            for w, cw in self.widths.w_mix(l.name):
                for a, ca in self.widths.a_mix(l.name):
                    for o, co in o_mix:
                        total = total + cw * ca * co * v[l.w.index(w), l.a.index(a), l.o.index(o)]
        return total

    def loss(self, target: float, kappa: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(κ·|cost/target − 1|, cost): the paper's |cost − target|, made unit-free by the target."""
        c = self.cost()
        return kappa * torch.abs(c / target - 1.0), c
