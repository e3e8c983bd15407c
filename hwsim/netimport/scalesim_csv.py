"""A SCALE-Sim topology CSV as a network: one layer per row, in order.

Columns (SCALE-Sim's): Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
Num Filter, Strides; SCALE-Sim ends each line with a comma, which is accepted. The IFMAP sizes already
include any padding (SCALE-Sim has none), so every layer is a conv with padding 0. Consecutive layers share a
tensor only where one's output is exactly the next one's input (SCALE-Sim drops the pools between them).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import UserError, excerpt
from ..zoo import check_batch
from ..zoo.builder import NetBuilder
from ..zoo.network import ZooNet

COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
           "Num Filter", "Strides")
MAX_BYTES = 4 << 20
MAX_LAYERS = 10_000
MAX_DIM = 1 << 20


class TopologyError(UserError):
    """A malformed topology CSV: the message names the file, line, column and value."""


def _fields(row: list[str]) -> list[str]:
    cells = [c.strip() for c in row]
    while cells and cells[-1] == "":
        cells.pop()                      # SCALE-Sim's trailing comma
    return cells


def _int(value: str, where: str, column: str, lo: int = 1) -> int:
    if not value.isascii() or not value.isdigit() or not lo <= int(value) <= MAX_DIM:
        raise TopologyError(f"{where}: column {column!r} must be an integer in [{lo}, {MAX_DIM}], got {excerpt(value)}")
    return int(value)


def read_topology(path: str | Path, batch: int = 1) -> ZooNet:
    path = Path(path)
    check_batch(batch, str(path))
    try:
        if path.stat().st_size > MAX_BYTES:
            raise TopologyError(f"{path}: larger than {MAX_BYTES >> 20} MiB; not a topology file")
        text = path.read_text(encoding="utf-8-sig")     # a spreadsheet may add a BOM
    except (OSError, UnicodeDecodeError) as e:
        raise TopologyError(f"{path}: cannot read the topology CSV: {e}") from None
    rows = [(i + 1, _fields(r)) for i, r in enumerate(csv.reader(io.StringIO(text)))]
    rows = [(n, r) for n, r in rows if r]
    if not rows:
        raise TopologyError(f"{path}: empty; expected a header {', '.join(COLUMNS)} and one row per layer")
    line, header = rows[0]
    if [h.lower() for h in header] != [c.lower() for c in COLUMNS]:
        raise TopologyError(f"{path}:{line}: the header must be {', '.join(COLUMNS)}; "
                            f"got {excerpt(', '.join(header), 200)}")
    if len(rows) == 1:
        raise TopologyError(f"{path}: no layers after the header")
    if len(rows) > MAX_LAYERS + 1:
        raise TopologyError(f"{path}: more than {MAX_LAYERS} layers")
    layers = []
    for line, r in rows[1:]:
        where = f"{path}:{line}"
        if len(r) != len(COLUMNS):
            raise TopologyError(f"{where}: expected {len(COLUMNS)} columns ({', '.join(COLUMNS)}), got {len(r)}: "
                                f"{excerpt(r, 200)}")
        name = r[0]
        if not name:
            raise TopologyError(f"{where}: column 'Layer name' is empty")
        ih, iw, fh, fw, c, n, s = (_int(v, where, col) for v, col in zip(r[1:], COLUMNS[1:]))
        if fh > ih or fw > iw:
            raise TopologyError(f"{where}: filter {fh}x{fw} is larger than the IFMAP {ih}x{iw}")
        if any(l[0] == name for l in layers):
            raise TopologyError(f"{where}: layer name {excerpt(name)} is used twice")
        layers.append((name, ih, iw, fh, fw, c, n, s))
    return _network(path, layers, batch)


def _network(path: Path, layers: list[tuple], batch: int) -> ZooNet:
    """Each layer reads the previous one's output where it is exactly that tensor; otherwise its own input
    (from DRAM: whatever SCALE-Sim left out made it)."""
    _, ih, iw, *_, c, _, _ = layers[0]
    b = NetBuilder(c, (ih, iw), batch)
    prev = "input"
    for name, ih, iw, fh, fw, c, n, s in layers:
        src = prev if b.shape(prev) == (c, ih, iw) else b.fresh_input(f"{name}.input", (c, ih, iw), prev)
        prev = b.conv(name, src, n, (fh, fw), s)
    return ZooNet(path.stem, b.graph(), b.table(), f"SCALE-Sim topology {path}", None,
                  "a topology file gives no bit-widths")
