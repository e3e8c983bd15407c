"""bitmixer export CKPT -o model.npz: the integer model (every bit-width's weights and requant tables)."""
from __future__ import annotations

from hwsim.ir_io import save_ir

from ..export import export_checkpoint


def register(sub) -> None:
    p = sub.add_parser("export", help="export a checkpoint to the integer model IR (.npz)", description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True, help="output .npz file")
    p.add_argument("--acc-bits", type=int, default=32,
                   help="accumulator width that every bias plus worst-case accumulator must fit (default 32)")
    p.set_defaults(func=run)


def run(args) -> int:
    ir = export_checkpoint(args.checkpoint, acc_bits=args.acc_bits)
    save_ir(ir, args.output)
    convs = sum(op.kind == "conv" for op in ir.ops)
    entries = sum(len(op.requant) for op in ir.ops)
    print(f"wrote {args.output}: {len(ir.ops)} ops ({convs} conv), {len(ir.table)} layers, "
          f"{entries} requant entries, candidate bits {list(ir.candidate_bits)}")
    return 0
