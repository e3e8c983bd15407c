"""bitmixer estimate MODEL|ZOO_NAME | --topology CSV | --onnx MODEL.onnx  --hw CONFIG.yaml --config SPEC
[--batch N] [--json PATH]: per-op cycles and energy of bit configurations on a modelled accelerator (the
analytic dataflow cost model). MODEL is an integer model (.npz) or a checkpoint; ZOO_NAME a standard network
(hwsim.zoo: alexnet, vgg16, resnet18, ...), whose SPEC may also be `published` (the paper's per-layer bits)."""
from __future__ import annotations

from pathlib import Path

import hwsim.zoo as zoo
from hwsim.bits import BitConfigError
from hwsim.dataflow.estimate import estimate_configs, estimate_network
from hwsim.errors import UserError
from hwsim.hwconfig import HwConfig, load_hw_config

from .common import format_table, positive_int, write_json


def register(sub) -> None:
    p = sub.add_parser("estimate", help="cycles and energy per layer on a modelled accelerator", description=__doc__)
    p.add_argument("model", nargs="?", help="integer model (.npz from bitmixer export), a checkpoint (exported on "
                   f"the fly), or a zoo network: {', '.join(zoo.names())}")
    p.add_argument("--topology", default=None, help="a SCALE-Sim topology CSV instead of MODEL")
    p.add_argument("--onnx", default=None, help="an ONNX model's conv/GEMM layers instead of MODEL")
    p.add_argument("--hw", required=True, help="accelerator config, e.g. hw_configs/bitfusion.yaml")
    p.add_argument("--config", default="uniform", help="uniform[:B], wBaB, random:N[:SEED], a YAML/JSON file, "
                   "or (zoo networks that have them) published")
    p.add_argument("--batch", type=positive_int, default=1, help="samples per run (default 1)")
    p.add_argument("--json", default=None, help="write per-op results and totals to this JSON file")
    p.set_defaults(func=run)


def network_configs(net, text: str) -> list:
    """SPEC's configs for a zoo or imported network: `published`, or what --config accepts for an IR."""
    from quantnet.config_spec import parse_config_spec
    out = []
    for part in [p.strip() for p in str(text).split(",") if p.strip()] or [""]:
        if part == "published":
            cfg = net.published_config()
            out.append((cfg.name, cfg))
            continue
        for name, cfg in parse_config_spec(part, net.table):
            if cfg is None:
                raise BitConfigError("--config fp: the float network has no bit-widths to cost; use uniform, wBaB, ...")
            out.append((name, cfg))
    return out


def load_network(args):
    """The network the arguments name: (label, a zoo-like network or None, an IR or None)."""
    given = [x for x in (args.model, args.topology, args.onnx) if x is not None]
    if len(given) != 1:
        raise UserError("estimate: give exactly one of MODEL (a file or a zoo name), --topology or --onnx")
    if args.topology is not None:
        from hwsim.netimport.scalesim_csv import read_topology
        return args.topology, read_topology(args.topology, args.batch), None
    if args.onnx is not None:
        from hwsim.netimport.onnx_model import read_onnx
        return args.onnx, read_onnx(args.onnx, args.batch), None
    if args.model in zoo.ZOO and not Path(args.model).exists():
        return args.model, zoo.get(args.model, args.batch), None
    from quantnet.export import load_int_model
    return args.model, None, load_int_model(args.model)


def table(layers: list[dict]) -> str:
    """MACs, bits, cycles at every level, bound-by, and energy by component (uJ), one row per op."""
    levels = list(dict.fromkeys(k for r in layers for k in r["cycles_by"]))
    parts = list(dict.fromkeys(k for r in layers for k in r["energy_by"]))
    rows = [{**r, **{f"c:{k}": v for k, v in r["cycles_by"].items()},
             **{f"e:{k}": v / 1e6 for k, v in r["energy_by"].items()}, "uj": r["energy_pj"] / 1e6} for r in layers]
    cols = [("name", "op", ""), ("kind", "kind", ""), ("macs", "MACs", "d"), ("w_bits", "W", "d"),
            ("a_bits", "A", "d"), ("out_bits", "out", "d")]
    cols += [(f"c:{k}", k, "d") for k in levels] + [("cycles", "cycles", "d"), ("bound_by", "bound by", "")]
    cols += [(f"e:{k}", f"{k} uJ", ".3f") for k in parts] + [("uj", "total uJ", ".3f")]
    return format_table(rows, cols)


def text(hw: HwConfig, results: list[dict], batch: int = 1) -> str:
    """What the command prints: per config a header, the per-op table and the totals."""
    per = "per sample" if batch == 1 else f"per batch of {batch}"
    lines = []
    for r in results:
        t = r["total"]
        lines += ["", f"{hw.name} @ {hw.clock_hz / 1e6:g} MHz, {hw.array.rows}x{hw.array.cols} {hw.pe.kind} "
                      f"({hw.array.layout}), tensors {hw.tensor_policy} - config {r['config']}", table(r["layers"]),
                  f"total: {t['cycles']} cycles, {t['latency_s'] * 1e3:.4f} ms, {t['energy_pj'] / 1e6:.3f} uJ {per}"]
    return "\n".join(lines)


def payload(model: str, hw: HwConfig, results: list[dict], batch: int = 1) -> dict:
    """What --json writes: the first config's layers and total at the top, then every config."""
    return {"model": model, "batch": batch, "hw": hw.describe(), "layers": results[0]["layers"],
            "total": results[0]["total"], "configs": results}


def run(args) -> int:
    zoo.check_batch(args.batch, "--batch")
    hw = load_hw_config(args.hw)
    label, net, ir = load_network(args)
    if net is not None:
        results = estimate_network(net, hw, network_configs(net, args.config))
    else:
        from quantnet.config_spec import ir_bit_configs
        results = estimate_configs(ir, hw, ir_bit_configs(ir, args.config), args.batch)
    print(text(hw, results, args.batch))
    write_json(args.json, payload(str(label), hw, results, args.batch))
    return 0
