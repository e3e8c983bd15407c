"""Export: dyadic multipliers, the average-pool multiplier, BN folding (zero and negative gamma), bias checks,
and the worked example of docs/integer_contract.md recomputed with plain Python ints."""
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from hwsim.bits import WeightOf
from quantnet.export import ADD_FRAC_BITS, ExportError, _Exporter, average_multiplier, dyadic, export_model
from quantnet.intref import rq
from quantnet.models import build_model
from quantnet.tbn import FoldedBN

DOC = Path(__file__).resolve().parents[1] / "docs" / "integer_contract.md"


# ---- dyadic multipliers --------------------------------------------------------------------------------
@pytest.mark.parametrize("m", [1.0, 0.5, 0.75, 1 / 3, 1e-3, 2.0**-31, 3e-9, 12345.678, 2.0**29, -0.3, -7e-6,
                               0.99999999999, 0.49999999999999])
def test_dyadic_is_within_half_an_ulp_of_31_bits(m):
    m0, shift = dyadic(m)
    assert 2**30 <= abs(m0) < 2**31 and 1 <= shift <= 62
    assert (m0 > 0) == (m > 0)
    err = abs(Fraction(m0, 2**shift) - Fraction(m))
    assert err <= Fraction(abs(m)) / 2**30  # mantissa rounded at 31 bits: relative error <= 2^-31 (+ slack)


def test_dyadic_zero_tiny_and_huge():
    assert dyadic(0.0)[0] == 0
    m0, shift = dyadic(2.0**-40)       # below 2^-32: every int32 x gives |x*M| < 1/2 -> 0
    assert m0 == 0 and 1 <= shift <= 62
    with pytest.raises(ExportError, match="too large"):
        dyadic(2.0**31)
    with pytest.raises(ExportError, match="not finite"):
        dyadic(float("nan"))


def test_average_multiplier_rounds_every_sum_half_up():
    for count in list(range(1, 65)) + [49, 196]:
        m0, shift = average_multiplier(count)
        assert 2**30 <= m0 < 2**31
        s = np.arange(0, 255 * count + 1, dtype=np.int64)
        got = (s * m0 + (1 << (shift - 1))) >> shift
        want = (2 * s + count) // (2 * count)        # floor(s/count + 1/2) in integers
        assert np.array_equal(got, want), count


# ---- BN folding on a real model -----------------------------------------------------------------------
def _calibrated(seed=0, **kw):
    torch.manual_seed(seed)
    model = build_model("digits_resnet", width=4, **kw)
    from hwsim.bits import BitConfig
    x = torch.randint(0, 256, (32, 1, 8, 8), dtype=torch.uint8)
    model.train()
    with torch.no_grad():
        for b in model.candidate_bits:
            model.configure(BitConfig.uniform(model.spec, b))
            model(x)
    model.eval()
    return model


def test_zero_and_negative_gamma():
    model = _calibrated()
    bn = model.layer1[0].bn1.affine["2_3"]     # (w of conv1, conv2's a_bits)
    with torch.no_grad():
        bn.weight[0] = 0.0
        bn.weight[1] = -abs(float(bn.weight[1])) - 0.1
    ir = export_model(model)
    op = next(o for o in ir.ops if o.name == "layer1.0.conv1")
    r = op.requant[(2, 2, 3, 8)]         # (w of conv1, its a_bits, conv2's a_bits, the stem's w)
    assert r.m0[0] == 0 and r.bias[0] == 0 and r.frac[0] == 0
    assert r.m0[1] < 0
    assert all(op.requant[k].m0[0] != 0 for k in op.requant if k[0] != 2 or k[2] != 3)


def test_every_transition_has_its_own_entry():
    model = _calibrated(candidate_bits=(2, 4))
    ir = export_model(model)
    op = next(o for o in ir.ops if o.name == "layer2.0.conv2")
    assert op.attrs["prev_bits"] == WeightOf("layer2.0.conv1")
    assert set(op.requant) == {(w, a, o, p) for w in (2, 4) for a in (2, 4) for o in (8,) for p in (2, 4)}
    assert set(op.weights) == {2, 4}

    def differ(k1, k2):
        return not (np.array_equal(op.requant[k1].bias, op.requant[k2].bias)
                    and np.array_equal(op.requant[k1].m0, op.requant[k2].m0))
    assert differ((2, 2, 8, 2), (4, 2, 8, 2))   # another weight width
    assert differ((2, 2, 8, 2), (2, 2, 8, 4))   # another producer width: statistics entry 2_2_2 vs 4_2_2


