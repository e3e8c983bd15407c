"""The torch int64 reference on a batch of per-sample configs, grouped as hwsim.per_sample does."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from hwsim.ir import IntModel
from hwsim.per_sample import Bits, run_grouped

from ..intref import run_reference


def reference_per_sample(ir: IntModel, configs: Sequence[Bits], x: np.ndarray) -> np.ndarray:
    """int64 logits (N, classes) of the torch reference, sample i at configs[i]."""
    return run_grouped(lambda bits, xg: run_reference(ir, bits, xg)[0], configs, x)
