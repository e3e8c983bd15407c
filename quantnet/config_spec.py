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

from .bitconfig import BitConfig, BitConfigError, LayerSpec, NetSpec, all_uniform, random_configs

_WA = re.compile(r"^w(\d+)a(\d+)$", re.IGNORECASE)


def parse_config_spec(text: str, spec: NetSpec) -> list[tuple[str, BitConfig | None]]:
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


def _parse_one(part: str, spec: NetSpec) -> list[tuple[str, BitConfig | None]]:
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


def spec_of(ir) -> NetSpec:
    """An IR's layer table as a NetSpec, so that the --config grammar applies to it."""
    layers = tuple(LayerSpec(l.name, l.kind, l.name.rsplit(".", 1)[0] if l.name.startswith("layer") else l.name,
                             int(l.macs), 0, tuple(l.w_choices), tuple(l.a_choices), l.a_tied_to) for l in ir.layers)
    return NetSpec(layers, tuple(ir.candidate_bits))


def ir_bit_configs(ir, text: str) -> list[tuple[str, dict]]:
    """The configs of SPEC `text` as (name, layer -> (w_bits, a_bits)) over every layer of the IR."""
    out = []
    for name, cfg in parse_config_spec(text, spec_of(ir)):
        if cfg is None:
            raise BitConfigError("--config fp: the float network has no bit-widths to cost; use uniform, wBaB, ...")
        out.append((name, ir.layer_bits(cfg.bits, name)))
    return out
