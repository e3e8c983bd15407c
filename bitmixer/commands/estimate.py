"""bitmixer estimate IR|CKPT --hw CONFIG.yaml --config SPEC [--json PATH]: per-layer cycles and energy of
bit configurations on a modelled accelerator (the analytic dataflow cost model)."""
from __future__ import annotations

from hwsim.dataflow.estimate import estimate_configs
from hwsim.hwconfig import HwConfig, load_hw_config
from quantnet.config_spec import ir_bit_configs
from quantnet.export import load_int_model

from .common import format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("estimate", help="cycles and energy per layer on a modelled accelerator", description=__doc__)
    p.add_argument("model", help="integer model (.npz from bitmixer export) or a checkpoint (exported on the fly)")
    p.add_argument("--hw", required=True, help="accelerator config, e.g. hw_configs/bitfusion.yaml")
    p.add_argument("--config", default="uniform", help="uniform[:B], wBaB, random:N[:SEED], or a YAML/JSON file")
    p.add_argument("--json", default=None, help="write per-layer results and totals to this JSON file")
    p.set_defaults(func=run)


def table(layers: list[dict]) -> str:
    """MACs, bits, cycles at every level, bound-by, and energy by component (uJ), one row per layer."""
    levels = list(layers[0]["cycles_by"])
    parts = list(layers[0]["energy_by"])
    rows = [{**r, **{f"c:{k}": v for k, v in r["cycles_by"].items()},
             **{f"e:{k}": v / 1e6 for k, v in r["energy_by"].items()}, "uj": r["energy_pj"] / 1e6} for r in layers]
    cols = [("name", "layer", ""), ("macs", "MACs", "d"), ("w_bits", "W", "d"), ("a_bits", "A", "d")]
    cols += [(f"c:{k}", k, "d") for k in levels] + [("cycles", "cycles", "d"), ("bound_by", "bound by", "")]
    cols += [(f"e:{k}", f"{k} uJ", ".3f") for k in parts] + [("uj", "total uJ", ".3f")]
    return format_table(rows, cols)


def text(hw: HwConfig, results: list[dict]) -> str:
    """What the command prints: per config a header, the per-layer table and the totals."""
    lines = []
    for r in results:
        t = r["total"]
        lines += ["", f"{hw.name} @ {hw.clock_hz / 1e6:g} MHz, {hw.array.rows}x{hw.array.cols} {hw.pe.kind} "
                      f"({hw.array.layout}) - config {r['config']}", table(r["layers"]),
                  f"total: {t['cycles']} cycles, {t['latency_s'] * 1e3:.4f} ms, {t['energy_pj'] / 1e6:.3f} uJ per sample"]
    return "\n".join(lines)


def payload(model: str, hw: HwConfig, results: list[dict]) -> dict:
    """What --json writes: the first config's layers and total at the top, then every config."""
    return {"model": model, "hw": hw.describe(), "layers": results[0]["layers"], "total": results[0]["total"],
            "configs": results}


def run(args) -> int:
    hw = load_hw_config(args.hw)
    ir = load_int_model(args.model)
    results = estimate_configs(ir, hw, ir_bit_configs(ir, args.config))
    print(text(hw, results))
    write_json(args.json, payload(str(args.model), hw, results))
    return 0
