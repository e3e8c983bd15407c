"""bitmixer estimate IR|CKPT --hw CONFIG.yaml --config SPEC [--json PATH]: per-layer cycles and energy of
bit configurations on a modelled accelerator (the analytic dataflow cost model)."""
from __future__ import annotations

from pathlib import Path

from hwsim.bits import BitConfig
from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import annotate_bits, graph_from_ir, shapes_from_ir
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config

from ..config_spec import parse_config_spec
from .common import format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("estimate", help="cycles and energy per layer on a modelled accelerator", description=__doc__)
    p.add_argument("model", help="integer model (.npz from bitmixer export) or a checkpoint (exported on the fly)")
    p.add_argument("--hw", required=True, help="accelerator config, e.g. hw_configs/bitfusion.yaml")
    p.add_argument("--config", default="uniform", help="uniform[:B], wBaB, random:N[:SEED], or a YAML/JSON file")
    p.add_argument("--json", default=None, help="write per-layer results and totals to this JSON file")
    p.set_defaults(func=run)


def load_int_model(path: str):
    """An IR file, or a checkpoint exported to the IR on the fly."""
    from hwsim.ir_io import load_ir
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path} does not exist")
    if p.suffix == ".npz":
        return load_ir(p)
    from ..export import export_checkpoint
    return export_checkpoint(p)


def bit_configs(ir, text: str) -> list[tuple[str, BitConfig]]:
    """The --config SPEC, checked against the IR's layer table (once: the results are trusted after)."""
    out = []
    for name, cfg in parse_config_spec(text, ir.table):
        if cfg is None:
            raise UserError("--config fp: the float network has no bit-widths to cost; use uniform, wBaB, ...")
        out.append((name, cfg))
    return out


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


def run(args) -> int:
    hw = load_hw_config(args.hw)
    ir = load_int_model(args.model)
    cost = NetworkCost(shapes_from_ir(ir), hw)
    graph = graph_from_ir(ir)
    results = []
    for name, cfg in bit_configs(ir, args.config):
        bits = cfg.bits
        layers = cost.layers(bits)
        cycles = sum(r["cycles"] for r in layers)
        total = {"cycles": cycles, "energy_pj": sum(r["energy_pj"] for r in layers), "latency_s": cycles / hw.clock_hz}
        g = annotate_bits(graph, bits, hw.pe.accumulator_bits)
        edges = [{"from": u, "to": v, "bits": d["tensor_bits"]} for u, v, d in g.edges(data=True)]
        results.append({"config": name, "bits": {k: list(v) for k, v in bits.items()}, "layers": layers,
                        "total": total, "edges": edges})
        print(f"\n{hw.name} @ {hw.clock_hz / 1e6:g} MHz, {hw.array.rows}x{hw.array.cols} {hw.pe.kind} "
              f"({hw.array.dataflow}) - config {name}")
        print(table(layers))
        print(f"total: {cycles} cycles, {total['latency_s'] * 1e3:.4f} ms, {total['energy_pj'] / 1e6:.3f} uJ per sample")
    write_json(args.json, {"model": str(args.model), "hw": hw.describe(), "layers": results[0]["layers"], "total": results[0]["total"], "configs": results})
    return 0
