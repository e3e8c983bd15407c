"""`$readmemh` text files: one value per line, fixed-width two's complement hex (no prefix, no address).

A value of `width` bits takes ceil(width/4) digits; a signed value is stored as its low `width` bits of
two's complement, so Verilog's `reg signed [width-1:0] mem[...]` reads it back unchanged.
Torch-free.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .errors import UserError


class HexFileError(UserError):
    """A hex file that cannot hold or does not hold the values it should (names the file and the value)."""


def value_limits(width: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)


def write_hex(path: Path, values: np.ndarray, width: int, signed: bool) -> str:
    """Write `values` (flattened in C order) to `path`; returns the sha256 of the bytes written.
    A value outside the width's range is refused, never wrapped."""
    v = np.asarray(values).astype(np.int64).ravel()
    lo, hi = value_limits(width, signed)
    if v.size and (int(v.min()) < lo or int(v.max()) > hi):
        raise HexFileError(f"{path}: values [{int(v.min())}, {int(v.max())}] do not fit "
                           f"{'signed' if signed else 'unsigned'} {width} bits [{lo}, {hi}]")
    digits = -(-width // 4)
    mask = (1 << width) - 1
    text = "".join(f"{int(x) & mask:0{digits}x}\n" for x in v.tolist())
    data = text.encode("ascii")
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_hex(path: Path, width: int, signed: bool, shape: tuple[int, ...]) -> np.ndarray:
    """int64 array of `shape` read from a file written by `write_hex`."""
    try:
        lines = path.read_text("ascii").split()
    except (OSError, UnicodeDecodeError) as e:
        raise HexFileError(f"{path}: cannot read ({e})") from None
    want = int(np.prod(shape, dtype=np.int64))
    if len(lines) != want:
        raise HexFileError(f"{path}: {len(lines)} values, expected {want} for shape {tuple(shape)}")
    digits = -(-width // 4)
    out = []
    for i, s in enumerate(lines):
        if len(s) != digits:
            raise HexFileError(f"{path}: line {i + 1} {s!r} is not {digits} hex digits")
        try:
            u = int(s, 16)
        except ValueError:
            raise HexFileError(f"{path}: line {i + 1} {s!r} is not hex") from None
        if u >> width:
            raise HexFileError(f"{path}: line {i + 1} {s!r} exceeds {width} bits")
        out.append(u - (1 << width) if signed and u >> (width - 1) else u)
    return np.array(out, np.int64).reshape(shape)
