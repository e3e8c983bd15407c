"""Bit-exactness of the two integer paths (torch int64 reference vs numba simulator) on random IRs and
random small networks, plus requantisation boundary sweeps against plain Python ints."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim import kernels as K
from hwsim.executor import AccumulatorOverflow, execute
from hwsim.ir import Requant
from quantnet.export import export_model
from quantnet.intref import rq, run_reference
from quantnet.models import build_model
from tests.irgen import GenParams, random_bits, random_input, random_ir, uniform_bits

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: thread start-up would cost more than the work (10 ms per parallel numba call on 2 busy
    cores), so both paths run single-threaded here."""
    import numba
    nb, tt = numba.get_num_threads(), torch.get_num_threads()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    numba.set_num_threads(nb)
    torch.set_num_threads(tt)


def fast(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
                    database=None)


def _assert_same(ir, bits, x):
    ref_logits, ref = run_reference(ir, bits, x, trace=True)
    sim = execute(ir, bits, x, trace=True)
    for op in ir.ops:
        a, b = ref[op.output], sim.codes[op.output]
        assert a.shape == b.shape, op.name
        diff = np.count_nonzero(a != b)
        assert diff == 0, f"{op.name}: {diff} values differ"
    assert np.array_equal(ref_logits, sim.logits)
    return sim


