"""Pieces several subcommands share: data-set flags, tables, JSON output."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence


def add_data_args(p, default: str | None = None) -> None:
    p.add_argument("--data", default=default, help="data set: digits, synthetic, cifar10, mnist "
                                                   "(default: the one the checkpoint was trained on)")
    p.add_argument("--data-dir", default=None, help="directory of a local data set (cifar10, mnist)")


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """columns: (key, header, format spec). Returns a fixed-width text table."""
    cells = [[h for _, h, _ in columns]] + [[format(r.get(k, ""), f) if r.get(k) is not None else "-"
                                             for k, _, f in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: str | Path | None, payload: dict) -> None:
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2))
