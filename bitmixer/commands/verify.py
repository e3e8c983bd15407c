"""bitmixer verify CKPT [--configs N | --config SPEC | --policy P] [--samples M] [--json PATH]: fake-quant vs
torch integer reference vs numba simulator, at every uniform config and N random per-layer configs (or the
--config ones; or, with --policy P, at the configs an adaptive policy picks per sample, plus the whole mixed
batch run per sample). Exit status 1 on any code
where the two integer paths differ."""
from __future__ import annotations

from hwsim.errors import UserError
from quantnet.verify import verify_checkpoint

from .common import add_data_args, format_table, write_json


def register(sub) -> None:
    p = sub.add_parser("verify", help="bit-exactness of the integer model against the torch reference",
                       description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--configs", type=int, default=50, help="random per-layer configs besides the uniform ones")
    p.add_argument("--seed", type=int, default=0, help="seed of the random configs")
    p.add_argument("--samples", type=int, default=None, help="first M test samples (default: all)")
    p.add_argument("--ir", default=None, help="verify this exported .npz instead of exporting the checkpoint afresh")
    p.add_argument("--acc-bits", type=int, default=32, help="accumulator width the simulator checks (default 32)")
    p.add_argument("--config", default=None, help="verify these configs instead (the --config grammar of eval: "
                                                  "uniform[:B], wBaB, random:N[:SEED], or a YAML/JSON file)")
    p.add_argument("--policy", default=None, help="check the configs this adaptive policy picks per sample instead")
    p.add_argument("--json", default=None, help="write the full report (per config, per layer) to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_args(p)
    p.set_defaults(func=run)


COLUMNS = [("config", "config", ""), ("avg_w_bits", "avg W", ".2f"), ("avg_a_bits", "avg A", ".2f"),
           ("integer_mismatches", "int mismatches", "d"), ("code_agreement", "code agree", ".4f"),
           ("top1_agreement", "top-1 agree", ".4f"), ("accuracy_fake_quant", "acc fq", ".4f"),
           ("accuracy_int_reference", "acc int", ".4f"), ("accuracy_simulator", "acc sim", ".4f")]


def run(args) -> int:
    if args.configs < 0 or (args.samples is not None and args.samples < 1):
        raise UserError(f"--configs must be >= 0 and --samples >= 1 (got {args.configs}, {args.samples})")
    report = verify_checkpoint(args.checkpoint, args.ir, args.configs, args.seed, args.samples, args.acc_bits,
                               args.data, args.data_dir, policy=args.policy, config_spec=args.config,
                               progress=not args.no_progress)
    print(format_table(report["configs"], COLUMNS))
    bad = [(r["config"], l["op"], l["mismatches"]) for r in report["configs"] for l in r["layers"] if l["mismatches"]]
    print(f"\n{report['configs_checked']} configs x {report['samples']} samples: "
          f"integer mismatches {report['integer_mismatches']}, code agreement {report['code_agreement']:.4f}, "
          f"top-1 agreement {report['top1_agreement']:.4f} (min {report['min_top1_agreement']:.4f})")
    for cfg, op, n in bad[:20]:
        print(f"MISMATCH {cfg}: op {op}: {n} values differ between the torch reference and the simulator")
    write_json(args.json, report)
    return 1 if report["integer_mismatches"] else 0
