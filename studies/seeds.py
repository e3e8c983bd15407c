"""Rows over several training seeds: which seeds, where their runs live, and mean ± std per column.

A run trained over seeds keeps one run directory per seed, `RUN/seed<k>` (what `bitmixer study
ablation` writes, and `bitmixer train --seed k --out RUN/seed<k>` by hand). std is the sample
standard deviation (ddof = 1) across seeds; 0 for a single seed.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from hwsim.errors import UserError, excerpt

MAX_SEEDS = 100


class SeedsError(UserError):
    pass


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2); a single count 'N' -> (0, ..., N-1)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts):
        raise SeedsError(f"--seeds {excerpt(text)}: give a count N or a comma-separated list of seeds >= 0")
    values = [int(p) for p in parts]
    seeds = tuple(range(values[0])) if len(values) == 1 else tuple(values)
    if not 1 <= len(seeds) <= MAX_SEEDS or len(set(seeds)) != len(seeds):
        raise SeedsError(f"--seeds {excerpt(text)}: between 1 and {MAX_SEEDS} distinct seeds, got {list(seeds)}")
    return seeds


def seed_dir(run: str | Path, seed: int) -> Path:
    return Path(run) / f"seed{seed}"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std with ddof = 1; 0.0 for one value)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_std of no values")
    m = sum(values) / n
    if n == 1:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


def aggregate(rows: Sequence[dict], keys: Sequence[str]) -> dict:
    """For every key that every row holds as a number: key (the mean over rows), key_seed_std, and `seeds`."""
    out: dict = {"seeds": len(rows)}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if rows and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[k], out[f"{k}_seed_std"] = mean_std(vals)
    return out


def pm(mean: float | None, std: float | None, scale: float = 100.0, digits: int = 2) -> str:
    """'97.12 ± 0.30' (scaled, e.g. a fraction shown in %); '-' when there is no mean."""
    if mean is None:
        return "-"
    return f"{scale * mean:.{digits}f} ± {scale * (std or 0.0):.{digits}f}"
