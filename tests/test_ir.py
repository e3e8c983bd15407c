"""The IR file format and validator: round trip, corrupted files, broken invariants, bad configs and inputs."""
import hashlib
import json
import zipfile

import numpy as np
import pytest

from hwsim.bits import ActOf, WeightOf
from hwsim.ir import IntModel, IRError, Requant
from hwsim.ir_io import IRFormatError, load_ir, save_ir
from hwsim.ir_validate import validate
from quantnet.intref import run_reference
from tests.irgen import GenParams, random_bits, random_input, random_ir, uniform_bits


@pytest.fixture(scope="module")
def ir() -> IntModel:
    return random_ir(GenParams(seed=3, identity=False, maxpool=True, size=6, width=6))


def _same(a: IntModel, b: IntModel) -> None:
    assert a.table == b.table and a.tensors == b.tensors and a.input_shape == b.input_shape
    assert [(o.name, o.kind, o.inputs, o.output, o.attrs) for o in a.ops] == \
           [(o.name, o.kind, o.inputs, o.output, o.attrs) for o in b.ops]
    for x, y in zip(a.ops, b.ops):
        assert x.weights.keys() == y.weights.keys() and x.requant.keys() == y.requant.keys()
        for k in x.weights:
            assert np.array_equal(x.weights[k], y.weights[k]) and x.weights[k].dtype == y.weights[k].dtype
        for k in x.requant:
            for f in ("m0", "shift", "bias"):
                assert np.array_equal(getattr(x.requant[k], f), getattr(y.requant[k], f))
        for k in x.bias:
            assert np.array_equal(x.bias[k], y.bias[k])


def test_round_trip_keeps_every_array_and_result(ir, tmp_path):
    p = tmp_path / "m.npz"
    save_ir(ir, p)
    back = load_ir(p)
    _same(ir, back)
    rng = np.random.default_rng(0)
    x, bits = random_input(ir, rng, 3), random_bits(ir, rng)
    assert np.array_equal(run_reference(ir, bits, x)[0], run_reference(back, bits, x)[0])


def _rewrite(src, dst, change):
    """Copy an npz, letting change(name, array) return a replacement array (or the same)."""
    with np.load(src, allow_pickle=False) as z:
        arrays = {n: change(n, z[n]) for n in z.files}
    np.savez(dst, **arrays)


def _manifest_edit(src, dst, edit):
    """Edit the manifest as a tool would that also redoes its sha256 (so the checks behind the hash run)."""
    with np.load(src, allow_pickle=False) as z:
        arrays = {n: z[n] for n in z.files}
    m = json.loads(arrays["__manifest__"].tobytes().decode())
    edit(m)
    text = json.dumps(m).encode()
    arrays["__manifest__"] = np.frombuffer(text, np.uint8)
    arrays["__manifest_sha256__"] = np.frombuffer(hashlib.sha256(text).hexdigest().encode(), np.uint8)
    np.savez(dst, **arrays)


def test_truncated_file_is_a_clear_error(ir, tmp_path):
    p = tmp_path / "m.npz"
    save_ir(ir, p)
    data = p.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(IRFormatError, match=str(bad)):
            load_ir(bad)


def test_tampered_array_fails_its_hash(ir, tmp_path):
    p, bad = tmp_path / "m.npz", tmp_path / "bad.npz"
    save_ir(ir, p)

    def flip(name, a):
        if name == "c1/rq/bias":
            a = a.copy()
            a.flat[0] += 1
        return a
    _rewrite(p, bad, flip)
    with pytest.raises(IRFormatError, match="'c1/rq/bias' fails its sha256"):
        load_ir(bad)