@st.composite
def gen_params(draw):
    k = draw(st.sampled_from([1, 2, 3]))
    identity = draw(st.booleans())
    return GenParams(seed=draw(st.integers(0, 2**31)), channels=draw(st.integers(1, 4)),
                     size=draw(st.integers(k, 7)), width=draw(st.integers(k, 7)), stem_kernel=k,
                     stem_stride=draw(st.integers(1, 2)), stem_padding=draw(st.integers(0, k // 2 + (k > 1))),
                     maxpool=draw(st.booleans()), block_stride=draw(st.integers(1, 2)), identity=identity,
                     groups=draw(st.sampled_from(["one", "depthwise", "some"])),
                     weights=draw(st.sampled_from(["random"] * 5 + ["max", "min", "zero"])),
                     classes=draw(st.integers(1, 4)))


@fast(450)
@given(p=gen_params(), inputs=st.sampled_from(["random", "random", "zero", "max"]), n=st.integers(1, 3))
def test_random_irs_bit_exact(p, inputs, n):
    ir = random_ir(p)
    rng = np.random.default_rng(p.seed + 1)
    _assert_same(ir, random_bits(ir, rng), random_input(ir, rng, n, inputs))


def _randomise(model, rng: np.random.Generator) -> None:
    """Random steps and BN statistics, including negative and zero gamma and tiny variances."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".steps." in name:
                p.copy_(torch.from_numpy(np.exp(rng.uniform(-5, 0, p.shape))).float())
            elif name.endswith(".weight") and ".affine." in name:
                g = rng.normal(1.0, 1.0, p.shape)
                g[rng.random(p.shape) < 0.1] = 0.0
                p.copy_(torch.from_numpy(g).float())
            elif name.endswith(".bias"):
                p.copy_(torch.from_numpy(rng.normal(0, 1, p.shape)).float())
            else:
                p.copy_(torch.from_numpy(rng.normal(0, 0.5, p.shape)).float())
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.from_numpy(rng.normal(0, 1, b.shape)).float())
            elif name.endswith("running_var"):
                b.copy_(torch.from_numpy(np.exp(rng.uniform(-12, 2, b.shape))).float())


def _configs(ir, rng, n):
    """Uniform at the lowest and highest candidate, then n random per-layer configs (from the IR's table)."""
    return [uniform_bits(ir, ir.candidate_bits[0]), uniform_bits(ir, ir.candidate_bits[-1])] + \
        [random_bits(ir, rng) for _ in range(n)]


@fast(20)
@given(seed=st.integers(0, 2**31), width=st.integers(1, 3), size=st.integers(3, 6), ch=st.integers(1, 2),
       cands=st.sets(st.integers(2, 8), min_size=1, max_size=3), bn=st.sampled_from(["transitional", "switchable", "shared"]),
       edge=st.sampled_from([8, None]))
def test_random_networks_bit_exact(seed, width, size, ch, cands, bn, edge):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed % 2**31)
    model = build_model("digits_resnet", candidate_bits=sorted(cands), bn_mode=bn, first_last_bits=edge,
                        width=width, input_size=size, in_channels=ch, num_classes=3)
    _randomise(model, rng)
    ir = export_model(model)
    x = rng.integers(0, 256, size=(2, ch, size, size)).astype(np.uint8)
    for bits in _configs(ir, rng, 3):
        _assert_same(ir, bits, x)


@pytest.mark.parametrize("name,kw", [("resnet18", dict(width=2, input_size=12, num_classes=3, in_channels=1)),
                                     ("resnet20", dict(width=2, input_size=6, num_classes=2))])
def test_deeper_networks_with_maxpool_and_projections_bit_exact(name, kw):
    rng = np.random.default_rng(5)
    model = build_model(name, candidate_bits=(2, 4), **kw)
    _randomise(model, rng)
    ir = export_model(model)
    assert any(op.kind == "maxpool" for op in ir.ops) == (name == "resnet18")
    x = rng.integers(0, 256, size=(2,) + ir.input_shape).astype(np.uint8)
    for bits in _configs(ir, rng, 2):
        _assert_same(ir, bits, x)


# ---- requantisation boundary sweeps ------------------------------------------------------------------
def _sweep_values() -> list[int]:
    vals = {0, 1, -1, 2**31 - 1, -(2**31)}
    for k in range(32):
        for sign in (1, -1):
            for d in range(-2, 3):
                v = sign * 2**k + d
                if -(2**31) <= v <= 2**31 - 1:
                    vals.add(v)
    return sorted(vals)


def _py_rq(x: int, m0: int, shift: int, frac: int = 0) -> int:
    """Round half up of (x * m0 + frac) / 2^shift in unbounded Python ints (// floors, like >>)."""
    return (x * m0 + 2 ** (shift - 1) + frac) // 2**shift


MULTIPLIERS = [(0, 31), (2**30, 1), (2**31 - 1, 1), (-(2**30), 2), (-(2**31 - 1), 31), (2**30, 31), (1518500250, 32),
               (-1518500250, 45), (2**31 - 1, 62), (2**30, 62), (1234567890, 61)]


@pytest.mark.parametrize("m0,shift", MULTIPLIERS)
def test_requant_boundary_sweep_against_python_ints(m0, shift):
    xs = _sweep_values()
    want = np.array([_py_rq(x, m0, shift) for x in xs], dtype=object)
    t = rq(torch.tensor(xs, dtype=torch.int64), torch.tensor(m0), torch.tensor(shift)).numpy()
    assert [int(v) for v in t] == list(want)
    # the numba kernel: clamped to int32 (its output type) so every value is representable
    acc = np.array(xs, np.int64).reshape(1, 1, -1)
    got = K.requantize(acc, None, m0, shift, -(2**31), 2**31 - 1, True).ravel()
    assert [int(v) for v in got] == [max(-(2**31), min(2**31 - 1, v)) for v in want]


@pytest.mark.parametrize("m0,shift", MULTIPLIERS)
@pytest.mark.parametrize("frac", [1, -1, 2**30, -(2**30), 2**29 + 7])
def test_requant_with_frac_boundary_sweep(m0, shift, frac):
    xs = _sweep_values()
    want = [_py_rq(x, m0, shift, frac) for x in xs]
    t = rq(torch.tensor(xs, dtype=torch.int64), torch.tensor(m0), torch.tensor(shift), frac).numpy()
    assert [int(v) for v in t] == want
    got = K.requantize(np.array(xs, np.int64).reshape(1, 1, -1), None, np.array([m0]), np.array([shift]), -(2**31),
                       2**31 - 1, True, np.array([frac])).ravel()
    assert [int(v) for v in got] == [max(-(2**31), min(2**31 - 1, v)) for v in want]


def test_every_small_code_requantises_exactly():
    """Exhaustive over 2..4-bit code products: every acc a 3x3 conv of 4-bit codes can produce."""
    acc = np.arange(-9 * 15 * 7, 9 * 15 * 7 + 1, dtype=np.int64)
    for m0, shift in MULTIPLIERS[:6]:
        for frac in (0, 12345, -(2**30)):
            want = [_py_rq(int(a), m0, shift, frac) for a in acc]
            t = rq(torch.from_numpy(acc), torch.tensor(m0), torch.tensor(shift), frac).numpy()
            assert t.tolist() == want


# ---- the executor's own duties -----------------------------------------------------------------------
def test_overflow_is_raised_with_layer_and_value_or_reported():
    ir = random_ir(GenParams(seed=11, weights="max", channels=3, size=5, width=5))
    bits = uniform_bits(ir, 8)
    x = np.full((1,) + ir.input_shape, 255, np.uint8)
    with pytest.raises(AccumulatorOverflow, match=r"layer 'c0': value -?\d+ does not fit a signed 12-bit"):
        execute(ir, bits, x, acc_bits=12)
    res = execute(ir, bits, x, acc_bits=12, overflow="report")
    assert res.overflows and res.overflows[0].layer == "c0" and res.overflows[0].acc_bits == 12
    lo, hi = res.acc_ranges["c0"]
    assert max(-lo, hi) > 2**11 - 1
    # values are still exact: same as a run wide enough not to overflow
    assert np.array_equal(res.logits, execute(ir, bits, x).logits)


def test_conv_impl_hook_is_used_for_every_conv():
    ir = random_ir(GenParams(seed=4, identity=False))
    bits = random_bits(ir, np.random.default_rng(0))
    x = random_input(ir, np.random.default_rng(0), 2)
    seen = []

    def impl(x, w, s, p, g, layer, wb, ab):
        seen.append((layer, wb, ab))
        return K.conv2d_acc(x, w, s, p, g)
    assert np.array_equal(execute(ir, bits, x, conv_impl=impl).logits, execute(ir, bits, x).logits)
    assert [s[0] for s in seen] == ["c0", "c1", "c2", "sc"]
    assert all((wb, ab) == bits[layer] for layer, wb, ab in seen)


def test_generator_exercises_varied_codes():
    """Guard the generator itself: most random IRs must produce non-constant codes, not all-saturated ones."""
    varied = 0
    for s in range(40):
        ir = random_ir(GenParams(seed=s, identity=s % 2 == 0))
        rng = np.random.default_rng(s)
        _, codes = run_reference(ir, random_bits(ir, rng), random_input(ir, rng, 2), trace=True)
        varied += len(np.unique(codes["t1"])) > 1
    assert varied >= 20


def test_values_int32_cannot_hold_raise_even_when_reporting():
    ir = random_ir(GenParams(seed=11, weights="max", channels=3, size=5, width=5))
    bits = uniform_bits(ir, 8)
    op = ir.ops[0]
    key = (bits["c0"][0], 8, bits["c1"][1], 8)   # (w, a, out, prev = the 8-bit input)
    r = op.requant[key]
    op.requant[key] = Requant(r.m0, r.shift, np.full_like(r.bias, 2**31 - 1), r.frac)
    x = np.full((1,) + ir.input_shape, 255, np.uint8)
    with pytest.raises(AccumulatorOverflow, match="layer 'c0'"):
        execute(ir, bits, x, overflow="report")
