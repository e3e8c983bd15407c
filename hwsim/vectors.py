"""Golden test vectors of one bit config: per op, `$readmemh` files of what goes in, the tables it reads,
the accumulators and what comes out, as the executor computed them; plus `manifest.json`.

Layout (docs/test_vectors.md): DIR/manifest.json, DIR/<op name>/<field>.hex. Every field's shape, width,
signedness, layout and sha256 are in the manifest, so `read_vectors` needs nothing else. Torch-free.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

import numpy as np

from . import kernels as K
from .bits import ACC, BitConfig
from .errors import UserError
from .executor import execute
from .hexfile import HexFileError, read_hex, write_hex
from .ir import IntModel, Op

FORMAT, VERSION = "bitmixer-vectors", 1
MANIFEST = "manifest.json"
# (width in bits, signed) of each kind of field
CODE, WEIGHT, WIDE, M0, SHIFT, FRAC, BIAS = (8, False), (8, True), (32, True), (32, True), (8, False), (32, True), (64, True)


class VectorsError(UserError):
    """A vector directory that is incomplete or does not match its manifest (names the file)."""


def _value(ir: IntModel, tensor: str) -> tuple[int, bool]:
    """A tensor's storage: unclamped 'acc' tensors are signed 32-bit, code tensors unsigned 8-bit."""
    return WIDE if ir.tensors[tensor] == ACC else CODE


def _conv(ir, op, bits, x, y, accs):
    w_bits, a_bits = bits[op.attrs["layer"]]
    key = ir.conv_key(op, bits)
    r = op.requant[key]
    attrs = {k: op.attrs[k] for k in ("layer", "stride", "padding", "groups", "clamp")}
    attrs.update(w_bits=w_bits, a_bits=a_bits, out_bits=key[2], prev_bits=key[3], requant_key=list(key))
    if len(key) > 4:   # a conv reading a block's output (hwsim/ir.py)
        attrs["prev_shortcut_bits"] = key[4]
    return attrs, [("x", x[0], "NCHW"), ("y", y, "NCHW"), ("w", op.weights_at(w_bits), WEIGHT, "OCKK"),
                   ("acc", accs[op.attrs["layer"]], WIDE, "NCHW"), ("bias", r.bias, BIAS, "C"), ("m0", r.m0, M0, "C"),
                   ("shift", r.shift, SHIFT, "C"), ("frac", r.frac, FRAC, "C")]


def _linear(ir, op, bits, x, y, accs):
    w_bits, a_bits = bits[op.attrs["layer"]]
    bias = op.bias[(w_bits, a_bits)]
    return ({"layer": op.attrs["layer"], "w_bits": w_bits, "a_bits": a_bits},
            [("x", x[0], "NF"), ("y", y, "NK"), ("w", op.weights_at(w_bits), WEIGHT, "KF"),
             ("acc", y.astype(np.int64) - bias[None, :], WIDE, "NK"), ("bias", bias, BIAS, "K")])


def _rescale(ir, op, bits, x, y, accs):
    key = (ir.tensors[op.inputs[0]].resolve(bits), op.attrs["out_bits"].resolve(bits))
    r = op.requant[key]
    return ({"in_bits": key[0], "out_bits": key[1]},
            [("x", x[0], "NCHW"), ("y", y, "NCHW"), ("m0", r.m0, M0, "1"), ("shift", r.shift, SHIFT, "1")])


def _add(ir, op, bits, x, y, accs):
    return ({"frac_bits": op.attrs["frac_bits"], "out_bits": ir.tensors[op.output].resolve(bits)},
            [("a", x[0], "NCHW"), ("b", x[1], "NCHW"), ("y", y, "NCHW")])


def _avgpool(ir, op, bits, x, y, accs):
    r = op.requant[()]
    return ({"out_bits": ir.tensors[op.output].resolve(bits), "count": int(x[0].shape[2] * x[0].shape[3])},
            [("x", x[0], "NCHW"), ("y", y, "NCHW"), ("acc", K.global_sum(x[0]), WIDE, "NC"), ("m0", r.m0, M0, "1"),
             ("shift", r.shift, SHIFT, "1")])


