"""bitmixer vectors CKPT --config SPEC --samples N --out DIR: golden `$readmemh` test vectors of one bit
config (per op: input codes, weight codes, requant tables, accumulators, outputs) and DIR/manifest.json;
layout in docs/test_vectors.md."""
from __future__ import annotations

from quantnet.handoff import write_vectors_dir

from .common import add_data_args


def register(sub) -> None:
    p = sub.add_parser("vectors", help="golden $readmemh test vectors of one bit config", description=__doc__)
    p.add_argument("checkpoint", help="checkpoint or exported integer model (.npz)")
    p.add_argument("--config", required=True, help="one config: uniform:B, wBaB, or a YAML/JSON file")
    p.add_argument("--samples", type=int, default=4, help="first N test samples (default 4)")
    p.add_argument("--out", required=True, help="output directory")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    m = write_vectors_dir(args.checkpoint, args.config, args.samples, args.out, args.data, args.data_dir)
    files = sum(len(op["files"]) for op in m["ops"])
    right = "" if m["labels"] is None else \
        f", {sum(p == y for p, y in zip(m['predictions'], m['labels']))}/{m['samples']} predicted right"
    print(f"wrote {args.out}: {files} hex files for {len(m['ops'])} ops, {m['samples']} samples{right}; "
          f"see {args.out}/manifest.json")
    return 0
