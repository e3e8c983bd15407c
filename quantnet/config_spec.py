"""Parse the --config SPEC of the CLI into named bit configurations.

SPEC is a comma-separated list of:
  fp                 the float network (None)
  uniform:B          every switchable layer at B bits (w = a); `uniform` alone: every candidate
  wBaB               e.g. w4a2: every switchable layer at those weight and activation bits
  random:N[:SEED]    N random per-layer configs (seed 0 by default)
  random-block:N[:SEED]  the same, one bit-width per block
  PATH.yaml|.json    one config or a list of them
"""
from __future__ import annotations

import re
from pathlib import Path

from hwsim.bits import BitConfig, BitConfigError, LayerTable, all_uniform, random_configs
from hwsim.errors import excerpt

_WA = re.compile(r"^w(\d+)a(\d+)$", re.IGNORECASE)


MAX_RANDOM = 10_000      # configs one random:N may ask for (each is costed or simulated)
MAX_CONFIGS = 100_000    # configs one spec may name in all
SEED_LIMIT = 2**63


def parse_config_spec(text: str, spec: LayerTable) -> list[tuple[str, BitConfig | None]]:
    out: list[tuple[str, BitConfig | None]] = []
    for part in [p.strip() for p in str(text).split(",") if p.strip()]:
        try:
            out.extend(_parse_one(part, spec))
        except BitConfigError as e:
            msg = str(e)
            raise BitConfigError(msg if msg.startswith("--config") else f"--config {excerpt(part)}: {msg}") from None
        if len(out) > MAX_CONFIGS:
            raise BitConfigError(f"--config {excerpt(text)}: names more than {MAX_CONFIGS} configurations")
    if not out:
        raise BitConfigError(f"--config {excerpt(text)} names no configuration")
    return out


def _int(value: str, what: str, part: str, lo: int, hi: int) -> int:
    """An integer in [lo, hi) written in ASCII digits."""
    if not value.isascii() or not value.lstrip("-").isdigit() or len(value) > 20 or not lo <= int(value) < hi:
        raise BitConfigError(f"--config {excerpt(part)}: {what} must be an integer in [{lo}, {hi}), "
                             f"got {excerpt(value)}")
    return int(value)


def _parse_one(part: str, spec: LayerTable) -> list[tuple[str, BitConfig | None]]:
    if part == "fp":
        return [("fp", None)]
    if part == "uniform":
        return [(c.name, c) for c in all_uniform(spec)]
    if part.startswith("uniform:"):
        c = BitConfig.uniform(spec, _int(part.split(":", 1)[1], "B", part, 1, 65))
        return [(c.name, c)]
    m = _WA.match(part)
    if m:
        c = BitConfig.uniform(spec, int(m.group(1)), int(m.group(2)))
        return [(c.name, c)]
    if part.startswith(("random:", "random-block:")):
        kind, *rest = part.split(":")
        if not 1 <= len(rest) <= 2:
            raise BitConfigError(f"--config {excerpt(part)}: expected {kind}:N or {kind}:N:SEED")
        n = _int(rest[0], "N", part, 1, MAX_RANDOM + 1)
        seed = _int(rest[1], "SEED", part, 0, SEED_LIMIT) if len(rest) == 2 else 0
        gran = "block" if kind == "random-block" else "layer"
        return [(c.name, c) for c in random_configs(spec, n, seed, gran)]
    path = Path(part)
    try:
        is_file = path.suffix in (".yaml", ".yml", ".json") or path.exists()
    except (OSError, ValueError):   # a name too long for the file system, or with a NUL byte
        is_file = False
    if is_file:
        return [(c.name, c) for c in BitConfig.load(path, spec)]
    raise BitConfigError(f"--config {excerpt(part)}: not one of fp, uniform[:B], wBaB, random:N[:SEED], "
                         f"random-block:N[:SEED] or a .yaml/.json file")


def ir_bit_configs(ir, text: str) -> list[tuple[str, BitConfig]]:
    """The configs of SPEC `text`, checked once against the IR's layer table (trusted after that)."""
    out = []
    for name, cfg in parse_config_spec(text, ir.table):
        if cfg is None:
            raise BitConfigError("--config fp: the float network has no bit-widths to cost; use uniform, wBaB, ...")
        out.append((name, cfg))
    return out
