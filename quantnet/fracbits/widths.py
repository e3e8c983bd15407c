"""Learnable fractional bit-widths λ, one per switchable weight and one per switchable activation tensor.

A layer reading the same tensor as another (a shortcut and its block's first conv) shares that
layer's activation λ. With `per_layer`, a layer's weights and input share one λ ("<layer>.wa"), so
every config has w = a per layer: the configs a meta-network is trained on (BitConfig.random draws
one width per layer), whose BN entries saw training; the paper's separate λ_w, λ_a also reach
configs with w != a, whose transitions were only calibrated. Between two neighbouring candidate widths c_i <= λ <= c_{i+1}, λ mixes them
with p = (λ - c_i) / (c_{i+1} - c_i) (with consecutive integers, the paper's p = λ - ⌊λ⌋); at a
candidate the mix is that width alone. Fixed layers keep their one width.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from hwsim.bits import BitConfig, LayerTable
from hwsim.errors import UserError

Mix = list[tuple[int, torch.Tensor | float]]   # [(width, weight)], weights sum to 1


@dataclass(frozen=True)
class WidthVar:
    name: str                       # "<layer>.w" or "<layer>.a"
    candidates: tuple[int, ...]


def mix(lam: torch.Tensor, cands: Sequence[int]) -> Mix:
    """The two candidates around λ (a 0-d tensor inside [min, max]) and their weights (1 - p, p)."""
    v = float(lam.detach())
    i = max(0, min(int(np.searchsorted(cands, v, side="right")) - 1, len(cands) - 2))
    lo, hi = cands[i], cands[i + 1]
    p = (lam - lo) / (hi - lo)
    return [(lo, 1 - p), (hi, p)]


def round_to(values: np.ndarray, cands: Sequence[int]) -> np.ndarray:
    """Each value to its nearest candidate; a tie goes to the lower one (the cheaper)."""
    c = np.asarray(cands, np.float64)
    d = np.abs(np.asarray(values, np.float64)[..., None] - c)
    return c[np.argmin(d, axis=-1)].astype(np.int64)


class FracWidths(nn.Module):
    """λ of a network's switchable layers; `w_ref` / `a_ref` give each layer's width as a λ index or a fixed int."""

    def __init__(self, spec: LayerTable, init: float | None = None, per_layer: bool = False):
        super().__init__()
        self.per_layer = per_layer
        self.spec = spec
        self.vars: list[WidthVar] = []
        self.w_ref: dict[str, int | tuple[int]] = {}
        self.a_ref: dict[str, int | tuple[int]] = {}
        for l in spec.layers:
            self.w_ref[l.name] = self._add(f"{l.name}.w", l.w_choices)
        for l in spec.layers:
            if l.a_tied_to:
                self.a_ref[l.name] = self.a_ref[l.a_tied_to]
            elif per_layer and l.a_choices == l.w_choices and not isinstance(self.w_ref[l.name], tuple):
                self.a_ref[l.name] = self.w_ref[l.name]
                self.vars[self.w_ref[l.name]] = WidthVar(f"{l.name}.wa", tuple(int(c) for c in l.w_choices))
            else:
                self.a_ref[l.name] = self._add(f"{l.name}.a", l.a_choices)
        start = [max(v.candidates) if init is None else float(np.clip(init, min(v.candidates), max(v.candidates)))
                 for v in self.vars]
        self.lam = nn.Parameter(torch.tensor(start, dtype=torch.float64))

    def _add(self, name: str, choices: Sequence[int]) -> int | tuple[int]:
        if len(choices) == 1:
            return (int(choices[0]),)          # a fixed width, told apart from an index by the tuple
        self.vars.append(WidthVar(name, tuple(int(c) for c in choices)))
        return len(self.vars) - 1

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.vars]

    def mix_of(self, ref: int | tuple[int]) -> Mix:
        if isinstance(ref, tuple):
            return [(ref[0], 1.0)]
        return mix(self.lam[ref], self.vars[ref].candidates)

    def w_mix(self, layer: str) -> Mix:
        return self.mix_of(self.w_ref[layer])

    def a_mix(self, layer: str) -> Mix:
        return self.mix_of(self.a_ref[layer])

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project λ back into [min, max] of its candidates (after an optimiser step)."""
        for i, v in enumerate(self.vars):
            self.lam[i].clamp_(min(v.candidates), max(v.candidates))

    def at_config(self, cfg: BitConfig) -> np.ndarray:
        """The λ vector that lies exactly at an integer config's widths."""
        out = np.full(len(self.vars), np.nan)
        for refs, width in ((self.w_ref, cfg.w), (self.a_ref, cfg.a)):
            for name, ref in refs.items():
                if not isinstance(ref, tuple):
                    if not np.isnan(out[ref]) and out[ref] != width(name):
                        raise UserError(f"config {cfg.name!r}: {self.vars[ref].name} would be both {int(out[ref])} "
                                        f"and {width(name)} bits (layer {name!r}); one λ holds one width")
                    out[ref] = width(name)
        return out

    @torch.no_grad()
    def set_config(self, cfg: BitConfig) -> None:
        self.lam.copy_(torch.from_numpy(self.at_config(cfg)))

    def values(self) -> np.ndarray:
        return self.lam.detach().cpu().numpy().copy()

    def config(self, values: np.ndarray | None = None, name: str = "fracbits") -> BitConfig:
        """The integer config with every λ (or `values`) rounded to its nearest candidate."""
        vals = self.values() if values is None else np.asarray(values, np.float64)
        r = [int(round_to(vals[i], v.candidates)) for i, v in enumerate(self.vars)]

        def pick(ref):
            return ref[0] if isinstance(ref, tuple) else r[ref]
        bits = {l.name: (pick(self.w_ref[l.name]), pick(self.a_ref[l.name])) for l in self.spec.layers}
        return self.spec.validate(BitConfig(bits, name))
