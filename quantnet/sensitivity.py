"""Where mixed configs fail: the worst of N random per-layer configs and a per-transition sensitivity table.

A transition is one switchable layer at width `bits` reading a tensor produced by a layer at width
`prev` (the stem's fixed width for the first block, the block output's producer for the next ones)
and, where that tensor is a residual sum, its shortcut summand's producer at width `prev_shortcut`
(the same key as the layer's Transitional BN statistics). For every (layer, prev, prev_shortcut -> bits)
the table gives the mean and the worst accuracy of the random configs
that contain it and its drop: the mean of all random configs minus that mean (positive: the
transition costs accuracy). `--config worst:N[:SEED]` of `bitmixer eval` reports both.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from hwsim.bits import BitConfig, BitConfigError, all_uniform, random_configs
from hwsim.errors import excerpt

from .checkpoint import load_checkpoint
from .config_spec import MAX_RANDOM, SEED_LIMIT
from .data import dataset_for_checkpoint, test_split
from .evaluate import accuracy
from .models import MetaResNet

WORST_PREFIX = "worst:"


def parse_worst_spec(text: str) -> tuple[int, int]:
    """'worst:N[:SEED]' -> (N, SEED); N in [1, MAX_RANDOM], SEED >= 0 (default 0)."""
    parts = str(text).split(":")
    if parts[0] != "worst" or not 2 <= len(parts) <= 3:
        raise BitConfigError(f"--config {excerpt(text)}: expected worst:N or worst:N:SEED")
    out = []
    for what, value, lo, hi in (("N", parts[1], 1, MAX_RANDOM + 1), ("SEED", (parts + ["0"])[2], 0, SEED_LIMIT)):
        if not value.isascii() or not value.isdigit() or len(value) > 20 or not lo <= int(value) < hi:
            raise BitConfigError(f"--config {excerpt(text)}: {what} must be an integer in [{lo}, {hi}), "
                                 f"got {excerpt(value)}")
        out.append(int(value))
    return out[0], out[1]


def transitions(model: MetaResNet, cfg: BitConfig) -> list[tuple[str, int, int | None, int]]:
    """(layer, prev weight width, shortcut summand producer's weight width or None, this layer's weight width)
    for every switchable layer of cfg."""
    return [(l.name, model.transition(cfg, l.name)[0], model.shortcut_width(cfg, l.name), cfg.w(l.name))
            for l in model.spec.switchable]


def sensitivity_table(model: MetaResNet, rows: list[tuple[BitConfig, float]]) -> list[dict]:
    """One row per (layer, prev, prev_shortcut, bits) met among `rows` (config, accuracy): configs, mean,
    min, drop. prev_shortcut is None where the layer does not read a residual sum."""
    if not rows:
        raise ValueError("no configs to tabulate")
    overall = float(np.mean([acc for _, acc in rows]))
    seen: dict[tuple[str, int, int | None, int], list[float]] = defaultdict(list)
    for cfg, acc in rows:
        for t in transitions(model, cfg):
            seen[t].append(acc)
    order = {l.name: i for i, l in enumerate(model.spec.switchable)}
    table = []
    for (layer, prev, prev_sc, bits), accs in sorted(
            seen.items(), key=lambda kv: (order[kv[0][0]], kv[0][1], -1 if kv[0][2] is None else kv[0][2], kv[0][3])):
        mean = float(np.mean(accs))
        table.append({"layer": layer, "prev": prev, "prev_shortcut": prev_sc, "bits": bits, "configs": len(accs),
                      "mean": mean, "min": float(np.min(accs)), "drop": overall - mean})
    return table


def widths(model: MetaResNet, cfg: BitConfig) -> str:
    """The weight widths of the switchable layers in order, e.g. '2-4-2-3-...'."""
    return "-".join(str(cfg.w(l.name)) for l in model.spec.switchable)


def worst_report(model: MetaResNet, x: np.ndarray, y: np.ndarray, n: int, seed: int = 0, k: int = 10,
                 progress: bool = True) -> dict:
    """Accuracy of every uniform config and of n random per-layer configs (seed); the k worst of them,
    their mean/min/max, and the per-transition table."""
    from tqdm import tqdm

    uniform = {c.name: accuracy(model, c, x, y) for c in all_uniform(model.spec)}
    rows = [(c, accuracy(model, c, x, y))
            for c in tqdm(random_configs(model.spec, n, seed), desc="worst", disable=not progress, leave=False)]
    accs = np.array([a for _, a in rows])
    ranked = sorted(range(len(rows)), key=lambda i: (accs[i], i))[:k]
    return {"n": n, "seed": seed, "samples": int(len(y)), "uniform": uniform,
            "random": {"mean": float(accs.mean()), "min": float(accs.min()), "max": float(accs.max())},
            "worst": [{"config": rows[i][0].name, "accuracy": float(accs[i]), "widths": widths(model, rows[i][0]),
                       "bits": {l: list(b) for l, b in rows[i][0].bits.items()}} for i in ranked],
            "layers": [l.name for l in model.spec.switchable],
            "transitions": sensitivity_table(model, rows)}


def worst_checkpoint(path: str | Path, spec: str, k: int = 10, data: str | None = None, data_dir: str | None = None,
                     samples: int | None = None, progress: bool = True) -> dict:
    """`worst_report` of a checkpoint for --config worst:N[:SEED] on its test split."""
    n, seed = parse_worst_spec(spec)
    model, extra = load_checkpoint(path)
    dataset = dataset_for_checkpoint(extra, data, data_dir, model)
    x, y = test_split(dataset, samples)
    return {"checkpoint": str(path), "data": dataset.name, **worst_report(model, x, y, n, seed, k, progress)}
