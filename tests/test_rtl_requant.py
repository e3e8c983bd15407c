"""rtl/requant_unit.v and rtl/residual_add.v against the simulator: every value of every conv, rescale,
average-pool and add op of vector sets written by hwsim.vectors (random IRs at several configs), boundary
vectors (max codes, negative accumulators, shift 1 and 62, saturation at both ends), and one deliberately
wrong vector that must fail."""
import itertools

import numpy as np
import pytest

from hwsim import kernels as K
from hwsim.vectors import read_vectors, write_vectors
from irgen import GenParams, random_bits, random_input, random_ir, uniform_bits
from rtl_sim import compile_tb, hexfile, needs_iverilog, run_tb

pytestmark = needs_iverilog


@pytest.fixture(scope="module")
def rq_exe(tmp_path_factory):
    return compile_tb(tmp_path_factory.mktemp("rq"), "tb_requant", ["requant_unit.v"])


@pytest.fixture(scope="module")
def add_exe(tmp_path_factory):
    return compile_tb(tmp_path_factory.mktemp("add"), "tb_residual_add", ["residual_add.v"])


@pytest.fixture(scope="module")
def vector_sets(tmp_path_factory):
    """Vector directories: three random IRs, each at uniform 8 / 2 bits and one random config."""
    out = []
    for seed, identity in [(21, True), (22, False), (23, True)]:
        ir = random_ir(GenParams(seed, channels=2, size=6, width=5, identity=identity, maxpool=seed == 23))
        rng = np.random.default_rng(seed)
        x = np.concatenate([random_input(ir, rng, 2), random_input(ir, rng, 1, "max")])
        for i, cfg in enumerate([uniform_bits(ir, 8), uniform_bits(ir, 2), random_bits(ir, rng)]):
            d = tmp_path_factory.mktemp(f"vec{seed}_{i}")
            write_vectors(ir, cfg, x, d)
            out.append(d)
    return out


def rq_args(d, op, zeros):
    """tb_requant plusargs for one op of a vector directory (conv, rescale or avgpool)."""
    f = {k: d / v["path"] for k, v in op["files"].items()}
    a = op["attrs"]
    if op["kind"] == "conv":
        n, c, h, w = op["files"]["acc"]["shape"]
        return dict(acc=f["acc"], bias=f["bias"], m0=f["m0"], shift=f["shift"], frac=f["frac"], y=f["y"],
                    count=n * c * h * w, channels=c, spatial=h * w, clamp=int(a["clamp"]), out_bits=a["out_bits"])
    src = "x" if op["kind"] == "rescale" else "acc"
    count = int(np.prod(op["files"][src]["shape"]))
    return dict(acc=f[src], acc8=int(op["kind"] == "rescale"), bias=zeros["bias"], frac=zeros["frac"], m0=f["m0"],
                shift=f["shift"], y=f["y"], count=count, channels=1, spatial=count,
                clamp=int(op["kind"] == "avgpool"), out_bits=a.get("out_bits", 8) if op["kind"] == "avgpool" else 8)


def add_args(d, op):
    """tb_residual_add plusargs for one add op of a vector directory."""
    f = {k: d / v["path"] for k, v in op["files"].items()}
    return dict(a=f["a"], b=f["b"], y=f["y"], count=int(np.prod(op["files"]["y"]["shape"])),
                frac_bits=op["attrs"]["frac_bits"], out_bits=op["attrs"]["out_bits"])


@pytest.fixture(scope="module")
def zeros(tmp_path_factory):
    d = tmp_path_factory.mktemp("zeros")
    return {"bias": hexfile(d / "bias.hex", [0], 64, True), "frac": hexfile(d / "frac.hex", [0], 32, True)}


def test_requant_unit_matches_every_vector(rq_exe, vector_sets, zeros):
    kinds = set()
    total = 0
    for d in vector_sets:
        man, _ = read_vectors(d)
        for op in man["ops"]:
            if op["kind"] not in ("conv", "rescale", "avgpool"):
                continue
            ok, bad, out = run_tb(rq_exe, **rq_args(d, op, zeros))
            assert bad == 0 and ok > 0, f"{d.name} {op['name']}:\n{out}"
            kinds.add(op["kind"])
            total += ok
    assert kinds == {"conv", "rescale", "avgpool"} and total > 1000


def test_residual_add_matches_every_vector(add_exe, vector_sets):
    n = 0
    for d in vector_sets:
        man, _ = read_vectors(d)
        for op in (o for o in man["ops"] if o["kind"] == "add"):
            ok, bad, out = run_tb(add_exe, **add_args(d, op))
            assert bad == 0 and ok > 0, out
            n += 1
    assert n == len(vector_sets)


