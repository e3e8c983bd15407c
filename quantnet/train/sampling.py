"""Which sub-networks a batch trains, per stage kind.

Every batch first draws its whole-network bit-width b from the stage's bits. Then each entry of
the stage's `subnets` list becomes one bit configuration:
  max / min   uniform at the highest / lowest of the stage's bits
  random      act, uniform stages: uniform at b
              mixed stage: per-layer (or per-block) bits; each unit keeps b with probability
              1 - p_deviate, else draws from all candidates (p_deviate ramps 0 -> 1)
A float stage trains the float network: one sub-network, config None.
"""
from __future__ import annotations

import numpy as np

from hwsim.bits import BitConfig, LayerTable

from .config import StageConfig


def p_deviate(stage: StageConfig, progress: float) -> float:
    """Share of units that deviate from the batch's bit-width, at `progress` in [0, 1] of the stage."""
    if stage.ramp <= 0.0:
        return 1.0
    return float(min(1.0, max(0.0, progress / stage.ramp)))


def stage_bits(stage: StageConfig, spec: LayerTable) -> tuple[int, ...]:
    return tuple(sorted(stage.bits)) if stage.bits is not None else tuple(spec.candidate_bits)


def sample_subnets(stage: StageConfig, spec: LayerTable, rng: np.random.Generator,
                   progress: float) -> list[tuple[str, BitConfig | None]]:
    """[(subnet kind, config)] for one batch; the first entry is the in-place teacher when distilling."""
    if stage.kind == "float":
        return [("fp", None)]
    bits = stage_bits(stage, spec)
    base = int(bits[rng.integers(len(bits))])
    out = []
    for kind in stage.subnets:
        if kind == "max":
            cfg = BitConfig.uniform(spec, bits[-1])
        elif kind == "min":
            cfg = BitConfig.uniform(spec, bits[0])
        elif stage.kind == "mixed":
            cfg = BitConfig.random(spec, rng, stage.granularity, base_bits=base,
                                   p_deviate=p_deviate(stage, progress))
        else:
            cfg = BitConfig.uniform(spec, base)
        out.append((kind, cfg))
    return out
