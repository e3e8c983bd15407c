"""Loaders read tiny files the tests write in the real formats."""
import gzip
import os
import pickle

import numpy as np
import pytest

from cifar_files import write_cifar as _write_cifar

from quantnet.data import DataError, load_cifar10, load_dataset, load_mnist


def test_cifar10_reads_python_pickle_batches(tmp_path):
    written = _write_cifar(tmp_path / "cifar-10-batches-py")
    ds = load_cifar10(tmp_path)  # finds the standard sub-directory
    assert ds.x_train.shape == (30, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    data, labels = written["test_batch"]
    # channel-major rows: the first 1024 bytes are the red plane
    assert np.array_equal(ds.x_test[2, 0].ravel(), data[2, :1024])
    assert np.array_equal(ds.x_test[2, 2].ravel(), data[2, 2048:])
    assert ds.y_test.tolist() == labels


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar10_refuses_pickles_that_would_run_code(tmp_path):
    _write_cifar(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR-10 python batch \(refusing to load"):
        load_cifar10(tmp_path)


def test_cifar10_missing_and_malformed(tmp_path):
    with pytest.raises(DataError, match="does not exist; expected the python batches"):
        load_cifar10(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="expected data_batch_1"):
        load_cifar10(tmp_path / "empty")
    _write_cifar(tmp_path / "bad")
    with open(tmp_path / "bad" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"data_batch_1: b'data' must be N x 3072 uint8"):
        load_cifar10(tmp_path / "bad")


def _idx(path, arr, magic, gz=False):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    raw = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def _write_mnist(root, gz=False):
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    sfx = ".gz" if gz else ""
    arrays = {"train-images-idx3-ubyte": (rng.integers(0, 256, (5, 28, 28)), 2051),
              "train-labels-idx1-ubyte": (rng.integers(0, 10, 5), 2049),
              "t10k-images-idx3-ubyte": (rng.integers(0, 256, (3, 28, 28)), 2051),
              "t10k-labels-idx1-ubyte": (rng.integers(0, 10, 3), 2049)}
    for name, (arr, magic) in arrays.items():
        _idx(root / (name + sfx), arr, magic, gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz)
    ds = load_mnist(tmp_path)
    assert ds.x_train.shape == (5, 1, 28, 28) and ds.x_test.shape == (3, 1, 28, 28)
    assert np.array_equal(ds.x_test[:, 0], arrays["t10k-images-idx3-ubyte"][0])
    assert ds.y_train.tolist() == arrays["train-labels-idx1-ubyte"][0].tolist()


def test_mnist_bad_magic_truncation_and_missing(tmp_path):
    _write_mnist(tmp_path)
    _idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3), 2051)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: idx magic number 2051, expected 2049"):
        load_mnist(tmp_path)
    _write_mnist(tmp_path)
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(DataError, match=r"header says \[5, 28, 28\]"):
        load_mnist(tmp_path)
    _write_mnist(tmp_path)
    os.remove(tmp_path / "t10k-images-idx3-ubyte")
    with pytest.raises(DataError, match="lacks t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_digits_default_split_is_fixed_stratified_half():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert np.array_equal(a.x_test, b.x_test)
    assert len(a.y_test) in (898, 899) and len(a.y_train) + len(a.y_test) == 1797
    assert a.x_train.dtype == np.uint8 and a.x_train.max() == 255
    counts = np.bincount(a.y_test, minlength=10) / np.bincount(a.y_train, minlength=10)
    assert np.all(np.abs(counts - 1) < 0.05)


def test_unknown_dataset_and_missing_dir():
    with pytest.raises(DataError, match="unknown data set 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match="give its path"):
        load_dataset("cifar10")
