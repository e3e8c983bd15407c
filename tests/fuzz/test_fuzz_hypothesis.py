"""Hypothesis-generated inputs beside the mutators: arbitrary --config strings, and arbitrary YAML-shaped data
where an accelerator config, a bit config or a study config is expected."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.bits import BitConfig
from hwsim.hwconfig import parse_hw_config
from quantnet.config_spec import ir_bit_configs

from .conftest import FAST, SLOW
from .harness import BAD, Case, classify
from .kinds import STUDIES

LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
DOCS = st.recursive(LEAVES, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10) | st.integers(), c,
                                                                               max_size=5), max_leaves=30)
SPECS = st.text(max_size=300) | st.lists(st.sampled_from(["fp", "uniform", "w4a4", "random:", "random-block:", ":",
                                                           "-1", "0", "99999999999", ",", ".yaml"]),
                                         max_size=8).map("".join)


def _assert_ok(case):
    outcome, detail = classify(case)
    assert outcome not in BAD, detail


def _settings(n):
    return settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _spec_case(ir, spec):
    return Case(f"spec {spec[:60]!r}", lambda: ir_bit_configs(ir, spec), ("--config",))


def _doc_cases(ir, doc):
    from studies.runner import _module
    from studies.schema import build
    yield Case("hw", lambda: parse_hw_config(doc, "h.yaml"), ("h.yaml",))
    yield Case("bits", lambda: BitConfig.from_dict(doc, ir.table, "b.yaml"), ("b.yaml",))
    for name in STUDIES:
        yield Case(f"study {name}", lambda name=name: build(_module(name).CONFIG, doc, "s.yaml"), ("s.yaml",))


def _run(ir, n):
    @_settings(n)
    @given(SPECS)
    def specs(spec):
        _assert_ok(_spec_case(ir, spec))

    @_settings(n)
    @given(DOCS)
    def docs(doc):
        for case in _doc_cases(ir, doc):
            _assert_ok(case)

    specs()
    docs()


def test_hypothesis_fast(small_ir):
    _run(small_ir, FAST // 2)


@pytest.mark.slow
def test_hypothesis_slow(small_ir):
    _run(small_ir, SLOW)
