"""Fuzz: --config spec strings and bit config files (YAML and JSON)."""
import pytest

from .conftest import FAST, SLOW
from .harness import assert_clean, run_all
from .kinds import bit_config_file_cases, spec_string_cases


@pytest.mark.parametrize("kind,cases", [("bit config file", bit_config_file_cases), ("spec string", spec_string_cases)])
def test_bit_configs_fast(tmp_path, small_ir, kind, cases):
    assert_clean(run_all(cases(tmp_path, FAST, 0, small_ir)), kind, FAST)


@pytest.mark.slow
@pytest.mark.parametrize("kind,cases", [("bit config file", bit_config_file_cases), ("spec string", spec_string_cases)])
def test_bit_configs_slow(tmp_path, small_ir, kind, cases):
    assert_clean(run_all(cases(tmp_path, SLOW, 1, small_ir)), kind, SLOW)
