"""Input validation shared by the kernel wrappers: every error names the argument and the bad value."""
from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import UserError


class KernelInputError(UserError):
    """A kernel was called with an array or scalar it cannot compute exactly (names which and why)."""


def int_array(name: str, a, ndim: int | tuple[int, ...]) -> np.ndarray:
    """`a` as a numpy integer array with the given rank(s); bools, floats and objects are refused."""
    if not isinstance(a, np.ndarray):
        raise KernelInputError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise KernelInputError(f"{name} must have an integer dtype, got {a.dtype}")
    if np.issubdtype(a.dtype, np.unsignedinteger) and a.dtype.itemsize == 8:
        if a.size and int(a.max()) > np.iinfo(np.int64).max:
            raise KernelInputError(f"{name} holds {int(a.max())}, beyond int64")
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if a.ndim not in ranks:
        raise KernelInputError(f"{name} must have {' or '.join(map(str, ranks))} dimensions, got shape {a.shape}")
    return a


def int_scalar(name: str, v, lo: int, hi: int | None = None) -> int:
    """`v` as a Python int in [lo, hi] (hi=None: no upper bound)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise KernelInputError(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if v < lo or (hi is not None and v > hi):
        bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise KernelInputError(f"{name} must be in {bound}, got {v}")
    return v


@njit(cache=True)
def _min_max(a):
    lo = a[0]
    hi = a[0]
    for v in a:
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


def value_range(a: np.ndarray) -> tuple[int, int]:
    """(min, max) of `a` as Python ints; (0, 0) when empty. One pass (numba) over large contiguous arrays."""
    if a.size == 0:
        return 0, 0
    if a.size >= 1 << 14 and a.flags.c_contiguous:
        lo, hi = _min_max(a.reshape(-1))
        return int(lo), int(hi)
    return int(a.min()), int(a.max())
