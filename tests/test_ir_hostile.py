"""The IR validator checks each op's weights against the tensors it reads; the manifest is hashed."""
import copy
import hashlib
import json

import numpy as np
import pytest

from hwsim.ir import IRError
from hwsim.ir_io import IRFormatError, load_ir, save_ir
from hwsim.ir_validate import validate
from tests.irgen import GenParams, random_ir


@pytest.fixture()
def ir():
    return random_ir(GenParams(seed=3, channels=2, size=6, width=4, identity=False))


def _conv_reading_more_channels(ir):
    """The second conv's weights read one more input channel than the tensor it reads has."""
    bad = copy.deepcopy(ir)
    op = [o for o in bad.ops if o.kind == "conv"][1]
    op.weights = {b: np.concatenate([w, w[:, :1]], axis=1) for b, w in op.weights.items()}
    return bad, op.name


def test_conv_in_channels_checked(ir):
    bad, name = _conv_reading_more_channels(ir)
    with pytest.raises(IRError, match=rf"{name}.*channels per group"):
        validate(bad)


def test_linear_features_checked(ir):
    bad = copy.deepcopy(ir)
    op = bad.ops[-1]
    op.weights = {b: np.concatenate([w, w[:, :1]], axis=1) for b, w in op.weights.items()}
    with pytest.raises(IRError, match="features"):
        validate(bad)


def test_op_arity_and_attributes_checked(ir):
    bad = copy.deepcopy(ir)
    bad.ops[-1].attrs["stride"] = 2
    with pytest.raises(IRError, match=r"unknown attribute\(s\) \['stride'\]"):
        validate(bad)


@pytest.mark.parametrize("kind, key", [("conv", "groups"), ("conv", "stride"), ("maxpool", "kernel")])
def test_a_bool_is_not_an_integer_attribute(kind, key):
    """YAML/JSON `true` must not pass as 1 (found by the slow IR fuzzer: it reached the kernel unnamed)."""
    ir = random_ir(GenParams(seed=3, channels=2, size=6, width=4, identity=False, maxpool=True))
    bad = copy.deepcopy(ir)
    op = next(o for o in bad.ops if o.kind == kind)
    bad.ops[bad.ops.index(op)].attrs[key] = True
    with pytest.raises(IRError, match=rf"{op.name}.*must be"):
        validate(bad)


def _edit_manifest(ir, p, edit, rehash: bool):
    save_ir(ir, p)
    with np.load(p, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    m = json.loads(members["__manifest__"].tobytes())
    edit(m)
    text = json.dumps(m).encode()
    members["__manifest__"] = np.frombuffer(text, np.uint8)
    if rehash:
        members["__manifest_sha256__"] = np.frombuffer(hashlib.sha256(text).hexdigest().encode(), np.uint8)
    with open(p, "wb") as f:
        np.savez_compressed(f, **members)


def test_edited_manifest_refused(ir, tmp_path):
    p = tmp_path / "m.npz"
    _edit_manifest(ir, p, lambda m: m.update(source={"checkpoint": "elsewhere.pt"}), rehash=False)
    with pytest.raises(IRFormatError, match="manifest fails its sha256"):
        load_ir(p)


def test_manifest_with_unknown_key_refused(ir, tmp_path):
    p = tmp_path / "m.npz"
    _edit_manifest(ir, p, lambda m: m["ops"][0].update(extra=1), rehash=True)
    with pytest.raises(IRFormatError, match=r"m.npz: manifest.ops\[0\].extra: unknown key"):
        load_ir(p)


def test_save_to_a_directory_is_an_error(ir, tmp_path):
    with pytest.raises(IRFormatError, match="is a directory"):
        save_ir(ir, tmp_path)
