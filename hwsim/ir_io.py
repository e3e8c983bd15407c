"""Save and load the integer-model IR: one .npz of plain arrays plus a versioned JSON manifest inside it.

The manifest (array "__manifest__", UTF-8 JSON) holds the format tag, version, layer table, tensors,
ops with their attributes and table keys, and each array's dtype, shape and sha256. Loading uses
np.load(allow_pickle=False) (no code runs) and checks the tag, the version, every hash and then the
graph invariants; any failure is an IRFormatError naming the file and the problem.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from .bits import BITS_VAR_TYPES, Layer, LayerTable
from .errors import UserError
from .ir import IntModel, IRError, Op, Requant
from .ir_validate import validate

FORMAT = "bitmixer-int-model"
VERSION = 3   # 2: conv requant keyed by (w, a, out, prev_bits); 3: layers carry their block and params
_MANIFEST = "__manifest__"


class IRFormatError(IRError):
    """An IR file that is missing, truncated, tampered with or of another version."""


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _key(k: tuple[int, ...]) -> list[int]:
    return [int(v) for v in k]


def save_ir(ir: IntModel, path: str | Path) -> None:
    validate(ir)
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    ops = []
    for op in ir.ops:
        entry = {"name": op.name, "kind": op.kind, "inputs": list(op.inputs), "output": op.output,
                 "attrs": {k: str(v) if isinstance(v, BITS_VAR_TYPES) else v for k, v in op.attrs.items()}}
        if op.weights:
            entry["weight_bits"] = sorted(op.weights)
            for b in entry["weight_bits"]:
                arrays[f"{op.name}/w/{b}"] = op.weights[b]
        if op.requant:
            keys = sorted(op.requant)
            entry["requant_keys"] = [_key(k) for k in keys]
            for field in ("m0", "shift", "bias", "frac"):
                arrays[f"{op.name}/rq/{field}"] = np.stack([getattr(op.requant[k], field) for k in keys])
        if op.bias:
            keys = sorted(op.bias)
            entry["bias_keys"] = [_key(k) for k in keys]
            arrays[f"{op.name}/bias"] = np.stack([op.bias[k] for k in keys])
        ops.append(entry)
    manifest = {
        "format": FORMAT, "version": VERSION,
        "input_name": ir.input_name, "input_shape": list(ir.input_shape), "input_bits": ir.input_bits,
        "num_classes": ir.num_classes, "candidate_bits": list(ir.candidate_bits), "source": ir.source,
        "layers": [{"name": l.name, "kind": l.kind, "w_choices": list(l.w_choices), "a_choices": list(l.a_choices),
                    "a_tied_to": l.a_tied_to, "macs": l.macs, "block": l.block, "params": l.params} for l in ir.table],
        "tensors": {t: str(v) for t, v in ir.tensors.items()}, "ops": ops,
        "arrays": {n: {"dtype": a.dtype.str, "shape": list(a.shape), "sha256": _sha(a)} for n, a in arrays.items()},
    }
    arrays[_MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(path)


def load_ir(path: str | Path) -> IntModel:
    path = Path(path)
    if not path.is_file():
        raise IRFormatError(f"integer model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {n: z[n] for n in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zipfile.LargeZipFile) as e:
        raise IRFormatError(f"{path}: not a readable integer model (truncated or not an .npz: "
                            f"{type(e).__name__}: {str(e)[:200]})") from None
    if _MANIFEST not in arrays:
        raise IRFormatError(f"{path}: no manifest; not a {FORMAT} file")
    try:
        m = json.loads(arrays.pop(_MANIFEST).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IRFormatError(f"{path}: manifest is not valid JSON ({e})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise IRFormatError(f"{path}: format tag {m.get('format') if isinstance(m, dict) else None!r}, "
                            f"expected {FORMAT!r}")
    if m.get("version") != VERSION:
        raise IRFormatError(f"{path}: integer model version {m.get('version')!r}; this code reads version {VERSION} "
                            f"(export the checkpoint again with `bitmixer export`)")
    _check_arrays(path, m.get("arrays"), arrays)
    try:
        ir = _build(m, arrays)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        if isinstance(e, UserError):
            raise IRFormatError(f"{path}: {e}") from None
        raise IRFormatError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from None
    try:
        return validate(ir)
    except IRError as e:
        raise IRFormatError(f"{path}: {e}") from None


def _check_arrays(path: Path, listing, arrays: dict[str, np.ndarray]) -> None:
    if not isinstance(listing, dict):
        raise IRFormatError(f"{path}: manifest lacks the array listing")
    missing = sorted(set(listing) - set(arrays))
    extra = sorted(set(arrays) - set(listing))
    if missing or extra:
        raise IRFormatError(f"{path}: arrays missing {missing[:5]} / not in the manifest {extra[:5]}")
    for name, info in listing.items():
        a = arrays[name]
        if a.dtype.str != info.get("dtype") or list(a.shape) != info.get("shape"):
            raise IRFormatError(f"{path}: array {name!r} is {a.dtype.str} {list(a.shape)}, manifest says "
                                f"{info.get('dtype')} {info.get('shape')}")
        if _sha(a) != info.get("sha256"):
            raise IRFormatError(f"{path}: array {name!r} fails its sha256 check (tampered or corrupt)")


def _build(m: dict, arrays: dict[str, np.ndarray]) -> IntModel:
    layers = tuple(Layer(l["name"], l["kind"], tuple(l["w_choices"]), tuple(l["a_choices"]), l["a_tied_to"],
                         int(l["macs"]), str(l["block"]), int(l["params"])) for l in m["layers"])
    ops = []
    for e in m["ops"]:
        op = Op(e["name"], e["kind"], tuple(e["inputs"]), e["output"], dict(e["attrs"]))
        for b in e.get("weight_bits", []):
            op.weights[int(b)] = arrays[f"{op.name}/w/{b}"]
        if "requant_keys" in e:
            m0, sh, bias, frac = (arrays[f"{op.name}/rq/{f}"] for f in ("m0", "shift", "bias", "frac"))
            for i, k in enumerate(e["requant_keys"]):
                op.requant[tuple(int(v) for v in k)] = Requant(m0[i], sh[i], bias[i], frac[i])
        if "bias_keys" in e:
            b = arrays[f"{op.name}/bias"]
            for i, k in enumerate(e["bias_keys"]):
                op.bias[tuple(int(v) for v in k)] = b[i]
        ops.append(op)
    table = LayerTable(layers, tuple(m["candidate_bits"]))
    return IntModel(table, dict(m["tensors"]), ops, m["input_name"], tuple(m["input_shape"]), int(m["num_classes"]),
                    int(m["input_bits"]), dict(m.get("source", {})))
