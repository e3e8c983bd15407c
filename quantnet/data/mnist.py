"""MNIST from local idx files (optionally .gz): train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte."""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .base import Dataset, DataError, named_dataset

FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
         "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}
_MAGIC_IMAGES, _MAGIC_LABELS = 2051, 2049


def _find(root: Path, stem: str) -> Path:
    for cand in (root / stem, root / (stem + ".gz"), root / stem.replace("-idx", ".idx")):
        if cand.is_file():
            return cand
    raise DataError(f"MNIST: {root} lacks {stem} (or {stem}.gz); expected the four idx files "
                    f"{', '.join(FILES.values())}")


MAX_BYTES = 1 << 30   # one idx file, unpacked: MNIST's largest is 47 MB


def read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:   # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: not a readable idx file ({type(e).__name__}: {e})") from None
    if len(raw) > MAX_BYTES:
        raise DataError(f"{path}: larger than {MAX_BYTES} bytes unpacked; not an MNIST idx file")
    if len(raw) < 8:
        raise DataError(f"{path}: too short for an idx header")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise DataError(f"{path}: idx magic number {got}, expected {magic}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    start = 4 + 4 * ndim
    need = math.prod(dims)   # Python ints: a product of 32-bit dimensions must not wrap
    if len(raw) - start != need:
        raise DataError(f"{path}: header says {dims} ({need} bytes) but {len(raw) - start} bytes follow")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


def load_mnist(root: str | Path) -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"MNIST directory {root} does not exist; expected idx files {', '.join(FILES.values())}")
    x_tr = read_idx(_find(root, FILES["train_x"]), _MAGIC_IMAGES, 3)[:, None]
    y_tr = read_idx(_find(root, FILES["train_y"]), _MAGIC_LABELS, 1).astype(np.int64)
    x_te = read_idx(_find(root, FILES["test_x"]), _MAGIC_IMAGES, 3)[:, None]
    y_te = read_idx(_find(root, FILES["test_y"]), _MAGIC_LABELS, 1).astype(np.int64)
    return named_dataset(root, "mnist", np.ascontiguousarray(x_tr), y_tr, np.ascontiguousarray(x_te), y_te, 10)
