"""bitmixer verify CKPT [--configs N | --config SPEC] [--samples M] [--json PATH]: fake-quant vs torch integer
reference vs numba simulator, at every uniform config and N random per-layer configs (or the --config ones). Exit status 1 on any code where the
two integer paths differ."""
from __future__ import annotations

from tqdm import tqdm

from hwsim.errors import UserError
from hwsim.ir import load_ir

from ..bitconfig import all_uniform, random_configs
from ..checkpoint import load_checkpoint
from ..config_spec import parse_config_spec
from ..export import export_model
from ..verify import check_config, summarise
from .common import add_data_args, dataset_for, format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("verify", help="bit-exactness of the integer model against the torch reference",
                       description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--configs", type=int, default=50, help="random per-layer configs besides the uniform ones")
    p.add_argument("--seed", type=int, default=0, help="seed of the random configs")
    p.add_argument("--config", default=None, help="verify these configs instead (the --config grammar of eval: "
                                                  "uniform[:B], wBaB, random:N[:SEED], or a YAML/JSON file)")
    p.add_argument("--samples", type=int, default=None, help="first M test samples (default: all)")
    p.add_argument("--ir", default=None, help="verify this exported .npz instead of exporting the checkpoint afresh")
    p.add_argument("--acc-bits", type=int, default=32, help="accumulator width the simulator checks (default 32)")
    p.add_argument("--json", default=None, help="write the full report (per config, per layer) to this file")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.configs < 0 or (args.samples is not None and args.samples < 1):
        raise UserError(f"--configs must be >= 0 and --samples >= 1 (got {args.configs}, {args.samples})")
    model, extra = load_checkpoint(args.checkpoint)
    ir = load_ir(args.ir) if args.ir else export_model(model, {"checkpoint": str(args.checkpoint)})
    if args.ir and ir.layer_names != model.spec.names:
        raise UserError(f"{args.ir}: its layers {ir.layer_names} are not the checkpoint's {model.spec.names}")
    data = dataset_for(args, extra)
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    if args.config is not None:
        configs = [c for _, c in parse_config_spec(args.config, model.spec)]
        if any(c is None for c in configs):
            raise UserError("--config fp: the float network has no integer model to verify")
    else:
        configs = all_uniform(model.spec) + (random_configs(model.spec, args.configs, args.seed) if args.configs else [])
    results = [check_config(model, ir, cfg, x, y, args.acc_bits)
               for cfg in tqdm(configs, desc="verify", leave=False, disable=len(configs) < 4)]
    summary = summarise(results, len(y))
    print(format_table(results, [("config", "config", ""), ("avg_w_bits", "avg W", ".2f"),
                                 ("avg_a_bits", "avg A", ".2f"), ("integer_mismatches", "int mismatches", "d"),
                                 ("code_agreement", "code agree", ".4f"), ("top1_agreement", "top-1 agree", ".4f"),
                                 ("accuracy_fake_quant", "acc fq", ".4f"), ("accuracy_int_reference", "acc int", ".4f"),
                                 ("accuracy_simulator", "acc sim", ".4f")]))
    bad = [(r["config"], l["op"], l["mismatches"]) for r in results for l in r["layers"] if l["mismatches"]]
    print(f"\n{summary['configs_checked']} configs x {summary['samples']} samples: "
          f"integer mismatches {summary['integer_mismatches']}, code agreement {summary['code_agreement']:.4f}, "
          f"top-1 agreement {summary['top1_agreement']:.4f} (min {summary['min_top1_agreement']:.4f})")
    for cfg, op, n in bad[:20]:
        print(f"MISMATCH {cfg}: op {op}: {n} values differ between the torch reference and the simulator")
    write_json(args.json, {"checkpoint": str(args.checkpoint), "data": data.name, "acc_bits": args.acc_bits,
                           **summary, "configs": results})
    return 1 if summary["integer_mismatches"] else 0