def test_bias_that_cannot_fit_the_accumulator_is_an_error():
    model = _calibrated()
    with torch.no_grad():   # an unclamped residual branch with an absurd shift: no saturation excuse
        model.layer1[0].bn2.affine["4_4"].bias[0] = 1e9
    with pytest.raises(ExportError, match=r"layer1\.0\.conv2 .*channel 0.*does not fit 32-bit"):
        export_model(model)


def test_fake_quant_activation_codes_follow_the_fold():
    """The integer stem codes equal the fake-quant ones except within float noise of a rounding edge."""
    from hwsim.bits import BitConfig
    from quantnet.intref import run_reference
    from quantnet.verify import fake_quant_codes
    model = _calibrated(seed=3)
    ir = export_model(model)
    x = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8).numpy()
    for b in model.candidate_bits:
        cfg = BitConfig.uniform(model.spec, b)
        _, fq = fake_quant_codes(model, cfg, x)
        _, ic = run_reference(ir, cfg.bits, x, trace=True)
        assert np.mean(fq["act1"] == ic["act1"]) > 0.995
        assert np.abs(fq["act1"] - ic["act1"]).max() <= 1


# ---- the worked example of the contract ---------------------------------------------------------------
def _doc_numbers() -> dict[str, int]:
    text = DOC.read_text()
    block = re.search(r"<!-- worked-example -->\s*```(.*?)```\s*<!-- /worked-example -->", text, re.S).group(1)
    out = {}
    for line in block.strip().splitlines():
        key, rest = line.split("=", 1)
        out[key.strip()] = int(rest.split("#")[0])
    return out


def test_worked_example_in_the_contract():
    doc = _doc_numbers()
    x = [[200, 17], [255, 0]]
    w = [[3, -7], [5, 1]]
    acc = sum(x[i][j] * w[i][j] for i in range(2) for j in range(2))
    # M = s_a*s_w*gamma/(sigma*s_out) = (1/255)*0.05*0.8/(0.25*0.5) exactly as a fraction
    M = Fraction(1, 255) * Fraction(1, 20) * Fraction(4, 5) / (Fraction(1, 4) * Fraction(1, 2))
    shift = next(s for s in range(1, 63) if M * 2**s >= 2**30)
    m0 = round(M * 2**shift)
    b_float = (Fraction(3, 10) * Fraction(1, 4) / Fraction(4, 5) - Fraction(1, 10)) / (Fraction(1, 255) * Fraction(1, 20))
    B = -math.floor(-b_float + Fraction(1, 2))   # half away from zero, b_float < 0
    frac = round(m0 * (b_float - B))
    product = (acc + B) * m0 + 2 ** (shift - 1) + frac
    y = min(max(product >> shift, 0), 3)
    F = 12   # the example's add keeps the exporter's fractional bits
    assert F == ADD_FRAC_BITS
    sc_m = Fraction(2, 5) * 2**F / Fraction(1, 2)
    sc_shift = next(s for s in range(1, 63) if sc_m * 2**s >= 2**30)
    sc_m0 = round(sc_m * 2**sc_shift)
    shortcut = (3 * sc_m0 + 2 ** (sc_shift - 1)) >> sc_shift
    add = min(max((shortcut + doc["branch"] + 2 ** (F - 1)) >> F, 0), 3)
    pool_shift = next(s for s in range(1, 63) if Fraction(1, 16) * 2**s >= 2**30)
    pool_m0 = -(-(2**pool_shift) // 16)
    pool = (41 * pool_m0 + 2 ** (pool_shift - 1)) >> pool_shift
    mine = dict(acc=acc, M0=m0, shift=shift, B=B, frac=frac, product=product, y=y, shortcut_m0=sc_m0,
                shortcut_shift=sc_shift, shortcut=shortcut, branch=doc["branch"], add=add, pool_m0=pool_m0,
                pool_shift=pool_shift, pool=pool)
    assert mine == doc
    # the exporter and the torch reference give the same numbers
    assert dyadic(1 / 255 * 0.05 * 0.8 / (0.25 * 0.5)) == (m0, shift)
    assert dyadic(0.4 * 2**F / 0.5) == (sc_m0, sc_shift)
    assert average_multiplier(16) == (pool_m0, pool_shift)
    d = lambda v: torch.tensor([v], dtype=torch.float64)   # noqa: E731
    bn = FoldedBN(gamma=d(0.8), beta=d(0.3), mean=d(0.1), var=d(0.0625), eps=0.0)
    ex = _Exporter.__new__(_Exporter)
    ex.acc_bits = 32
    r = ex.fold("example", np.array(w, np.int8).reshape(1, 1, 2, 2), 8, np.array([0.05 / 255]), bn, 0.5, 3)
    assert (int(r.m0[0]), int(r.shift[0]), int(r.bias[0]), int(r.frac[0])) == (m0, shift, B, frac)
    t = rq(torch.tensor([acc + B]), torch.tensor(m0), torch.tensor(shift), frac)
    assert int(t[0]) == y


def test_saturated_channel_gets_a_bias_that_fits_and_the_same_codes():
    """A clamped channel whose bias swamps every accumulator outputs its top code either way."""
    from hwsim.bits import BitConfig
    from quantnet.intref import run_reference
    model = _calibrated()
    with torch.no_grad():
        model.layer1[0].bn1.affine["3_3"].bias[1] = 1e9
    ir = export_model(model)
    r = next(o for o in ir.ops if o.name == "layer1.0.conv1").requant[(3, 3, 3, 8)]
    assert abs(int(r.bias[1])) < 2**31
    cfg = BitConfig.uniform(model.spec, 3)
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8).numpy()
    _, codes = run_reference(ir, cfg.bits, x, trace=True)
    assert (codes["layer1.0.act1"][:, 1] == 7).all()


