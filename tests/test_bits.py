"""hwsim.bits: bits variables' text form, the layer table's tie rule, and configs checked once."""
import re

import numpy as np
import pytest

from hwsim.bits import (ACC, ActOf, BitConfig, BitConfigError, BitsError, Const, Layer, LayerTable, WeightOf,
                        parse)
from hwsim.errors import UserError


@pytest.mark.parametrize("text, var", [("const:8", Const(8)), ("const:2", Const(2)), ("a:conv1", ActOf("conv1")),
                                       ("w:layer1.0.conv2", WeightOf("layer1.0.conv2")), ("acc", ACC),
                                       ("a:x:y", ActOf("x:y"))])
def test_text_round_trip(text, var):
    assert parse(text) == var
    assert str(var) == text
    assert parse(var) is var


@pytest.mark.parametrize("text", ["", "acc:", "a:", "w:", "const:", "const:08", "const:0", "const:-1", "const: 8",
                                  "const:x", "x:conv1", "A:conv1", "conv1", "ACC"])
def test_malformed_text_is_refused_naming_it(text):
    with pytest.raises(BitsError, match=re.escape(repr(text))) as e:
        parse(text)
    assert isinstance(e.value, UserError)


def test_non_text_is_refused():
    with pytest.raises(BitsError, match="not text"):
        parse(8)


def _table() -> LayerTable:
    return LayerTable((Layer("stem", "conv", (8,), (8,)),
                       Layer("c1", "conv", (2, 4), (2, 4), block="b"),
                       Layer("c2", "conv", (2, 4), (2, 4), block="b"),
                       Layer("sc", "conv", (2, 4), (2, 4), a_tied_to="c1", block="b"),
                       Layer("fc", "linear", (8,), (2, 4))), (2, 4))


def test_resolve_and_domain():
    t = _table()
    bits = {"stem": (8, 8), "c1": (2, 4), "c2": (4, 2), "sc": (4, 4), "fc": (8, 2)}
    assert [v.resolve(bits, 32) for v in (Const(8), ActOf("c2"), WeightOf("c2"), ACC)] == [8, 2, 4, 32]
    assert ActOf("fc").domain(t) == (2, 4) and WeightOf("fc").domain(t) == (8,) and Const(3).domain(t) == (3,)
    with pytest.raises(BitsError, match="accumulator"):
        ACC.domain(t)
    with pytest.raises(BitsError, match="no layer 'nope'"):
        ActOf("nope").domain(t)


def test_tie_rule_copies_the_partners_activation_width_only():
    t = _table()
    bits = {"stem": (8, 8), "c1": (2, 4), "c2": (4, 2), "sc": (2, 2), "fc": (8, 2)}
    assert t.tie(bits) == {**bits, "sc": (2, 4)}
    assert t.tie(t.tie(bits)) == t.tie(bits)


def test_table_refuses_broken_ties_and_duplicates():
    base = (Layer("c1", "conv", (2,), (2, 4)),)
    with pytest.raises(BitsError, match="tied to 'c9'"):
        LayerTable(base + (Layer("sc", "conv", (2,), (2, 4), a_tied_to="c9"),), (2,))
    with pytest.raises(BitsError, match="a_choices differ"):
        LayerTable(base + (Layer("sc", "conv", (2,), (2,), a_tied_to="c1"),), (2,))
    with pytest.raises(BitsError, match="duplicate layer 'c1'"):
        LayerTable(base + base, (2,))


def test_config_checked_once_then_trusted():
    t = _table()
    cfg = BitConfig.uniform(t, 2)
    assert cfg.table is t and t.validate(cfg) is cfg
    assert dict(cfg.bits) == {"stem": (8, 8), "c1": (2, 2), "c2": (2, 2), "sc": (2, 2), "fc": (8, 2)}
    bare = BitConfig({**cfg.bits, "sc": (2, 4)}, "bare")        # not checked: validate does it
    with pytest.raises(BitConfigError, match="'sc' reads the same tensor as 'c1' and must share its a_bits"):
        t.validate(bare)
    with pytest.raises(BitConfigError, match=r"'c1': bits must be a \(w_bits, a_bits\) pair, got 'x'"):
        t.validate({**cfg.bits, "c1": "x"})
    with pytest.raises(BitConfigError, match=r"'c1' w_bits: bit-width must be an integer, got 2.5"):
        t.validate({**cfg.bits, "c1": (2.5, 2)})


def test_per_block_units_come_from_the_table():
    t = _table()
    assert t.blocks == ["stem", "b", "fc"]
    for seed in range(5):
        c = BitConfig.random(t, seed, "block")
        assert c.w("c1") == c.w("c2") == c.w("sc") and c.a("sc") == c.a("c1")


def test_execute_rejects_a_bad_config_dict_clearly():
    from hwsim.executor import execute
    from hwsim.ir import IRError
    from tests.irgen import GenParams, random_bits, random_input, random_ir
    ir = random_ir(GenParams(seed=3, identity=False, size=6, width=6))
    rng = np.random.default_rng(0)
    bits, x = random_bits(ir, rng), random_input(ir, rng, 1)
    with pytest.raises(IRError, match=r"layer 'c2': bits must be a \(w_bits, a_bits\) pair, got 7"):
        execute(ir, {**bits, "c2": 7}, x)
    with pytest.raises(BitConfigError, match="no bits given for layer"):
        execute(ir, {k: v for k, v in bits.items() if k != "fc"}, x)
    with pytest.raises(IRError, match="expected a mapping layer"):
        execute(ir, [("c2", (2, 2))], x)
    checked = ir.config(bits)
    assert np.array_equal(execute(ir, checked, x).logits, execute(ir, bits, x).logits)
