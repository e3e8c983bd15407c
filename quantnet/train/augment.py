"""Training-time data augmentation on 8-bit input codes: random translation (pad + crop) and
horizontal flips.

Each image moves by (dy, dx), each drawn uniformly from [-shift, shift], and the pixels it uncovers
are code 0 (the digits' background; black, as torchvision's RandomCrop(padding=4) pads CIFAR images
before normalising them). Codes are copied, never rescaled or rounded, so the network still sees
exactly the 8-bit inputs the integer contract describes.
"""
from __future__ import annotations

import numpy as np

# Translation (pixels) a data set gets when the config leaves `augment_shift` unset. Measured on
# digits only (8x8 images: 1 pixel); every other data set trains unaugmented unless asked.
DEFAULT_SHIFT = {"digits": 1}


def default_shift(data: str) -> int:
    return DEFAULT_SHIFT.get(data, 0)


def random_shift(x: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """x: N x C x H x W codes. A translated copy, one (dy, dx) per image; shift 0 returns x itself."""
    if shift < 0:
        raise ValueError(f"shift must be >= 0, got {shift}")
    if shift == 0 or len(x) == 0:
        return x
    n, _, h, w = x.shape
    d = rng.integers(-shift, shift + 1, size=(n, 2))
    padded = np.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
    out = np.empty_like(x)
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            idx = np.flatnonzero((d[:, 0] == dy) & (d[:, 1] == dx))
            if len(idx):
                # output pixel (i, j) reads input (i - dy, j - dx): the content moves by (+dy, +dx)
                out[idx] = padded[idx, :, shift - dy:shift - dy + h, shift - dx:shift - dx + w]
    return out


def random_flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x: N x C x H x W codes. A copy with each image mirrored left-right with probability 1/2."""
    flip = rng.random(len(x)) < 0.5
    out = x.copy()
    out[flip] = x[flip, :, :, ::-1]
    return out
