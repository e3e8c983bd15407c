"""Fuzz: accelerator config YAML, loaded and costed."""
import pytest

from .conftest import FAST, SLOW
from .harness import assert_clean, run_all
from .kinds import hw_config_cases


def test_hw_config_fast(tmp_path, small_ir):
    assert_clean(run_all(hw_config_cases(tmp_path, FAST, 0, small_ir)), "hw config", FAST)


@pytest.mark.slow
def test_hw_config_slow(tmp_path, small_ir):
    assert_clean(run_all(hw_config_cases(tmp_path, SLOW, 1, small_ir)), "hw config", SLOW)
