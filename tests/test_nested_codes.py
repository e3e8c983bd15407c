"""Nested weight codes: the derivation rule against a brute-force reference at every width and code, and a
nested IR against the same network exported with explicit per-width codes (executor and torch reference)."""
import hashlib
import json

import numpy as np
import pytest

from hwsim.executor import AccumulatorOverflow, execute
from hwsim.ir import IRError, Op
from hwsim.ir_io import VERSION, IRFormatError, load_ir, save_ir
from hwsim.ir_validate import validate
from hwsim.nested_codes import NestedCodesError, derive
from quantnet.intref import run_reference, weight_codes
from tests.irgen import GenParams, random_bits, random_input, random_ir, uniform_bits
from tests.naive import nested_code


def _every_code(bits: int) -> np.ndarray:
    qp = 2 ** (bits - 1) - 1
    return np.arange(-qp, qp + 1, dtype=np.int8)


@pytest.mark.parametrize("big", range(2, 9))
def test_every_code_of_every_width_matches_brute_force(big):
    q = _every_code(big)
    op = Op("w", "conv", ("x",), "y", weights={big: q}, weight_codes="nested")
    for small in range(2, big + 1):
        want = [nested_code(int(v), big, small) for v in q]
        assert derive(q, big, small).tolist() == want
        assert weight_codes(op, small).tolist() == want


def test_hand_values_at_ties_and_saturation():
    # 4 -> 2 bits (k = 2): 0.25 -> 0, 0.5 -> 1, -0.5 -> -1, 7/4 -> 2 saturates to 1
    assert derive(np.array([1, 2, -2, -1, 7, -7, 5], np.int8), 4, 2).tolist() == [0, 1, -1, 0, 1, -1, 1]
    # 4 -> 3 bits (k = 1): every odd code is a tie, rounded away from zero (the rule is odd)
    assert derive(np.array([1, -1, 3, -3, 7, -7], np.int8), 4, 3).tolist() == [1, -1, 2, -2, 3, -3]
    # 8 -> 4 bits (k = 4): 127/16 = 7.94 -> 8 saturates to 7; 8/16 -> 1; 7/16 -> 0
    assert derive(np.array([127, -127, 8, -8, 7, -7], np.int8), 8, 4).tolist() == [7, -7, 1, -1, 0, 0]


def test_widening_or_out_of_range_is_refused():
    with pytest.raises(NestedCodesError, match="3 -> 4"):
        derive(np.zeros(2, np.int8), 3, 4)


def nested_ir(seed: int):
    """A random IR whose weighted ops store only their widest codes."""
    ir = random_ir(GenParams(seed=seed, identity=seed % 2 == 0, maxpool=seed % 3 == 0, size=5, width=5))
    for op in ir.ops:
        if op.weights:
            op.weights = {max(op.weights): op.weights[max(op.weights)]}
            op.weight_codes = "nested"
    return validate(ir)


def _twins(seed: int):
    """(per-width IR whose narrower codes are brute-force derived from the widest, the same IR nested)."""
    per = random_ir(GenParams(seed=seed, identity=seed % 2 == 0, maxpool=seed % 3 == 0, size=5, width=5))
    for a in per.ops:
        if a.weights:
            big = max(a.weights)
            q = a.weights[big]
            for small in a.weights:
                a.weights[small] = np.array([nested_code(int(v), big, small) for v in q.ravel()], np.int8).reshape(q.shape)
    return validate(per), nested_ir(seed)


@pytest.mark.parametrize("seed", range(6))
def test_nested_ir_runs_like_explicit_per_width_codes(seed):
    per, nested = _twins(seed)
    rng = np.random.default_rng(seed)
    x = random_input(per, rng, 2)
    configs = [random_bits(per, rng) for _ in range(4)] + [uniform_bits(per, b) for b in (2, 4, 8)]
    ran = 0
    for bits in configs:
        try:
            want = execute(per, bits, x, overflow="report").logits
        except AccumulatorOverflow as e:
            with pytest.raises(AccumulatorOverflow, match=str(e).split(":")[0]):
                execute(nested, bits, x, overflow="report")
            continue
        ran += 1
        assert np.array_equal(execute(nested, bits, x, overflow="report").logits, want)
        assert np.array_equal(run_reference(nested, bits, x)[0], want)
    assert ran


def test_nested_file_stores_only_the_widest_codes(tmp_path):
    _, nested = _twins(1)
    save_ir(nested, tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz", allow_pickle=False) as z:
        manifest = json.loads(z["__manifest__"].tobytes())
    for op in manifest["ops"]:
        if "weight_bits" in op:
            assert op["weight_codes"] == "nested" and len(op["weight_bits"]) == 1
            assert [n for n in manifest["arrays"] if n.startswith(op["name"] + "/w/")] == \
                   [f"{op['name']}/w/{op['weight_bits'][0]}"]
    back = load_ir(tmp_path / "n.npz")
    bits = random_bits(back, np.random.default_rng(0))
    x = random_input(back, np.random.default_rng(1), 2)
    assert np.array_equal(run_reference(back, bits, x)[0], run_reference(nested, bits, x)[0])


def test_validator_refuses_narrow_codes_stored_in_a_nested_op():
    per, _ = _twins(2)
    op = next(o for o in per.ops if o.weights and len(o.weights) > 1)
    op.weight_codes = "nested"
    with pytest.raises(IRError, match="nested weights store bits"):
        validate(per)
    op.weight_codes = "shifted"
    with pytest.raises(IRError, match="weight_codes 'shifted'"):
        validate(per)


def test_version_4_files_are_refused_with_a_message(tmp_path):
    per, _ = _twins(0)
    save_ir(per, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        arrays = {n: z[n] for n in z.files}
    m = json.loads(arrays["__manifest__"].tobytes())
    m["version"] = 4
    text = json.dumps(m).encode()
    arrays["__manifest__"] = np.frombuffer(text, np.uint8)
    arrays["__manifest_sha256__"] = np.frombuffer(hashlib.sha256(text).hexdigest().encode(), np.uint8)
    np.savez(tmp_path / "v4.npz", **arrays)
    with pytest.raises(IRFormatError, match=f"version 4; this code reads version {VERSION}"):
        load_ir(tmp_path / "v4.npz")
