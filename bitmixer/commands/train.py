"""bitmixer train [--config FILE.yaml] [flags] --out DIR [--resume]: train a meta-network or a baseline.

Writes DIR/checkpoint.pt, DIR/config.yaml (the resolved configuration), DIR/metrics.jsonl (one
record per epoch). Flags override fields of the file; `--set KEY.PATH=VALUE` reaches any field,
e.g. --set stages.2.epochs=10 --set optim.warmup_epochs=0.

Data parallel: `--nproc N` (or `torchrun --nproc-per-node N -m bitmixer.cli train ...`) trains with N
processes (DistributedDataParallel; gloo on CPU, nccl with --device cuda, one GPU per process). batch_size
stays the global batch: each process takes its shard of every batch, and every step makes the update one
process would make on the whole batch, up to float rounding (which rounding activations to codes can
amplify over many steps). Process 0 alone writes DIR.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from hwsim.errors import UserError

from quantnet.train import RunDir, load_config, train
from ..launch import launch
from .common import format_table

# flag -> config key; the value is passed through YAML like --set.
_FIELD_FLAGS = [("model", "model", "registered model name"), ("width", "width", "architecture width"),
                ("data", "data", "data set: digits, synthetic, cifar10, mnist"),
                ("data_dir", "data_dir", "directory of a local data set"),
                ("bn_mode", "bn_mode", "transitional | switchable | shared"),
                ("candidate_bits", "candidate_bits", "comma-separated bit-widths, e.g. 2,3,4 (or 4 for an LSQ baseline)"),
                ("seed", "seed", "seed of initialisation, shuffling and sub-network draws"),
                ("device", "device", "cpu | cuda (with --nproc N: one GPU per process)"), ("lr", "optim.lr", "base learning rate"),
                ("batch_size", "batch_size", "global batch size (split across --nproc processes)"), ("threads", "threads", "torch CPU threads (0: default)"),
                ("teacher", "distill.teacher", "inplace | checkpoint"),
                ("teacher_checkpoint", "distill.checkpoint", "checkpoint of a float teacher")]


def register(sub) -> None:
    p = sub.add_parser("train", help="train a Bit-Mixer meta-network (3 stages) or a baseline", description=__doc__)
    p.add_argument("--config", default=None, help="training YAML (default: built-in 3-stage meta-network on digits)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    for dest, _, text in _FIELD_FLAGS:
        p.add_argument("--" + dest.replace("_", "-"), dest=dest, default=None, help=text)
    p.add_argument("--granularity", default=None, help="layer | block: per-layer or per-block bits in mixed stages")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override any config field (repeatable)")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N data-parallel processes on this machine (default 1)")
    p.add_argument("--subnet-log", default=None, metavar="DIR",
                   help="each process appends the sub-networks it draws to DIR/rank<R>.jsonl (lockstep checks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def overrides_from(args) -> list[str]:
    out = []
    for dest, key, _ in _FIELD_FLAGS:
        v = getattr(args, dest)
        if v is not None:
            out.append(f"{key}=[{v}]" if dest == "candidate_bits" else f"{key}={v}")
    return out + list(args.overrides)


def run(args) -> int:
    if args.nproc < 1:
        raise UserError(f"--nproc must be >= 1, got {args.nproc}")
    world = os.environ.get("WORLD_SIZE")
    if world is None and args.nproc > 1:
        return launch(args.argv, args.nproc)
    if world is not None and args.nproc > 1 and str(args.nproc) != world:
        raise UserError(f"--nproc {args.nproc} but this process is one of WORLD_SIZE={world} (torchrun); give one")
    overrides = overrides_from(args)
    if args.resume:
        if args.config or overrides or args.granularity:
            raise UserError("--resume continues the run in --out with its saved config.yaml; "
                            "do not combine it with --config or override flags")
        cfg = load_config(RunDir(Path(args.out)).config)
    else:
        cfg = load_config(args.config, overrides)
        if args.granularity:
            n = len(cfg.stages)
            extra = [f"stages.{i}.granularity={args.granularity}" for i in range(n) if cfg.stages[i].kind == "mixed"]
            cfg = load_config(args.config, overrides + extra)
    t0 = time.perf_counter()
    last = train(cfg, args.out, resume=args.resume, progress=not args.no_progress, subnet_log=args.subnet_log)
    if os.environ.get("RANK", "0") != "0":
        return 0
    rows = [{"metric": k, "value": v} for k, v in last.items() if k.startswith("test_acc/")]
    if rows:
        print(format_table(rows, [("metric", "final", ""), ("value", "top-1", ".4f")]))
    print(f"run in {args.out} (checkpoint.pt, config.yaml, metrics.jsonl); {time.perf_counter() - t0:.1f} s")
    return 0
