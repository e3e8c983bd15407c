"""Data loaders. `load_dataset(name, root)`: digits (default, bundled), synthetic, cifar10, mnist."""
from __future__ import annotations

from pathlib import Path

from .base import Dataset, DataError, batches, to_codes
from .cifar10 import load_cifar10
from .digits import load_digits_dataset
from .mnist import load_mnist
from .synthetic import make_synthetic

DATASETS = ("digits", "synthetic", "cifar10", "mnist")


def load_dataset(name: str, root: str | Path | None = None) -> Dataset:
    if name == "digits":
        return load_digits_dataset()
    if name == "synthetic":
        return make_synthetic()
    if name in ("cifar10", "mnist"):
        if root is None:
            raise DataError(f"data set {name!r} is read from a local directory: give its path (--data-dir)")
        return load_cifar10(root) if name == "cifar10" else load_mnist(root)
    raise DataError(f"unknown data set {name!r}; available: {', '.join(DATASETS)}")


def dataset_for_checkpoint(extra: dict, name: str | None = None, root: str | Path | None = None,
                           model=None) -> Dataset:
    """Data set `name` read from `root`, each by default the one the checkpoint (its `extra`) was trained on.
    With `model`, a data set whose inputs or classes do not fit it is a DataError (an accuracy of a digits
    network on 28x28 MNIST means nothing)."""
    dataset = load_dataset(name or extra.get("data", "digits"), root or extra.get("data_dir"))
    if model is not None:
        arch = model.arch
        want = (arch.in_channels, arch.input_size, arch.input_size)
        if tuple(dataset.input_shape) != want or dataset.num_classes > arch.num_classes:
            raise DataError(f"data set {dataset.name!r} has inputs {tuple(dataset.input_shape)} and "
                            f"{dataset.num_classes} classes; model {model.name!r} takes {want} and "
                            f"{arch.num_classes} classes")
    return dataset


def test_split(dataset: Dataset, samples: int | None = None):
    """(x, y): the first `samples` test samples (None: all). Below 1 is a DataError: x[:-3] would mean
    'all but 3' and x[:0] nothing."""
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise DataError(f"--samples must be an integer >= 1, got {samples!r}")
    return dataset.x_test[:samples], dataset.y_test[:samples]


def default_model_for(dataset: Dataset) -> tuple[str, dict]:
    """The registered model and arch kwargs that fit a data set's input shape."""
    c, h, _ = dataset.input_shape
    if dataset.name == "cifar10":
        return "resnet20", {"num_classes": dataset.num_classes}
    return "digits_resnet10", {"in_channels": c, "input_size": h, "num_classes": dataset.num_classes}


__all__ = ["DATASETS", "Dataset", "DataError", "batches", "dataset_for_checkpoint", "default_model_for", "load_cifar10",
           "load_dataset", "load_digits_dataset", "load_mnist", "make_synthetic", "to_codes"]
