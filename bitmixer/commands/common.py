"""Pieces several subcommands share: data-set flags, tables, JSON output."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from hwsim.errors import UserError


def add_data_args(p, default: str | None = None) -> None:
    said = f"default: {default}" if default else "default: the one the checkpoint was trained on"
    p.add_argument("--data", default=default, help=f"data set: digits, synthetic, cifar10, mnist ({said})")
    p.add_argument("--data-dir", default=None, help="directory of a local data set (cifar10, mnist)")


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """columns: (key, header, format spec). Returns a fixed-width text table."""
    cells = [[h for _, h, _ in columns]] + [[format(r.get(k, ""), f) if r.get(k) is not None else "-"
                                             for k, _, f in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a count of samples, configs, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def write_json(path: str | Path | None, payload: dict) -> None:
    """`payload` as JSON to `path` ('-': standard output), written whole or not at all."""
    if not path:
        return
    text = json.dumps(payload, indent=2, allow_nan=False)
    if str(path) == "-":
        sys.stdout.write(text + "\n")
        return
    atomic_write_text(Path(path), text, "--json")


def atomic_write_text(path: Path, text: str, what: str) -> None:
    """Write through a temporary file beside `path` and rename it over: a reader never sees half a file.
    A directory or an unwritable place is a UserError naming `what` and the path."""
    if path.is_dir():
        raise UserError(f"{what} {path}: is a directory; give a file name")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{what} {path}: cannot write ({e.strerror})") from None
