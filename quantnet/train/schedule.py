"""Learning rate within a stage: linear warm-up, then cosine decay to 0 (or constant)."""
from __future__ import annotations

import math


def lr_at(base_lr: float, step: int, steps_per_epoch: int, epochs: int, warmup_epochs: float, schedule: str) -> float:
    """Learning rate before optimiser step `step` (0-based) of a stage of `epochs` epochs."""
    total = max(1, steps_per_epoch * epochs)
    warm = int(round(warmup_epochs * steps_per_epoch))
    if step < warm:
        return base_lr * (step + 1) / warm
    if schedule == "constant":
        return base_lr
    t = (step - warm) / max(1, total - warm)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
