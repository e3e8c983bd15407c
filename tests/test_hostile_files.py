"""Checkpoints, data files and study manifests: each hostile file ends in one error naming it."""
import gzip
import json
import pickle

import numpy as np
import pytest
import torch

from quantnet.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from quantnet.data.base import DataError
from quantnet.data.cifar10 import load_cifar10
from quantnet.data.mnist import FILES, load_mnist
from quantnet.models import build_model
from studies.report import ReportError, write_report


@pytest.fixture()
def ckpt(tmp_path):
    p = tmp_path / "c.pt"
    save_checkpoint(build_model("digits_resnet", width=2), p)
    return p


def _edit(path, edit):
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)


@pytest.mark.parametrize("edit,match", [
    (lambda p: p["state_dict"].__setitem__("fc.weight", p["state_dict"]["fc.weight"] * float("nan")), "NaN or inf"),
    (lambda p: p["state_dict"].__setitem__("fc.weight", torch.zeros(3, 3)), "do not fit"),
    (lambda p: p.update(model="nonexistent"), "do not fit"),
    (lambda p: p.update(model_kwargs={1: 2}), "string keys"),
    (lambda p: p.update(extra="x"), "extra must be a mapping"),
    (lambda p: p.update(arch_kwargs={"width": 10**7}), "outside"),
    (lambda p: p.update(surprise=1), "unknown keys"),
])
def test_bad_checkpoint_refused(ckpt, edit, match):
    _edit(ckpt, edit)
    with pytest.raises(CheckpointError, match=match) as e:
        load_checkpoint(ckpt)
    assert "c.pt" in str(e.value) and "\n" not in str(e.value)


def test_empty_checkpoint_refused(tmp_path):
    p = tmp_path / "e.pt"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="e.pt: not a readable"):
        load_checkpoint(p)


def _mnist(d, train_y=bytes([1, 2]), dims=(2, 28, 28), gz=False):
    def idx(magic, dims, body):
        return magic.to_bytes(4, "big") + b"".join(x.to_bytes(4, "big") for x in dims) + body
    files = {FILES["train_x"]: idx(2051, dims, bytes(int(np.prod(dims, dtype=object)) if max(dims) < 2**16 else 8)),
             FILES["train_y"]: idx(2049, [len(train_y)], train_y),
             FILES["test_x"]: idx(2051, (1, 28, 28), bytes(784)), FILES["test_y"]: idx(2049, [1], bytes([0]))}
    for n, b in files.items():
        (d / (n + ".gz" if gz else n)).write_bytes(gzip.compress(b) if gz else b)


@pytest.mark.parametrize("kw,match", [({"train_y": bytes([1, 200])}, "labels outside"),
                                      ({"dims": (2**31, 2**31, 4)}, "header says")])
def test_bad_mnist_refused(tmp_path, kw, match):
    _mnist(tmp_path, **kw)
    with pytest.raises(DataError, match=match) as e:
        load_mnist(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_corrupt_gzip_refused(tmp_path):
    _mnist(tmp_path, gz=True)
    f = tmp_path / (FILES["test_y"] + ".gz")
    f.write_bytes(f.read_bytes()[:-6])
    with pytest.raises(DataError, match="not a readable idx"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("labels", [["a", "b"], [1.5, 2.0], [[1], [2]]])
def test_cifar_labels_must_be_integers(tmp_path, labels):
    for name in ("data_batch_1", "test_batch"):
        (tmp_path / name).write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}))
    with pytest.raises(DataError, match="labels"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("file", ["../secret.csv", "/etc/passwd", "sub/../../secret.csv"])
def test_report_embeds_only_files_inside_the_study(tmp_path, file):
    (tmp_path / "secret.csv").write_text("SECRET,1\n")
    d = tmp_path / "study"
    d.mkdir()
    (d / "study.json").write_text(json.dumps({"title": "T", "items": [
        {"kind": "table", "file": file, "title": "t", "caption": "c"}]}))
    with pytest.raises(ReportError, match="outside the study directory"):
        write_report(d)


def test_report_manifest_types_checked(tmp_path):
    (tmp_path / "study.json").write_text(json.dumps({"title": ["T"], "items": []}))
    with pytest.raises(ReportError, match="study.json: title: expected a string"):
        write_report(tmp_path)


@pytest.mark.parametrize("edit", [lambda p: p["arch_kwargs"].update(depth=0),
                                  lambda p: p["model_kwargs"].update(first_last_bits=float("inf"))])
def test_absurd_model_arguments_refused(ckpt, edit):
    _edit(ckpt, edit)
    with pytest.raises(CheckpointError, match="c.pt"):
        load_checkpoint(ckpt)
