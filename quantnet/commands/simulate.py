"""bitmixer simulate IR --hw CONFIG.yaml --config SPEC --data NAME: run real samples through the PE
arithmetic of a modelled accelerator (bit-planes, bricks, ...): accuracy, counted cycles, energy and the
data-dependent savings (zero-plane skipping) where the design has them."""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.executor import execute
from hwsim.hwconfig import load_hw_config
from hwsim.pe.sim import PESimulator

from .common import add_data_args, dataset_for, format_table, write_json
from .estimate import bit_configs, load_int_model


def register(sub) -> None:
    p = sub.add_parser("simulate", help="functional simulation through a PE kind's arithmetic", description=__doc__)
    p.add_argument("model", help="integer model (.npz) or checkpoint")
    p.add_argument("--hw", required=True, help="accelerator config YAML")
    p.add_argument("--config", default="uniform", help="uniform[:B], wBaB, random:N[:SEED], or a YAML/JSON file")
    p.add_argument("--samples", type=int, default=64, help="number of test samples (default 64)")
    p.add_argument("--skipping", choices=["config", "on", "off"], default="config",
                   help="zero-plane skipping: as the config says, or forced on/off")
    p.add_argument("--json", default=None, help="write results to this JSON file")
    add_data_args(p, default="digits")
    p.set_defaults(func=run)


def run(args) -> int:
    hw = load_hw_config(args.hw)
    ir = load_int_model(args.model)
    data = dataset_for(args, {})
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    cost = NetworkCost(shapes_from_ir(ir), hw)
    skipping = None if args.skipping == "config" else args.skipping == "on"
    results = []
    for name, cfg in tqdm(bit_configs(ir, args.config), desc="simulate", leave=False):
        sim = PESimulator(hw, skipping=skipping, overflow="report")
        res = execute(ir, cfg, x, acc_bits=min(hw.pe.accumulator_bits, 32), overflow="report", conv_impl=sim.conv_impl)
        acc = float(np.mean(np.argmax(res.logits, axis=1) == y))
        rows = []
        for r in cost.layers(cfg.bits):
            c = sim.counts.get(r["name"])
            n = len(y)
            counted = c.cycles if c else r["cycles_by"]["compute"] * n    # linear layers: analytic
            no_skip = c.cycles_no_skip if c else counted
            mac_saved = r["energy_by"]["mac"] * n * (1 - counted / no_skip) if no_skip else 0.0
            rows.append({"name": r["name"], "w_bits": r["w_bits"], "a_bits": r["a_bits"],
                         "model_compute": r["cycles_by"]["compute"] * n, "counted": counted, "no_skip": no_skip,
                         "saved_pct": 100 * (1 - counted / no_skip) if no_skip else 0.0,
                         "energy_pj": r["energy_pj"] * n - mac_saved,
                         "psum_overflows": c.psum_overflows if c else 0, "acc_overflows": c.acc_overflows if c else 0})
        tot = {k: sum(r[k] for r in rows) for k in ("counted", "no_skip", "model_compute", "energy_pj",
                                                    "psum_overflows", "acc_overflows")}
        results.append({"config": name, "accuracy": acc, "samples": len(y), "layers": rows, "total": tot,
                        "executor_overflows": len(res.overflows)})
        print(f"\n{hw.name}: config {name}, {len(y)} samples, top-1 {acc:.4f}")
        print(format_table(rows, [("name", "layer", ""), ("w_bits", "W", "d"), ("a_bits", "A", "d"),
                                  ("model_compute", "model cycles", "d"), ("counted", "counted", "d"),
                                  ("saved_pct", "saved %", ".1f"), ("energy_pj", "energy pJ", ".3e"),
                                  ("psum_overflows", "psum ovf", "d"), ("acc_overflows", "acc ovf", "d")]))
        print(f"total: {tot['counted']} cycles counted ({tot['no_skip']} without skipping), "
              f"{tot['energy_pj'] / 1e6:.3f} uJ, overflows psum {tot['psum_overflows']} acc {tot['acc_overflows']}")
    write_json(args.json, {"model": str(args.model), "hw": hw.describe(), "data": data.name, "results": results})
    return 0
