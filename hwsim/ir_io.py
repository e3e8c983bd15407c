"""Save and load the integer-model IR: one .npz of plain arrays plus a versioned JSON manifest inside it.

The manifest (array "__manifest__", UTF-8 JSON) holds the format tag, version, layer table, tensors,
ops with their attributes and table keys, and each array's dtype, shape and sha256. Loading uses
np.load(allow_pickle=False) (no code runs) and checks the tag, the version, every hash and then the
graph invariants; any failure is an IRFormatError naming the file and the problem.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import documents, typed_yaml
from .bits import BITS_VAR_TYPES, Layer, LayerTable
from .errors import UserError, excerpt
from .ir import IntModel, IRError, Op, Requant
from .ir_validate import validate

FORMAT = "bitmixer-int-model"
VERSION = 6   # 2: conv requant keyed by (w, a, out, prev_bits); 3: layers carry their block and params;
              # 4: the manifest's own sha256 is stored beside it; 5: ops with weights say their weight_codes;
              # 6: a conv reading a block's output carries prev_shortcut_bits and keys (w, a, out, prev, prev_shortcut)
_MANIFEST = "__manifest__"
_DIGEST = "__manifest_sha256__"   # hex sha256 of the manifest bytes, which hold every array's sha256
MAX_UNCOMPRESSED = 1 << 30        # bytes of all members together: far above any model this project exports
MAX_MEMBERS = 100_000


class IRFormatError(IRError):
    """An IR file that is missing, truncated, tampered with or of another version."""


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _key(k: tuple[int, ...]) -> list[int]:
    return [int(v) for v in k]


def save_ir(ir: IntModel, path: str | Path) -> None:
    validate(ir)
    path = Path(path)
    if path.is_dir():
        raise IRFormatError(f"{path}: is a directory; give the .npz file to write")
    arrays: dict[str, np.ndarray] = {}
    ops = []
    for op in ir.ops:
        entry = {"name": op.name, "kind": op.kind, "inputs": list(op.inputs), "output": op.output,
                 "attrs": {k: str(v) if isinstance(v, BITS_VAR_TYPES) else v for k, v in op.attrs.items()}}
        if op.weights:
            entry["weight_bits"] = sorted(op.weights)
            entry["weight_codes"] = op.weight_codes
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
    text = json.dumps(manifest).encode()
    arrays[_MANIFEST] = np.frombuffer(text, dtype=np.uint8)
    arrays[_DIGEST] = np.frombuffer(hashlib.sha256(text).hexdigest().encode(), dtype=np.uint8)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise IRFormatError(f"{path}: cannot write ({e.strerror})") from None


def load_ir(path: str | Path) -> IntModel:
    path = Path(path)
    if not path.is_file():
        raise IRFormatError(f"integer model file {path} does not exist")
    arrays = _read_members(path)
    if _MANIFEST not in arrays:
        raise IRFormatError(f"{path}: no manifest; not a {FORMAT} file")
    text = arrays.pop(_MANIFEST).tobytes()
    digest = arrays.pop(_DIGEST, np.zeros(0, np.uint8)).tobytes()
    m = documents.parse(text.decode("utf-8", "replace"), f"{path}: manifest", IRFormatError, "json")
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise IRFormatError(f"{path}: format tag {excerpt(m.get('format') if isinstance(m, dict) else None)}, "
                            f"expected {FORMAT!r}")
    if m.get("version") != VERSION:
        raise IRFormatError(f"{path}: integer model version {excerpt(m.get('version'))}; this code reads version "
                            f"{VERSION} (export the checkpoint again with `bitmixer export`)")
    if digest != hashlib.sha256(text).hexdigest().encode():
        raise IRFormatError(f"{path}: the manifest fails its sha256 check (edited or corrupt)")
    _check_arrays(path, m.get("arrays"), arrays)
    try:
        ir = _build(m, arrays, f"{path}: manifest")
    except IRFormatError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as e:
        if isinstance(e, UserError):
            raise IRFormatError(f"{path}: {e}") from None
        raise IRFormatError(f"{path}: malformed manifest ({type(e).__name__}: {excerpt(str(e), 200)})") from None
    try:
        return validate(ir)
    except IRError as e:
        raise IRFormatError(f"{path}: {e}") from None


def _read_members(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz, after checking the archive's declared sizes (a zip bomb is refused unread)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
        if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNCOMPRESSED:
            raise IRFormatError(f"{path}: {len(infos)} members of {sum(i.file_size for i in infos)} bytes "
                                f"uncompressed; more than an integer model may hold ({MAX_UNCOMPRESSED} bytes)")
        with np.load(path, allow_pickle=False) as z:
            return {n: z[n] for n in z.files}
    except IRFormatError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile, zlib and numpy's format reader raise many types for corrupt bytes
        raise IRFormatError(f"{path}: not a readable integer model (truncated or not an .npz: "
                            f"{type(e).__name__}: {excerpt(str(e), 200)})") from None


def _check_arrays(path: Path, listing, arrays: dict[str, np.ndarray]) -> None:
    if not isinstance(listing, dict):
        raise IRFormatError(f"{path}: manifest lacks the array listing")
    missing = sorted(set(listing) - set(arrays))
    extra = sorted(set(arrays) - set(listing))
    if missing or extra:
        raise IRFormatError(f"{path}: arrays missing {missing[:5]} / not in the manifest {extra[:5]}")
    for name, info in listing.items():
        if not isinstance(info, dict):
            raise IRFormatError(f"{path}: manifest entry of array {name!r} is not a mapping")
        a = arrays[name]
        if a.dtype.str != info.get("dtype") or list(a.shape) != info.get("shape"):
            raise IRFormatError(f"{path}: array {name!r} is {a.dtype.str} {list(a.shape)}, manifest says "
                                f"{info.get('dtype')} {info.get('shape')}")
        if _sha(a) != info.get("sha256"):
            raise IRFormatError(f"{path}: array {name!r} fails its sha256 check (tampered or corrupt)")


@dataclass(frozen=True)
class _OpEntry:
    """One op of the manifest, key for key (attrs are checked by the op's kind)."""
    name: str
    kind: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict
    weight_bits: tuple[int, ...] = ()
    weight_codes: str = "per_width"
    requant_keys: tuple[tuple[int, ...], ...] | None = None
    bias_keys: tuple[tuple[int, ...], ...] | None = None


@dataclass(frozen=True)
class _Manifest:
    format: str
    version: int
    input_name: str
    input_shape: tuple[int, ...]
    input_bits: int
    num_classes: int
    candidate_bits: tuple[int, ...]
    source: dict
    layers: tuple[Layer, ...]
    tensors: dict[str, str]
    ops: tuple[_OpEntry, ...]
    arrays: dict


def _rows(arrays: dict[str, np.ndarray], name: str, keys) -> np.ndarray:
    a = arrays[name]
    if a.ndim < 1 or a.shape[0] != len(keys) or len(set(keys)) != len(keys):
        raise IRError(f"array {name!r} has {a.shape[0] if a.ndim else 0} rows for {len(keys)} distinct keys")
    return a


def _build(data: dict, arrays: dict[str, np.ndarray], where: str) -> IntModel:
    m = typed_yaml.build(_Manifest, data, where, IRFormatError)
    ops = []
    for e in m.ops:
        op = Op(e.name, e.kind, e.inputs, e.output, dict(e.attrs), weight_codes=e.weight_codes)
        if len(set(e.weight_bits)) != len(e.weight_bits):
            raise IRError(f"op {e.name!r}: weight_bits {list(e.weight_bits)} repeat a width")
        for b in e.weight_bits:
            op.weights[b] = arrays[f"{op.name}/w/{b}"]
        if e.requant_keys is not None:
            m0, sh, bias, frac = (_rows(arrays, f"{op.name}/rq/{f}", e.requant_keys)
                                  for f in ("m0", "shift", "bias", "frac"))
            for i, k in enumerate(e.requant_keys):
                op.requant[k] = Requant(m0[i], sh[i], bias[i], frac[i])
        if e.bias_keys is not None:
            b = _rows(arrays, f"{op.name}/bias", e.bias_keys)
            for i, k in enumerate(e.bias_keys):
                op.bias[k] = b[i]
        ops.append(op)
    return IntModel(LayerTable(m.layers, m.candidate_bits), dict(m.tensors), ops, m.input_name, m.input_shape,
                    m.num_classes, m.input_bits, dict(m.source))
