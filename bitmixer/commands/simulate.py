"""bitmixer simulate IR --hw CONFIG.yaml --config SPEC --data NAME: run real samples through the PE
arithmetic of a modelled accelerator (bit-planes, bricks, ...): accuracy, counted cycles, energy and the
data-dependent savings (zero-plane skipping) where the design has them."""
from __future__ import annotations

import sys

from hwsim.hwconfig import HwConfig, load_hw_config
from hwsim.pe.simulate import simulate_configs
from quantnet.config_spec import ir_bit_configs
from quantnet.data import load_dataset
from quantnet.export import load_int_model

from .common import add_data_args, format_table, positive_int, write_json

COLUMNS = [("name", "layer", ""), ("w_bits", "W", "d"), ("a_bits", "A", "d"), ("model_compute", "model cycles", "d"),
           ("counted", "counted", "d"), ("saved_pct", "saved %", ".1f"), ("energy_pj", "energy pJ", ".3e"),
           ("psum_overflows", "psum ovf", "d"), ("acc_overflows", "acc ovf", "d")]


def register(sub) -> None:
    p = sub.add_parser("simulate", help="functional simulation through a PE kind's arithmetic", description=__doc__)
    p.add_argument("model", help="integer model (.npz) or checkpoint")
    p.add_argument("--hw", required=True, help="accelerator config YAML")
    p.add_argument("--config", default="uniform", help="uniform[:B], wBaB, random:N[:SEED], or a YAML/JSON file")
    p.add_argument("--samples", type=positive_int, default=64, help="number of test samples (default 64)")
    p.add_argument("--skipping", choices=["config", "on", "off"], default="config",
                   help="zero-plane skipping: as the config says, or forced on/off")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--allow-overflow", action="store_true",
                   help="count partial-sum and accumulator overflows and go on (flagged in every output) "
                        "instead of stopping with exit status 1")
    p.add_argument("--json", default=None, help="write results to this JSON file ('-': standard output)")
    add_data_args(p, default="digits")
    p.set_defaults(func=run)


def text(hw: HwConfig, results: list[dict]) -> str:
    """What the command prints: per config its accuracy, the per-layer table and the totals."""
    lines = []
    for r in results:
        t = r["total"]
        flag = " [OVERFLOWED: not the design's result]" if r["overflowed"] else ""
        lines += ["", f"{hw.name}: config {r['config']}, {r['samples']} samples, "
                      f"top-1 {r['accuracy']:.4f} (fraction){flag}",
                  format_table(r["layers"], COLUMNS),
                  f"total over the {r['samples']} samples: {t['counted']} cycles counted ({t['no_skip']} without "
                  f"skipping), {t['energy_pj'] / 1e6:.3f} uJ, overflows psum {t['psum_overflows']} acc "
                  f"{t['acc_overflows']}{flag}"]
    return "\n".join(lines)


def payload(model: str, hw: HwConfig, data: str, results: list[dict], allow_overflow: bool = False) -> dict:
    """What --json writes."""
    return {"model": model, "hw": hw.describe(), "data": data, "overflow_allowed": allow_overflow, "results": results}


def run(args) -> int:
    hw = load_hw_config(args.hw)
    ir = load_int_model(args.model)
    data = load_dataset(args.data, args.data_dir)
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    skipping = None if args.skipping == "config" else args.skipping == "on"
    results = simulate_configs(ir, hw, ir_bit_configs(ir, args.config), x, y, skipping,
                               progress=not args.no_progress, allow_overflow=args.allow_overflow)
    print(text(hw, results), file=sys.stderr if args.json == "-" else sys.stdout)
    write_json(args.json, payload(str(args.model), hw, data.name, results, args.allow_overflow))
    return 0
