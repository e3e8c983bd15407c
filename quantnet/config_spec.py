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

_WA = re.compile(r"^w(\d+)a(\d+)$", re.IGNORECASE)


def parse_config_spec(text: str, spec: LayerTable) -> list[tuple[str, BitConfig | None]]:
    out: list[tuple[str, BitConfig | None]] = []
    for part in [p.strip() for p in str(text).split(",") if p.strip()]:
        out.extend(_parse_one(part, spec))
    if not out:
        raise BitConfigError(f"--config {text!r} names no configuration")
    return out


def _int(value: str, what: str, part: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BitConfigError(f"--config {part!r}: {what} must be an integer, got {value!r}") from None


def _parse_one(part: str, spec: LayerTable) -> list[tuple[str, BitConfig | None]]:
    if part == "fp":
        return [("fp", None)]
    if part == "uniform":
        return [(c.name, c) for c in all_uniform(spec)]
    if part.startswith("uniform:"):
        c = BitConfig.uniform(spec, _int(part.split(":", 1)[1], "B", part))
        return [(c.name, c)]
    m = _WA.match(part)
    if m:
        c = BitConfig.uniform(spec, int(m.group(1)), int(m.group(2)))
        return [(c.name, c)]
    if part.startswith(("random:", "random-block:")):
        kind, *rest = part.split(":")
        if not 1 <= len(rest) <= 2:
            raise BitConfigError(f"--config {part!r}: expected {kind}:N or {kind}:N:SEED")
        n = _int(rest[0], "N", part)
        seed = _int(rest[1], "SEED", part) if len(rest) == 2 else 0
        if n < 1:
            raise BitConfigError(f"--config {part!r}: N must be at least 1")
        gran = "block" if kind == "random-block" else "layer"
        return [(c.name, c) for c in random_configs(spec, n, seed, gran)]
    path = Path(part)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        return [(c.name, c) for c in BitConfig.load(path, spec)]
    raise BitConfigError(f"--config {part!r}: not one of fp, uniform[:B], wBaB, random:N[:SEED], "
                         f"random-block:N[:SEED] or a .yaml/.json file")


def ir_bit_configs(ir, text: str) -> list[tuple[str, BitConfig]]:
    """The configs of SPEC `text`, checked once against the IR's layer table (trusted after that)."""
    out = []
    for name, cfg in parse_config_spec(text, ir.table):
        if cfg is None:
            raise BitConfigError("--config fp: the float network has no bit-widths to cost; use uniform, wBaB, ...")
        out.append((name, cfg))
    return out
