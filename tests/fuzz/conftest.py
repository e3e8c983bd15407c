import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/irgen.py

from irgen import GenParams, random_ir  # noqa: E402

FAST = 60      # inputs per kind in the default suite
SLOW = 1000    # inputs per kind under -m slow


@pytest.fixture(scope="session")
def small_ir():
    return random_ir(GenParams(seed=3, channels=2, size=6, width=4, identity=False))
