"""One op kind of the IR: how an op of it is checked, shaped, executed and costed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..dataflow.layers import LayerShape
from ..ir import IntModel, Op

Shapes = list[tuple[int, ...]]   # per-sample shapes of an op's inputs


@dataclass(frozen=True)
class OpKind:
    name: str
    check: Callable[[IntModel, Op, str], None]               # IRError naming `where` on a broken invariant
    out_shape: Callable[[IntModel, Op, Shapes], tuple[int, ...]]   # per-sample output shape
    execute: Callable[..., np.ndarray]    # (run, op, *inputs) -> output; run: the executor's checked context
    # a costed layer of the dataflow graph gives its GEMM shape; other kinds are folded into its edges
    layer_shape: Callable[[IntModel, Op, Shapes], LayerShape] | None = None
    attrs: tuple[str, ...] = ()   # the attributes an op of this kind always carries
    optional_attrs: tuple[str, ...] = ()   # and those it may carry
    arity: int = 1                # how many tensors it reads
    # kinds that requantise: per channel, the largest |accumulator| the entry `key` can see, before its bias
    acc_bound: Callable[[Op, tuple], np.ndarray] | None = None

    @property
    def costed(self) -> bool:
        return self.layer_shape is not None
