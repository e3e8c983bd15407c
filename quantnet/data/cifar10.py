"""CIFAR-10 from a local directory of the standard python-pickle batches.

Expected: DIR/data_batch_1 .. data_batch_5 and DIR/test_batch (or DIR/cifar-10-batches-py/...),
each a pickled dict with b'data' (N x 3072 uint8, channel-major) and b'labels'.
The pickles are read by an unpickler that admits only numpy arrays and plain containers, so a
tampered file cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .base import Dataset, DataError, named_dataset

TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILE = "test_batch"
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("builtins", "list"), ("builtins", "dict"),
    ("_codecs", "encode"),  # how protocol-2 pickles spell bytes objects; it only encodes a string
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays and plain data allowed)")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    data = d.get(b"data", d.get("data"))
    labels = d.get(b"labels", d.get("labels"))
    if data is None or labels is None:
        raise DataError(f"{path}: batch lacks b'data' or b'labels' (keys: {list(d)[:6]})")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: b'data' must be N x 3072 uint8, got {data.dtype} {data.shape}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: b'labels' must be a list of integers, got {labels.dtype} {labels.shape}")
    labels = labels.astype(np.int64)
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(root: str | Path) -> Dataset:
    root = Path(root)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise DataError(f"CIFAR-10 directory {root} does not exist; expected the python batches "
                        f"({', '.join(TRAIN_FILES)}, {TEST_FILE}) there")
    present = [f for f in TRAIN_FILES if (root / f).is_file()]
    if not present or not (root / TEST_FILE).is_file():
        raise DataError(f"{root}: expected {', '.join(TRAIN_FILES)} and {TEST_FILE} (python pickle batches); "
                        f"found {sorted(p.name for p in root.iterdir())[:10]}")
    parts = [_read_batch(root / f) for f in present]
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    x_te, y_te = _read_batch(root / TEST_FILE)
    return named_dataset(root, "cifar10", x_tr, y_tr, x_te, y_te, 10)
