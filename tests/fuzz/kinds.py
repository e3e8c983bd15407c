"""Per-kind generators of fuzz cases: each yields `Case`s for one input kind from a seeded stream, so a
failing input is reproduced by its kind, seed and label."""
from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import yaml

from hwsim.bits import BitConfig
from hwsim.dataflow.estimate import estimate_configs
from hwsim.hwconfig import load_hw_config

from .harness import Case
from .mutators import dump_json, dump_yaml, mutate_tree, mutate_yaml_text

ROOT = Path(__file__).resolve().parents[2]
HW_CONFIGS = sorted((ROOT / "hw_configs").glob("*.yaml"))


def finite_numbers(obj, where="result") -> str | None:
    """The first non-finite or negative number in a cost result, or None."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if (p := finite_numbers(v, f"{where}.{k}")):
                return p
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            if (p := finite_numbers(v, f"{where}[{i}]")):
                return p
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        if not math.isfinite(obj) or obj < 0:
            return f"{where} = {obj}"
    return None


def _write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    return path


def hw_config_cases(tmp: Path, n: int, seed: int, ir):
    """Mutated accelerator configs, loaded and then costed on `ir` (a result must be finite and >= 0)."""
    rng = random.Random(seed)
    config = BitConfig.random(ir.table, np.random.default_rng(seed), "layer", name="c")
    bases = [(p, p.read_text()) for p in HW_CONFIGS]
    for i in range(n):
        base_path, text = bases[rng.randrange(len(bases))]
        if rng.random() < 0.6:
            data, invalid, label = mutate_tree(yaml.safe_load(text), rng)
            text = dump_yaml(data)
        else:
            text, invalid, label = mutate_yaml_text(text, rng)
        path = _write(tmp / f"hw{i}.yaml", text)

        def run(path=path):
            hw = load_hw_config(path)
            return estimate_configs(ir, hw, [("c", config)])

        yield Case(f"hw {base_path.name} #{i} {label}", run, (path.name,), invalid, finite_numbers)


SPEC_PARTS = ["fp", "uniform", "uniform:4", "uniform:-1", "uniform:99", "uniform:", "w4a4", "w0a0", "W8A2", "w99a4",
              "random:3", "random:1:-1", "random:0", "random:-5", "random:2000000", "random:99999999999999999999",
              "random-block:2:7", "random:1:2:3", "random:x", "random:1:" + "9" * 30, "x" * 300, "a.yaml",
              "/dev/null", "/", ".", "nonexistent.json", "\x00", "random:1e3", " , ", "uniform:٣"]


def spec_string_cases(tmp: Path, n: int, seed: int, ir):
    """--config SPEC strings: combinations of good, bad and extreme parts."""
    from quantnet.config_spec import ir_bit_configs
    rng = random.Random(seed)
    for i in range(n):
        parts = [rng.choice(SPEC_PARTS) for _ in range(rng.randrange(1, 4))]
        if rng.random() < 0.3:
            parts.append("".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(1, 40))))
        spec = ",".join(parts)
        yield Case(f"spec #{i} {spec[:60]!r}", lambda spec=spec: ir_bit_configs(ir, spec), ("--config", "bit config"),
                   check=lambda r: None if 0 < len(r) <= 10_000 else f"{len(r)} configs")


def bit_config_file_cases(tmp: Path, n: int, seed: int, ir):
    """Bit config files (YAML and JSON, one config or a list) with one mutation each."""
    from quantnet.config_spec import ir_bit_configs
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    for i in range(n):
        cfgs = [BitConfig.random(ir.table, nprng, "layer", name=f"c{j}").to_dict() for j in range(rng.randrange(1, 3))]
        doc = cfgs[0] if len(cfgs) == 1 else {"configs": cfgs}
        fmt = rng.choice(["yaml", "json"])
        if rng.random() < 0.6:
            doc, invalid, label = mutate_tree(doc, rng, negative_invalid=True)
            text = dump_yaml(doc) if fmt == "yaml" else dump_json(doc)
        else:
            text, invalid, label = mutate_yaml_text(dump_yaml(doc), rng)
            fmt = "yaml"
        path = _write(tmp / f"bits{i}.{fmt}", text)
        yield Case(f"bits {fmt} #{i} {label}", lambda path=path: ir_bit_configs(ir, str(path)), (path.name,), invalid)


def _repack(path: Path, manifest: dict, arrays: dict, digest: bool = True) -> None:
    """Write an .npz as save_ir does, with every hash made to match: an edit a tool (or attacker) made."""
    import hashlib
    listing = {n: {"dtype": a.dtype.str, "shape": list(a.shape),
                   "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()} for n, a in arrays.items()}
    manifest = {**manifest, "arrays": listing}
    text = dump_json(manifest).encode()
    out = dict(arrays, __manifest__=np.frombuffer(text, np.uint8))
    if digest:
        out["__manifest_sha256__"] = np.frombuffer(hashlib.sha256(text).hexdigest().encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez_compressed(f, **out)


def _reshaped(a: np.ndarray, rng: random.Random) -> np.ndarray:
    """The same kind of array with a channel or row count grown or shrunk (values kept in range): weights
    (O, C, kh, kw) on O or C, requant and bias tables (keys, channels) on either. A kernel of another size
    is a consistent model, so it is not among these."""
    shape = list(a.shape)
    ax = rng.randrange(min(2, len(shape)))
    shape[ax] = max(1, shape[ax] + rng.choice([-1, 1, 2]))
    if shape == list(a.shape):
        shape[ax] += 1
    return np.resize(a, shape)


def ir_file_cases(tmp: Path, n: int, seed: int, ir):
    """IR .npz files: corrupted bytes, edited manifests (hashes kept or redone) and arrays of another shape.
    An accepted file must then run and be costed."""
    from hwsim.executor import execute
    from hwsim.hwconfig import load_hw_config
    from hwsim.ir_io import load_ir, save_ir

    from .mutators import flip_bytes
    rng = random.Random(seed)
    good = tmp / "good.npz"
    save_ir(ir, good)
    raw = good.read_bytes()
    with np.load(good) as z:
        base_arrays = {k: z[k] for k in z.files}
    manifest = json.loads(base_arrays.pop("__manifest__").tobytes())
    base_arrays.pop("__manifest_sha256__", None)
    hw = load_hw_config(HW_CONFIGS[0])
    for i in range(n):
        path = tmp / f"ir{i}.npz"
        op = rng.choice(["bytes", "manifest", "manifest", "reshape", "unhashed"])
        invalid = False
        if op == "bytes":
            data, label = flip_bytes(raw, rng)
            path.write_bytes(data)
        elif op == "manifest":
            m, invalid, label = mutate_tree({k: v for k, v in manifest.items() if k != "arrays"}, rng)
            _repack(path, m, base_arrays)
        elif op == "reshape":
            weights = [k for k in base_arrays if "/w/" in k or "/bias" in k or "/rq/" in k]
            name = rng.choice(weights)
            arrays = dict(base_arrays, **{name: _reshaped(base_arrays[name], rng)})
            _repack(path, manifest, arrays)
            invalid, label = True, f"{name} reshaped to {arrays[name].shape}"
        else:
            m = dict(manifest, source={"edited": rng.random()})
            _repack(path, {k: v for k, v in m.items() if k != "arrays"}, base_arrays, digest=False)
            with np.load(good) as z:   # the original digest beside an edited manifest
                members = {k: z[k] for k in z.files}
            members["__manifest__"] = np.frombuffer(dump_json(dict(m, arrays=manifest["arrays"])).encode(), np.uint8)
            with open(path, "wb") as f:
                np.savez_compressed(f, **members)
            invalid, label = True, "manifest edited, digest kept"

        def run(path=path):
            loaded = load_ir(path)
            x = np.random.default_rng(0).integers(0, 256, (2, *loaded.input_shape)).astype(np.uint8)
            cfg = BitConfig.random(loaded.table, np.random.default_rng(0), "layer", name="c")
            logits = execute(loaded, cfg, x, overflow="report").logits
            return logits, estimate_configs(loaded, hw, [("c", cfg)])

        def check(result):
            logits, costs = result
            if logits.dtype != np.int32 or logits.shape != (2, ir.num_classes):
                return f"logits {logits.dtype} {logits.shape}"
            return finite_numbers(costs)

        yield Case(f"ir #{i} {op} {label}", run, (path.name,), invalid, check)
