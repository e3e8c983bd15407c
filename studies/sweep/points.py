"""What a chunk is made of: hardware points and networks with their bit configs. Kept light (no numba
kernels, no torch): Dask workers import it to unpickle their tasks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hwsim.dataflow.graph import OpGraph
from hwsim.hwconfig import HwConfig


@dataclass(frozen=True)
class HwPoint:
    index: int
    params: dict[str, Any]             # the swept parameters' values at this point
    hw: HwConfig

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items()) or "the base config"


@dataclass(frozen=True)
class NetworkData:
    """All a chunk needs of one network: shipped once to every worker."""
    name: str
    graph: OpGraph                    # the ops in order, layers with their shapes (NetworkCost walks it)
    bits_spec: tuple[str, ...]        # per config: the spec that named it (uniform, random:100:1, a file)
    bits_name: tuple[str, ...]
    w_bits: np.ndarray                # int64 (n_configs, n_layers), layers in shape order
    a_bits: np.ndarray
    avg_w_bits: np.ndarray            # mean over the switchable layers, per config
    avg_a_bits: np.ndarray
    accuracy: np.ndarray              # per config; NaN where not measured
    accuracy_source: str              # "" where not measured

    @property
    def shapes(self):
        return self.graph.shapes

    @property
    def n_configs(self) -> int:
        return len(self.bits_name)
