"""The residual add with the shortcut's rescale in the same pass (kernels.add_rescaled) against tests/naive.py,
and whole random IRs executed with the rescale deferred to its add against the torch int64 reference."""
from __future__ import annotations

import numpy as np
import pytest

from hwsim import kernels as K
from hwsim.executor import execute
from hwsim.ops.rescale import deferrable
from quantnet.intref import run_reference
from tests import naive
from tests.irgen import GenParams, random_bits, random_input, random_ir

RNG = np.random.default_rng(1920)


@pytest.mark.parametrize("f", [0, 1, 7, 24])
@pytest.mark.parametrize("m0,shift", [(2**30, 1), (-(2**31 - 1), 31), (2**31 - 1, 62), (1_500_000_000, 33), (0, 5)])
def test_add_rescaled_matches_naive_at_boundaries(f, m0, shift):
    edges = [v for k in range(0, 31) for v in (2**k - 2, 2**k - 1, 2**k, 2**k + 1)]
    vals = np.array(sorted({e * s for e in edges for s in (1, -1)} | {2**31 - 1, -(2**31)}), np.int64)
    a = RNG.choice(vals, (3, 4, 40)).astype(np.int32)
    codes = RNG.integers(0, 256, a.shape).astype(np.uint8)
    codes[0, 0, :2] = [0, 255]
    for lo, hi in ((0, 15), (0, 255), (-(2**31), 2**31 - 1)):
        out, (smin, smax), (cmin, cmax) = K.add_rescaled(a, codes, m0, shift, f, lo, hi, narrow=True)
        resc = np.vectorize(lambda c: naive.rq(int(c), m0, shift))(codes).astype(np.int64)
        np.testing.assert_array_equal(out, naive.add_round_clamp(a, resc, f, lo, hi))
        s = a.astype(np.int64) + resc
        assert (smin, smax, cmin, cmax) == (int(s.min()), int(s.max()), 0, 255)
        assert out.dtype == (np.uint8 if hi <= 255 else np.int32)


def test_add_rescaled_refuses_codes_that_could_wrap():
    a = np.zeros(3, np.int32)
    with pytest.raises(K.KernelInputError, match="codes hold values"):
        K.add_rescaled(a, np.array([0, 1, 2**31], np.int64), 2**30, 4, 0, 0, 15)
    with pytest.raises(K.KernelInputError, match="codes hold values"):
        K.add_rescaled(a, np.array([0, -1, 2], np.int32), 2**30, 4, 0, 0, 15)


@pytest.mark.parametrize("seed", range(8))
def test_deferred_rescale_networks_match_the_reference(seed):
    """Untraced runs defer every shortcut rescale to its add; logits equal the torch int64 reference's and
    those of a traced run (which stores every tensor, rescales included)."""
    ir = random_ir(GenParams(seed=seed, identity=True, channels=1 + seed % 4, size=3 + seed % 4, width=4 + seed % 3,
                             weights="max" if seed == 3 else "random"))
    assert deferrable(ir), "the generated IR has a shortcut rescale to defer"
    rng = np.random.default_rng(seed)
    bits, x = random_bits(ir, rng), random_input(ir, rng, 3)
    ref, _ = run_reference(ir, bits, x)
    np.testing.assert_array_equal(execute(ir, bits, x).logits, ref)
    np.testing.assert_array_equal(execute(ir, bits, x, trace=True).logits, ref)


@pytest.mark.parametrize("trace", [False, True])
def test_a_rescaled_shortcut_beyond_int32_names_its_rescale(trace):
    """The rescaled shortcut is an int32 intermediate whether it is stored or applied inside the add: a
    rescale entry that multiplies a code past int32 raises AccumulatorOverflow naming the rescale op."""
    from hwsim.executor import AccumulatorOverflow
    from hwsim.ir import Requant
    ir = random_ir(GenParams(seed=5, identity=True, channels=2))
    rng = np.random.default_rng(5)
    bits, x = random_bits(ir, rng), random_input(ir, rng, 2, "max")
    op = next(o for o in ir.ops if o.kind == "rescale")
    for key in op.requant:       # code * (2^31 - 1) / 2: beyond int32 for every code >= 2
        op.requant[key] = Requant(np.array([2**31 - 1], np.int32), np.array([1], np.int32), np.zeros(1, np.int64))
    codes = run_reference(ir, bits, x, trace=True)[1][op.inputs[0]]
    assert codes.max() >= 2
    with pytest.raises(AccumulatorOverflow, match=f"{op.name} \\(rescaled shortcut\\)"):
        execute(ir, bits, x, trace=trace)
