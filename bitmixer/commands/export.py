"""bitmixer export CKPT -o model.npz: the integer model (every bit-width's weights and requant tables)."""
from __future__ import annotations

from quantnet.export import export_file


def register(sub) -> None:
    p = sub.add_parser("export", help="export a checkpoint to the integer model IR (.npz)", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True, help="output .npz file")
    p.add_argument("--acc-bits", type=int, default=32,
                   help="accumulator width that every bias plus worst-case accumulator must fit (default 32)")
    p.set_defaults(func=run)


def run(args) -> int:
    w = export_file(args.checkpoint, args.output, args.acc_bits)
    print(f"wrote {args.output}: {w['ops']} ops ({w['convs']} conv), {w['layers']} layers, "
          f"{w['requant_entries']} requant entries, candidate bits {w['candidate_bits']}")
    return 0