def _maxpool(ir, op, bits, x, y, accs):
    return {k: op.attrs[k] for k in ("kernel", "stride", "padding")}, [("x", x[0], "NCHW"), ("y", y, "NCHW")]


def _flatten(ir, op, bits, x, y, accs):
    return {}, []     # a reshape: no arithmetic to check


# op kind -> (ir, op, config bits, inputs, output, conv accumulators) -> (resolved attributes, fields); a field
# is (name, array, (width, signed), layout), or (name, tensor value, layout) stored as that tensor's type
_LAYOUTS = {"conv": _conv, "linear": _linear, "rescale": _rescale, "add": _add, "avgpool": _avgpool,
            "maxpool": _maxpool, "flatten": _flatten}


def _fields(ir: IntModel, op: Op, bits, env, accs) -> tuple[dict, list[tuple]]:
    if op.kind not in _LAYOUTS:
        raise VectorsError(f"op {op.name!r}: no vector layout for op kind {op.kind!r}")
    tensors = {"x": op.inputs[0], "a": op.inputs[0], "b": op.inputs[-1], "y": op.output}
    attrs, fields = _LAYOUTS[op.kind](ir, op, bits, [env[t] for t in op.inputs], env[op.output], accs)
    return attrs, [f if len(f) == 4 else (f[0], f[1], _value(ir, tensors[f[0]]), f[2]) for f in fields]


def write_vectors(ir: IntModel, config: BitConfig | Mapping[str, tuple[int, int]], x_codes: np.ndarray,
                  out_dir: str | Path, labels: np.ndarray | None = None) -> dict:
    """Run the executor on `x_codes` at `config` and write every op's vectors under `out_dir`; returns the
    manifest (also written as manifest.json)."""
    cfg = ir.config(config)
    accs: dict[str, np.ndarray] = {}

    def recording_conv(x, w, s, p, g, layer, w_bits, a_bits):
        accs[layer] = K.conv2d_acc(x, w, s, p, g)
        return accs[layer]

    res = execute(ir, cfg, x_codes, trace=True, conv_impl=recording_conv)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ops = []
    for op in ir.ops:
        attrs, fields = _fields(ir, op, cfg.bits, res.codes, accs)
        files = {}
        if fields:
            (out / op.name).mkdir(exist_ok=True)
        for name, arr, (width, signed), layout in fields:
            rel = f"{op.name}/{name}.hex"
            try:
                sha = write_hex(out / rel, arr, width, signed)
            except HexFileError as e:
                raise VectorsError(f"op {op.name!r} field {name!r}: {e}") from None
            files[name] = {"path": rel, "shape": list(np.shape(arr)), "width": width, "signed": signed,
                           "layout": layout, "sha256": sha}
        ops.append({"name": op.name, "kind": op.kind, "inputs": list(op.inputs), "output": op.output,
                    "attrs": attrs, "files": files})
    manifest = {"format": FORMAT, "version": VERSION, "samples": int(x_codes.shape[0]),
                "input": {"name": ir.input_name, "shape": list(x_codes.shape), "bits": ir.input_bits},
                "config": {k: list(v) for k, v in cfg.bits.items()}, "source": ir.source,
                "labels": None if labels is None else [int(v) for v in labels],
                "predictions": [int(v) for v in res.logits.argmax(1)], "ops": ops}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str))
    return manifest


def read_vectors(out_dir: str | Path) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """(manifest, op name -> field -> int64 array) of a directory written by `write_vectors`; checks the
    format tag and every file's sha256."""
    d = Path(out_dir)
    try:
        manifest = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError) as e:
        raise VectorsError(f"{d / MANIFEST}: cannot read ({e})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise VectorsError(f"{d / MANIFEST}: not a {FORMAT} v{VERSION} manifest")
    arrays = {}
    for op in manifest["ops"]:
        arrays[op["name"]] = {}
        for name, f in op["files"].items():
            p = d / f["path"]
            if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]:
                raise VectorsError(f"{p}: missing or its sha256 differs from {MANIFEST}")
            arrays[op["name"]][name] = read_hex(p, f["width"], f["signed"], tuple(f["shape"]))
    return manifest, arrays
