"""The IR's op-kind registry: every kind has its check, shape, execution, cost-graph role and torch reference."""
import numpy as np
import pytest

from hwsim.bits import LAYER_KINDS
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.executor import execute
from hwsim.ir import IRError
from hwsim.ir_validate import validate
from hwsim.ops import OP_KINDS, op_kind
from quantnet.intref import REFERENCE, run_reference
from tests.irgen import GenParams, random_bits, random_input, random_ir


def _irs():
    """Two small IRs that between them hold every op kind (identity shortcut: rescale; else a conv)."""
    return [random_ir(GenParams(seed=s, identity=ident, maxpool=True, size=7, width=7)) for s, ident in ((1, True), (2, False))]


def test_every_kind_is_complete_and_named_by_its_key():
    assert list(OP_KINDS) == ["conv", "linear", "rescale", "add", "maxpool", "avgpool", "flatten"]
    for name, kind in OP_KINDS.items():
        assert kind.name == name
        assert all(callable(f) for f in (kind.check, kind.out_shape, kind.execute))


def test_reference_has_exactly_the_registered_kinds():
    assert set(REFERENCE) == set(OP_KINDS.values())


def test_costed_kinds_are_the_layer_kinds():
    assert sorted(n for n, k in OP_KINDS.items() if k.costed) == sorted(LAYER_KINDS)


def test_test_irs_use_every_kind_and_both_executions_agree():
    irs = _irs()
    assert {op.kind for ir in irs for op in ir.ops} == set(OP_KINDS)
    for ir in irs:
        rng = np.random.default_rng(0)
        bits, x = random_bits(ir, rng), random_input(ir, rng, 2)
        assert np.array_equal(execute(ir, bits, x).logits, run_reference(ir, bits, x)[0])
        shapes = shapes_from_ir(ir)
        assert [s.name for s in shapes] == [op.attrs["layer"] for op in ir.ops if op_kind(op.kind).costed]


def test_unknown_kind_is_named_with_the_vocabulary():
    ir = _irs()[0]
    op = next(o for o in ir.ops if o.kind == "flatten")
    op.kind = "reshape"
    try:
        with pytest.raises(IRError, match=r"'flat', reshape\): unknown op kind; the vocabulary is \['conv'"):
            validate(ir)
        with pytest.raises(IRError, match=r"unknown IR op kind 'reshape'; known: \['add'"):
            op_kind("reshape")
    finally:
        op.kind = "flatten"
    validate(ir)