def test_add_keeps_fewer_fractional_bits_only_where_int32_needs_it():
    from quantnet.export import ADD_FRAC_BITS, _branch_bound
    model = _calibrated()
    ir = export_model(model)
    assert all(op.attrs["frac_bits"] == ADD_FRAC_BITS for op in ir.ops if op.kind == "add")
    with torch.no_grad():   # a huge BN scale makes layer2's branch multiplier huge
        model.layer2[0].bn2.affine["4_8"].weight.fill_(1e5)
    ir = export_model(model)
    adds = {op.name: op.attrs["frac_bits"] for op in ir.ops if op.kind == "add"}
    assert adds["layer1.0.add"] == ADD_FRAC_BITS and adds["layer2.0.add"] < ADD_FRAC_BITS
    for name in ("layer2.0.conv2", "layer2.0.shortcut"):
        assert _branch_bound(next(o for o in ir.ops if o.name == name)) < 2**30


def test_branch_bound_is_the_worst_case_formula():
    """_branch_bound on a real export against the contract's worst case, written out here on Python ints:
    max over entries and channels of (X*|M0| + 2^(shift-1) + |frac|) // 2^shift, X = max|acc| + |B|."""
    from quantnet.export import _branch_bound
    ir = export_model(_calibrated())
    branches = [op for op in ir.ops if op.kind == "rescale" or (op.kind == "conv" and not op.attrs["clamp"])]
    assert {op.kind for op in branches} == {"conv", "rescale"}
    for op in branches:
        want = 0
        for key, r in op.requant.items():
            for c in range(len(r.m0)):
                if op.kind == "rescale":
                    acc = 2 ** key[0] - 1
                else:
                    acc = (2 ** key[1] - 1) * sum(abs(int(v)) for v in op.weights[key[0]][c].ravel())
                x = acc + abs(int(r.bias[c]))
                want = max(want, (x * abs(int(r.m0[c])) + 2 ** (int(r.shift[c]) - 1) + abs(int(r.frac[c])))
                           // 2 ** int(r.shift[c]))
        assert _branch_bound(op) == want, op.name


def test_integer_model_folds_the_transition_the_torch_model_selects():
    """Mixed configs on a net whose every BN entry is different: each site's integer codes follow fake-quant.

    A table picked by the wrong producer width, input width or next width would use other statistics
    or another affine map and disagree on a large share of codes."""
    from hwsim.bits import random_configs
    from quantnet.intref import run_reference
    from quantnet.verify import fake_quant_codes
    model = _calibrated(seed=4)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if ".stats." in name and name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.5)
            elif ".stats." in name and name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) * 2 + 0.25)
            elif ".affine." in name and name.endswith("weight"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif ".affine." in name and name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.3 + 0.5)
    ir = export_model(model)
    x = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8).numpy()
    for cfg in random_configs(model.spec, 6, seed=1):
        _, fq = fake_quant_codes(model, cfg, x)
        _, ic = run_reference(ir, cfg.bits, x, trace=True)
        for site in fq:
            assert np.mean(fq[site] == ic[site]) > 0.98, (cfg.name, site)
