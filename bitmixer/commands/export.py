"""bitmixer export CKPT -o model.npz: the integer model (every bit-width's weights and requant tables).
With --format onnx and --config SPEC: one bit config as an integer-only ONNX graph (int32 logits out);
--format qonnx: the same config as a QONNX model (Quant nodes with the model's scales, float between)."""
from __future__ import annotations

from hwsim.errors import UserError
from quantnet.export import export_file


def register(sub) -> None:
    p = sub.add_parser("export", help="export a checkpoint to the integer model IR (.npz), ONNX or QONNX",
                       description=__doc__)
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True, help="output file (.npz, or .onnx with --format onnx|qonnx)")
    p.add_argument("--format", choices=["npz", "onnx", "qonnx"], default="npz",
                   help="npz: the integer model IR, every config (default); onnx / qonnx: one config")
    p.add_argument("--config", default=None, help="the one config of an onnx/qonnx export: uniform:B, wBaB, YAML/JSON")
    p.add_argument("--all-tensors", action="store_true",
                   help="onnx: also output every intermediate tensor (int32) under its IR name")
    p.add_argument("--acc-bits", type=int, default=32,
                   help="accumulator width that every bias plus worst-case accumulator must fit (default 32)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.format == "npz":
        if args.config is not None:
            raise UserError("--config selects one config of an onnx/qonnx export; the .npz holds every config")
        w = export_file(args.checkpoint, args.output, args.acc_bits)
        print(f"wrote {args.output}: {w['ops']} ops ({w['convs']} conv), {w['layers']} layers, "
              f"{w['requant_entries']} requant entries, candidate bits {w['candidate_bits']}")
        return 0
    if args.config is None:
        raise UserError(f"--format {args.format} exports one bit config: give --config (e.g. w4a4)")
    if args.format == "onnx":
        from quantnet.handoff import export_onnx_file
        w = export_onnx_file(args.checkpoint, args.config, args.output, args.all_tensors)
    else:
        from quantnet.qonnx_export import export_qonnx_file
        w = export_qonnx_file(args.checkpoint, args.config, args.output)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(w["op_types"].items()))
    print(f"wrote {args.output}: config {w['config']}, {w['nodes']} nodes ({kinds}), {w['bytes'] / 1024:.1f} KiB")
    return 0
