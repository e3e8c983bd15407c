"""Data sets as 8-bit input codes (uint8, N x C x H x W) with int64 labels."""
from __future__ import annotations

from hwsim.errors import UserError

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch


class DataError(UserError):
    """A data directory or file that is missing or not in the expected format."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    def __post_init__(self):
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.dtype != np.uint8 or x.ndim != 4:
                raise DataError(f"{self.name}/{split}: inputs must be uint8 N x C x H x W codes, got {x.dtype} {x.shape}")
            if len(x) != len(y):
                raise DataError(f"{self.name}/{split}: {len(x)} inputs but {len(y)} labels")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise DataError(f"{self.name}/{split}: labels outside [0, {self.num_classes})")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "Dataset":
        return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train], self.x_test[:n_test],
                       self.y_test[:n_test], self.num_classes)


def named_dataset(root, name: str, *arrays_and_classes) -> Dataset:
    """A Dataset read from directory `root`; a check that fails names the directory."""
    try:
        return Dataset(name, *arrays_and_classes)
    except DataError as e:
        raise DataError(f"{root}: {e}") from None


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = False,
            rng: np.random.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (codes uint8 tensor, labels int64 tensor) batches."""
    order = (rng or np.random.default_rng()).permutation(len(x)) if shuffle else np.arange(len(x))
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        yield torch.from_numpy(np.ascontiguousarray(x[idx])), torch.from_numpy(y[idx].astype(np.int64))


def to_codes(values: np.ndarray, vmax: float) -> np.ndarray:
    """Scale values in [0, vmax] to 8-bit codes, rounding half up."""
    return np.clip(np.floor(values.astype(np.float64) * (255.0 / vmax) + 0.5), 0, 255).astype(np.uint8)
