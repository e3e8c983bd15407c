"""A small synthetic set for fast tests: noisy class prototypes, as 8-bit codes."""
from __future__ import annotations

import numpy as np

from .base import Dataset


def make_synthetic(n_train: int = 256, n_test: int = 128, num_classes: int = 4, shape=(1, 8, 8),
                   noise: float = 40.0, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    protos = rng.uniform(0, 255, size=(num_classes,) + tuple(shape))

    def draw(n):
        y = rng.integers(0, num_classes, n)
        x = protos[y] + rng.normal(0, noise, size=(n,) + tuple(shape))
        return np.clip(np.round(x), 0, 255).astype(np.uint8), y.astype(np.int64)

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    return Dataset("synthetic", x_tr, y_tr, x_te, y_te, num_classes)
