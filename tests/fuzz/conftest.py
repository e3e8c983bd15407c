import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/irgen.py

from irgen import GenParams, random_ir  # noqa: E402

FAST = 60      # inputs per kind in the default suite
SLOW = 1000    # inputs per kind under -m slow


@pytest.fixture(scope="session")
def small_ir():
    """A small IR, with every conv method and the executor compiled once here: numba's first call compiles
    for seconds (.ci/run starts with no cache), which each case's hang alarm must not count."""
    import numpy as np

    from hwsim import kernels as K
    from hwsim.bits import BitConfig
    from hwsim.executor import execute
    from hwsim.kernels.conv_methods import CONV_METHODS

    ir = random_ir(GenParams(seed=3, channels=2, size=6, width=4, identity=False))
    x = np.zeros((1,) + tuple(ir.input_shape), np.uint8)
    for b in ir.table.candidate_bits:
        execute(ir, BitConfig.uniform_where_allowed(ir.table, b), x)
    w = np.ones((2, 1, 3, 3), np.int8)
    for method in CONV_METHODS:
        for dtype in (np.uint8, np.int32):
            K.conv2d_acc(np.ones((1, 2, 5, 5), dtype), w, 1, 1, 2, method=method)
    return ir
