"""scikit-learn's bundled 8x8 handwritten digits (no download), fixed-seed stratified 50/50 split."""
from __future__ import annotations

import numpy as np

from .base import Dataset, to_codes

SPLIT_SEED = 0


def load_digits_dataset(seed: int = SPLIT_SEED) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = to_codes(d.images, 16.0)[:, None]          # pixel values 0..16 -> codes 0..255
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    return Dataset("digits", x_tr, y_tr, x_te, y_te, 10)
