"""bitmixer demo [--out DIR] [--config FILE] [--retrain]: the whole flow on the bundled digits data: train a
meta-network (the default recipe), verify bit-exactness, estimate and simulate on every accelerator, run the
pareto and runtime-switch studies, and write DIR/index.html."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demo", help="end-to-end demo on digits; writes a report", description=__doc__)
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--config", default=None, help="demo YAML (default: the packaged bitmixer/demo.yaml)")
    p.add_argument("--retrain", action="store_true", help="train afresh even if DIR/train holds a checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from bitmixer.demo import run_demo

    index = run_demo(args.out, args.config, args.retrain, progress=not args.no_progress)
    print(f"report: {index}")
    return 0