def test_version_and_format_mismatch(ir, tmp_path):
    p = tmp_path / "m.npz"
    save_ir(ir, p)
    _manifest_edit(p, tmp_path / "v.npz", lambda m: m.update(version=99))
    with pytest.raises(IRFormatError, match="version 99"):
        load_ir(tmp_path / "v.npz")
    _manifest_edit(p, tmp_path / "f.npz", lambda m: m.update(format="something-else"))
    with pytest.raises(IRFormatError, match="format tag"):
        load_ir(tmp_path / "f.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(IRFormatError, match="no manifest"):
        load_ir(tmp_path / "plain.npz")
    with pytest.raises(IRFormatError, match="does not exist"):
        load_ir(tmp_path / "missing.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", __manifest__=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(IRFormatError):
        load_ir(tmp_path / "obj.npz")


def test_manifest_that_breaks_the_graph_is_refused(ir, tmp_path):
    p = tmp_path / "m.npz"
    save_ir(ir, p)

    def swap(m):  # use the add's output before the add runs
        m["ops"][1]["inputs"] = ["t4"]
    _manifest_edit(p, tmp_path / "g.npz", swap)
    with pytest.raises(IRFormatError, match="used before"):
        load_ir(tmp_path / "g.npz")


def test_validator_names_the_broken_table(ir):
    op = next(o for o in ir.ops if o.name == "c2")
    key = next(iter(op.requant))
    saved = op.requant.pop(key)
    try:
        with pytest.raises(IRError, match=r"c2.*no requant entry"):
            validate(ir)
        good = saved
        for bad, msg in ((Requant(np.full_like(good.m0, 5), good.shift, good.bias), "M0"),
                         (Requant(good.m0, np.full_like(good.shift, 63), good.bias), "shift 63"),
                         (Requant(good.m0.astype(np.int64), good.shift, good.bias), "m0 must be int32")):
            op.requant[key] = bad
            with pytest.raises(IRError, match=msg):
                validate(ir)
    finally:
        op.requant[key] = saved
    validate(ir)
    b = next(iter(op.weights))
    w = op.weights[b]
    op.weights[b] = np.full_like(w, 2 ** (b - 1))
    try:
        with pytest.raises(IRError, match="weight code"):
            validate(ir)
    finally:
        op.weights[b] = w


def test_config_errors_name_the_layer(ir):
    bits = random_bits(ir, np.random.default_rng(1))
    x = random_input(ir, np.random.default_rng(1), 2)
    with pytest.raises(IRError, match="'nope'"):
        run_reference(ir, {**bits, "nope": (4, 4)}, x)
    with pytest.raises(IRError, match="no bits given for layer"):
        run_reference(ir, {k: v for k, v in bits.items() if k != "c2"}, x)
    bad_w = next(b for b in range(2, 9) if b not in ir.table["c2"].w_choices) if len(ir.table["c2"].w_choices) < 7 else None
    if bad_w is not None:
        with pytest.raises(IRError, match=f"'c2' w_bits={bad_w}"):
            run_reference(ir, {**bits, "c2": (bad_w, bits["c2"][1])}, x)
    with pytest.raises(IRError, match="a_bits=1 not in allowed"):
        run_reference(ir, {**bits, "c2": (bits["c2"][0], 1)}, x)
    other = [a for a in ir.table["c1"].a_choices if a != bits["c1"][1]]
    if other:
        with pytest.raises(IRError, match="must share its a_bits"):
            ir.config({**bits, "sc": (bits["sc"][0], other[0])})


def test_input_shape_and_range_errors(ir):
    bits = random_bits(ir, np.random.default_rng(2))
    c, h, w = ir.input_shape
    with pytest.raises(IRError, match="shape"):
        run_reference(ir, bits, np.zeros((2, c, h + 1, w), np.uint8))
    with pytest.raises(IRError, match="shape"):
        run_reference(ir, bits, np.zeros((c, h, w), np.uint8))
    with pytest.raises(IRError, match=r"\[0, 255\]"):
        run_reference(ir, bits, np.full((1, c, h, w), 256, np.int32))
    with pytest.raises(IRError, match=r"\[0, 255\]"):
        run_reference(ir, bits, np.full((1, c, h, w), -1, np.int32))
    with pytest.raises(IRError, match="integers"):
        run_reference(ir, bits, np.zeros((1, c, h, w), np.float32))


def test_npz_is_a_zip_with_only_plain_arrays(ir, tmp_path):
    p = tmp_path / "m.npz"
    save_ir(ir, p)
    with zipfile.ZipFile(p) as z:
        names = z.namelist()
    assert "__manifest__.npy" in names and all(n.endswith(".npy") for n in names)


def test_executor_rejects_bad_configs_and_inputs(ir):
    from hwsim.executor import execute
    bits = random_bits(ir, np.random.default_rng(3))
    c, h, w = ir.input_shape
    x = np.zeros((1, c, h, w), np.uint8)
    with pytest.raises(IRError, match="'ghost'"):
        execute(ir, {**bits, "ghost": (2, 2)}, x)
    with pytest.raises(IRError, match="shape"):
        execute(ir, bits, np.zeros((1, c + 1, h, w), np.uint8))
    with pytest.raises(IRError, match=r"\[0, 255\]"):
        execute(ir, bits, np.full((1, c, h, w), 300, np.int32))
    with pytest.raises(IRError, match="acc_bits"):
        execute(ir, bits, x, acc_bits=40)
    with pytest.raises(IRError, match="overflow"):
        execute(ir, bits, x, overflow="wrap")


def test_validator_checks_the_producer_width_variable(ir):
    op = next(o for o in ir.ops if o.name == "c2")
    saved = op.attrs["prev_bits"]
    try:
        for bad, msg in ((None, r"c2.*missing attribute.*prev_bits"), (ActOf("c1"), "prev_bits must be"),
                         (WeightOf("nope"), "no layer 'nope'")):
            if bad is None:
                del op.attrs["prev_bits"]
            else:
                op.attrs["prev_bits"] = bad
            with pytest.raises(IRError, match=msg):
                validate(ir)
        op.attrs["prev_bits"] = WeightOf("fc")   # a real layer with other choices (2, 8 vs c1's 2, 5, 6): not covered
        with pytest.raises(IRError, match=r"c2.*no requant entry for \(w, a, out, prev\)"):
            validate(ir)
    finally:
        op.attrs["prev_bits"] = saved
    validate(ir)
    ir.tensors["t1"], saved_t = WeightOf("c1"), ir.tensors["t1"]
    try:
        with pytest.raises(IRError, match="name a weight width"):
            validate(ir)
    finally:
        ir.tensors["t1"] = saved_t


def test_conv_key_takes_prev_from_the_producer_weight_width(ir):
    bits = uniform_bits(ir, ir.candidate_bits[0])
    c0, c1 = ir.table["c0"], ir.table["c1"]
    bits["c0"] = (c0.w_choices[-1], bits["c0"][1])
    op = next(o for o in ir.ops if o.name == "c1")
    assert op.attrs["prev_bits"] == WeightOf("c0")
    assert ir.conv_key(op, bits) == (bits["c1"][0], bits["c1"][1], bits["c2"][1], c0.w_choices[-1])
    stem = next(o for o in ir.ops if o.name == "c0")
    assert ir.conv_key(stem, bits)[3] == 8


def test_ir_module_imports_neither_its_io_nor_its_validator():
    """The arrow points one way: ir_io and ir_validate import ir (anywhere in ir.py, lazily or not, is a cycle)."""
    import ast
    from pathlib import Path
    import hwsim.ir
    tree = ast.parse(Path(hwsim.ir.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in names if m.split(".")[-1] in ("ir_io", "ir_validate", "ops", "executor")}
