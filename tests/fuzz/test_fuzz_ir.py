"""Fuzz: integer-model IR files, loaded, executed and costed."""
import pytest

from .conftest import FAST, SLOW
from .harness import assert_clean, run_all
from .kinds import ir_file_cases


def test_ir_fast(tmp_path, small_ir):
    assert_clean(run_all(ir_file_cases(tmp_path, FAST, 0, small_ir)), "IR file", FAST)


@pytest.mark.slow
def test_ir_slow(tmp_path, small_ir):
    assert_clean(run_all(ir_file_cases(tmp_path, SLOW, 1, small_ir)), "IR file", SLOW)
