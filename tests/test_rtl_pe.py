"""rtl/pe_*.v (a bit-serial activation lane, a bit-serial-both lane, a Bit Fusion brick unit) against the
simulator: dot products of the im2col rows of sampled outputs of every conv and linear op of vector sets
(the expected accumulators are the vectors' `acc`), boundary rows at several widths, and a wrong vector."""
import itertools

import numpy as np
import pytest

from hwsim.vectors import read_vectors
from rtl_sim import compile_tb, hexfile, needs_iverilog, run_tb
from test_rtl_requant import vector_sets  # noqa: F401  (the vector directories fixture)

pytestmark = needs_iverilog
PES = ["pe_bit_serial_act", "pe_bit_serial_both", "pe_bit_fusion"]


@pytest.fixture(scope="module")
def pe_exes(tmp_path_factory):
    d = tmp_path_factory.mktemp("pe")
    return {pe: compile_tb(d, "tb_pe", [f"{pe}.v"], {"PE": pe}) for pe in PES}


def dot_rows(op, arrays, rng, rows: int):
    """(activation rows, weight rows, accumulators) of `rows` sampled outputs of a conv or linear op."""
    x, w, acc = arrays["x"], arrays["w"], arrays["acc"]
    if op["kind"] == "linear":
        n, k = rng.integers(0, acc.shape[0], rows), rng.integers(0, acc.shape[1], rows)
        return x[n], w[k], acc[n, k]
    a = op["attrs"]
    s, p, g = a["stride"], a["padding"], a["groups"]
    o_n, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    idx = [tuple(int(rng.integers(0, d)) for d in acc.shape) for _ in range(rows)]
    xs = [xp[n, (o // (o_n // g)) * cg:(o // (o_n // g) + 1) * cg, yy * s:yy * s + kh, xx * s:xx * s + kw].ravel()
          for n, o, yy, xx in idx]
    return np.array(xs), np.array([w[o].ravel() for _, o, _, _ in idx]), np.array([acc[i] for i in idx])


def run_rows(exe, d, xs, ws, accs, a_bits, w_bits):
    d.mkdir(parents=True, exist_ok=True)
    return run_tb(exe, a=hexfile(d / "a.hex", xs, 8, False), w=hexfile(d / "w.hex", ws, 8, True),
                  acc=hexfile(d / "acc.hex", accs, 32, True), rows=len(accs), k=xs.shape[1], a_bits=a_bits,
                  w_bits=w_bits)


@pytest.mark.parametrize("pe", PES)
def test_pe_matches_the_simulators_accumulators(pe, pe_exes, vector_sets, tmp_path):  # noqa: F811
    rng = np.random.default_rng(0)
    widths = set()
    for i, d in enumerate(vector_sets[::2]):
        man, arrays = read_vectors(d)
        for op in (o for o in man["ops"] if o["kind"] in ("conv", "linear")):
            xs, ws, accs = dot_rows(op, arrays[op["name"]], rng, 12)
            a = op["attrs"]
            ok, bad, out = run_rows(pe_exes[pe], tmp_path / f"{i}_{op['name']}", xs, ws, accs, a["a_bits"], a["w_bits"])
            assert bad == 0 and ok == 12, f"{d.name} {op['name']} (w{a['w_bits']}a{a['a_bits']}):\n{out}"
            widths.add((a["w_bits"], a["a_bits"]))
    assert len(widths) >= 4


def boundary_rows(a_bits, w_bits, k=9):
    amax, wmax = 2**a_bits - 1, 2 ** (w_bits - 1) - 1
    rng = np.random.default_rng(a_bits * 10 + w_bits)
    xs = [np.full(k, amax), np.full(k, amax), np.full(k, amax), np.zeros(k, int), np.arange(k) % (amax + 1),
          rng.integers(0, amax + 1, k)]
    ws = [np.full(k, wmax), np.full(k, -wmax), np.full(k, -wmax - 1), np.full(k, -wmax), np.where(np.arange(k) % 2, wmax, -wmax),
          rng.integers(-wmax, wmax + 1, k)]
    xs, ws = np.array(xs, np.int64), np.array(ws, np.int64)
    return xs, ws, (xs * ws).sum(1)    # the obvious dot product


@pytest.mark.parametrize("pe", PES)
def test_pe_on_boundary_values(pe, pe_exes, tmp_path):
    for a_bits, w_bits in itertools.product([2, 3, 8], [2, 5, 8]):
        xs, ws, accs = boundary_rows(a_bits, w_bits)
        assert accs.min() < 0 and accs.max() == 9 * (2**a_bits - 1) * (2 ** (w_bits - 1) - 1)
        ok, bad, out = run_rows(pe_exes[pe], tmp_path / f"a{a_bits}w{w_bits}", xs, ws, accs, a_bits, w_bits)
        assert bad == 0, f"w{w_bits}a{a_bits}:\n{out}"


@pytest.mark.parametrize("pe", PES)
def test_a_wrong_vector_fails(pe, pe_exes, tmp_path):
    xs, ws, accs = boundary_rows(4, 4)
    accs[2] -= 1
    ok, bad, out = run_rows(pe_exes[pe], tmp_path, xs, ws, accs, 4, 4)
    assert bad == 1 and "MISMATCH row=2" in out