def boundary_requant(d, clamp: bool, out_bits: int):
    """Boundary vectors in the vector layout; the expected values come from the simulator's kernel."""
    rng = np.random.default_rng(out_bits)
    tables = []
    for m0, shift, frac in itertools.product([2**31 - 1, -(2**31 - 1), 2**30, -(2**30), 0, 1518500250],
                                             [1, 2, 31, 32, 61, 62], [0, 2**30, -(2**30), 12345]):
        tables.append((m0, shift, frac, int(rng.integers(-(2**20), 2**20))))
    accs = np.array([-(2**31), -(2**31) + 1, -(2**20), -1, 0, 1, 2, 255, 2**20, 2**31 - 1 - 2**20], np.int64)
    m0, shift, frac, bias = (np.array(v, np.int64) for v in zip(*tables))
    if not clamp:   # unclamped results must fit int32: keep the shifts that guarantee it
        keep = shift >= 34
        m0, shift, frac, bias = m0[keep], shift[keep], frac[keep], bias[keep]
    c, s = len(m0), len(accs)
    acc = np.broadcast_to(accs, (1, c, s)).copy()
    acc = np.clip(acc, -(2**31) - bias[None, :, None], 2**31 - 1 - bias[None, :, None])   # acc + B fits int32
    y = K.requantize(acc, bias, m0, shift, 0, 2**out_bits - 1, clamp, frac)
    files = dict(acc=hexfile(d / "acc.hex", acc, 32, True), bias=hexfile(d / "bias.hex", bias, 64, True),
                 m0=hexfile(d / "m0.hex", m0, 32, True), shift=hexfile(d / "shift.hex", shift, 8, False),
                 frac=hexfile(d / "frac.hex", frac, 32, True), y=hexfile(d / "y.hex", y, 32, True))
    return y, dict(files, count=acc.size, channels=c, spatial=s, clamp=int(clamp), out_bits=out_bits)


@pytest.mark.parametrize("clamp,out_bits", [(True, 2), (True, 8), (False, 8)])
def test_requant_unit_on_boundary_values(rq_exe, tmp_path, clamp, out_bits):
    y, args = boundary_requant(tmp_path, clamp, out_bits)
    if clamp:   # the sweep saturates at both ends and also lands inside
        assert (y == 0).any() and (y == 2**out_bits - 1).any() and ((y > 0) & (y < 2**out_bits - 1)).any()
    else:
        assert (y < 0).any() and (y > 0).any()
    ok, bad, out = run_tb(rq_exe, **args)
    assert bad == 0 and ok == y.size, out


def test_residual_add_on_boundary_values(add_exe, tmp_path):
    v = np.array([-(2**30), -(2**30) + 1, -4097, -2048, -2047, -1, 0, 1, 2047, 2048, 4095, 4096, 2**30 - 1], np.int64)
    a, b = (m.ravel() for m in np.meshgrid(v, v))
    for f, ob in [(0, 8), (1, 2), (12, 2), (12, 8), (24, 4)]:
        s = K.add_clamp(a, b, -(2**31), 2**31 - 1)
        y = s if f == 0 else K.requantize(s.reshape(1, 1, -1), None, 2**30, f + 30, 0, 2**ob - 1, True).ravel()
        y = np.clip(y, 0, 2**ob - 1)
        d = tmp_path / f"f{f}_b{ob}"
        d.mkdir()
        ok, bad, out = run_tb(add_exe, a=hexfile(d / "a.hex", a, 32, True), b=hexfile(d / "b.hex", b, 32, True),
                              y=hexfile(d / "y.hex", y, 32, True), count=a.size, frac_bits=f, out_bits=ob)
        assert bad == 0 and ok == a.size, out


def test_a_wrong_vector_fails(rq_exe, vector_sets, zeros, tmp_path):
    d = vector_sets[0]
    man, arrays = read_vectors(d)
    op = next(o for o in man["ops"] if o["kind"] == "conv")
    args = rq_args(d, op, zeros)
    y = arrays[op["name"]]["y"].ravel().copy()
    y[len(y) // 2] += 1 if y[len(y) // 2] == 0 else -1
    f = op["files"]["y"]
    args["y"] = hexfile(tmp_path / "y.hex", y, f["width"], f["signed"])
    ok, bad, out = run_tb(rq_exe, **args)
    assert bad == 1 and "MISMATCH" in out


DIGITS = __import__("pathlib").Path("/work/runs/meta/checkpoint.pt")


@pytest.mark.slow
@pytest.mark.skipif(not DIGITS.is_file(), reason=f"needs the trained digits network {DIGITS}")
@pytest.mark.parametrize("spec", ["w2a2", "w4a4", "random:1:7"])
def test_rtl_on_the_digits_network_vectors(rq_exe, add_exe, zeros, tmp_path, spec):
    from quantnet.handoff import write_vectors_dir
    write_vectors_dir(DIGITS, spec, 4, tmp_path)
    man, _ = read_vectors(tmp_path)
    for op in man["ops"]:
        if op["kind"] in ("conv", "rescale", "avgpool"):
            ok, bad, out = run_tb(rq_exe, **rq_args(tmp_path, op, zeros))
        elif op["kind"] == "add":
            ok, bad, out = run_tb(add_exe, **add_args(tmp_path, op))
        else:
            continue
        assert bad == 0 and ok > 0, f"{op['name']}:\n{out}"
