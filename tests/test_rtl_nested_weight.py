"""rtl/nested_weight.v against the brute-force rule at every code of every width pair, against the weight
vectors a nested IR writes (hwsim.vectors: `w` is the code the config reads), and one wrong vector that
must fail."""
import itertools

import numpy as np
import pytest

from hwsim.vectors import read_vectors, write_vectors
from irgen import random_bits, random_input
from naive import nested_code
from rtl_sim import compile_tb, hexfile, needs_iverilog, run_tb
from test_nested_codes import nested_ir

pytestmark = needs_iverilog


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    return compile_tb(tmp_path_factory.mktemp("nw"), "tb_nested_weight", ["nested_weight.v"])


def _run(exe, d, q, want, big, small):
    return run_tb(exe, q=hexfile(d / "q.hex", q, 8, True), w=hexfile(d / "w.hex", want, 8, True), count=len(q),
                  from_bits=big, to_bits=small)


def test_every_code_of_every_width_pair(exe, tmp_path):
    for big, small in itertools.combinations_with_replacement(range(2, 9), 2):
        big, small = max(big, small), min(big, small)
        q = np.arange(-(2 ** (big - 1) - 1), 2 ** (big - 1), dtype=np.int64)
        want = [nested_code(int(v), big, small) for v in q]
        ok, bad, out = _run(exe, tmp_path, q, want, big, small)
        assert bad == 0 and ok == len(q), f"{big} -> {small}:\n{out}"


def test_weights_of_nested_vector_sets(exe, tmp_path):
    checked = 0
    for seed, narrow in itertools.product((4, 5, 6), (True, False)):
        ir = nested_ir(seed)
        rng = np.random.default_rng(seed)
        cfg = ir.table.tie({l.name: (min(l.w_choices), l.a_choices[0]) for l in ir.table}) if narrow else random_bits(ir, rng)
        d = tmp_path / f"v{seed}{narrow}"
        write_vectors(ir, cfg, random_input(ir, rng, 1), d)
        _, arrays = read_vectors(d)
        for op in ir.ops:
            if op.weights:
                big = max(op.weights)
                small = cfg[op.attrs["layer"]][0]
                ok, bad, out = _run(exe, tmp_path, op.weights[big].ravel(), arrays[op.name]["w"].ravel(), big, small)
                assert bad == 0 and ok == op.weights[big].size, out
                checked += big != small
    assert checked


def test_a_wrong_vector_fails(exe, tmp_path):
    q = np.array([1, -1, 7], np.int64)
    ok, bad, _ = _run(exe, tmp_path, q, [1, 0, 3], 4, 3)   # half up at the tie -1/2 would give 0; the rule gives -1
    assert (ok, bad) == (2, 1)
