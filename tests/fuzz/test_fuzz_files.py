"""Fuzz: study configs and manifests, checkpoints, MNIST and CIFAR-10 files."""
import pytest

from .conftest import FAST, SLOW
from .harness import assert_clean, run_all
from .kinds import checkpoint_cases, data_file_cases, manifest_cases, study_config_cases

KINDS = [("study config", study_config_cases), ("study manifest", manifest_cases),
         ("checkpoint", checkpoint_cases), ("MNIST/CIFAR files", data_file_cases)]


@pytest.mark.parametrize("kind,cases", KINDS, ids=[k for k, _ in KINDS])
def test_files_fast(tmp_path, kind, cases):
    assert_clean(run_all(cases(tmp_path, FAST, 0)), kind, FAST)


@pytest.mark.slow
@pytest.mark.parametrize("kind,cases", KINDS, ids=[k for k, _ in KINDS])
def test_files_slow(tmp_path, kind, cases):
    assert_clean(run_all(cases(tmp_path, SLOW, 1)), kind, SLOW)
