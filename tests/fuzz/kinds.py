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
        if rng.random() < 0.1:   # a buffer named like an entry of the cost results
            data = yaml.safe_load(text)
            bufs = data["memory"]["buffers"]
            reserved = rng.choice(["compute", "dram", "mac", "pe_local"])
            bufs[reserved] = bufs.pop(rng.choice(list(bufs)))
            text, invalid, label = dump_yaml(data), True, f"buffer named {reserved}"
        elif rng.random() < 0.6:
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
    with np.load(good, allow_pickle=False) as z:
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
            with np.load(good, allow_pickle=False) as z:   # the original digest beside an edited manifest
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


STUDIES = ("ablation", "accelerators", "pareto", "runtime-switch")


def study_config_cases(tmp: Path, n: int, seed: int, ir=None):
    """Study configs (the four shipped ones) with one mutation each, loaded into their typed config."""
    from studies.runner import default_config_path, load_study_config
    rng = random.Random(seed)
    for name in STUDIES:   # import each study (and torch) before the clock runs: an alarm mid-import breaks torch
        load_study_config(name)
    for i in range(n):
        name = rng.choice(STUDIES)
        text = default_config_path(name).read_text()
        if rng.random() < 0.6:
            data, invalid, label = mutate_tree(yaml.safe_load(text), rng, negative_invalid=False)
            text = dump_yaml(data)
        else:
            text, invalid, label = mutate_yaml_text(text, rng)
        path = _write(tmp / f"study{i}.yaml", text)
        yield Case(f"study {name} #{i} {label}", lambda name=name, path=path: load_study_config(name, path),
                   (path.name,), invalid)


def manifest_cases(tmp: Path, n: int, seed: int, ir=None):
    """study.json manifests (with a table and an image beside them) mutated, then rendered by the report.
    An accepted page must not embed anything from outside the study directory."""
    from studies.report import write_report
    rng = random.Random(seed)
    secret = tmp / "secret.csv"
    secret.write_text("SECRET,1\n")
    base = {"study": "s", "title": "T", "summary": "S", "items": [
        {"kind": "table", "file": "t.csv", "title": "a", "caption": "c", "show_rows": 40},
        {"kind": "image", "file": "f.png", "title": "b", "caption": "d"}, {"kind": "text", "title": "x", "caption": "y"}]}
    for i in range(n):
        d = tmp / f"m{i}"
        d.mkdir()
        (d / "t.csv").write_text("a,b\n1,2.5\n")
        (d / "f.png").write_bytes(b"\x89PNG")
        if rng.random() < 0.15:
            doc = json.loads(json.dumps(base))
            doc["items"][0]["file"] = rng.choice(["../secret.csv", str(secret), "/etc/passwd", "../../../../etc/passwd"])
            text, invalid, label = dump_json(doc), True, f"table file {doc['items'][0]['file']}"
        elif rng.random() < 0.7:
            doc, invalid, label = mutate_tree(base, rng, negative_invalid=False)
            text = dump_json(doc)
        else:
            text, invalid, label = mutate_yaml_text(json.dumps(base, indent=1), rng)
            invalid = invalid and label != "tab indentation"
        _write(d / "study.json", text)

        def check(page):
            body = Path(page).read_text()
            return "embeds a file from outside the study" if "SECRET" in body or "root:" in body else None

        yield Case(f"manifest #{i} {label}", lambda d=d: write_report(d), ("study.json",), invalid, check)


def checkpoint_cases(tmp: Path, n: int, seed: int, ir=None):
    """Checkpoints: corrupted bytes, or payloads with keys dropped, retyped, or tensors of another shape or
    with NaN/inf. An accepted checkpoint must export to an IR."""
    import torch

    from quantnet.checkpoint import save_checkpoint
    from quantnet.export import export_checkpoint
    from quantnet.models import build_model

    from .mutators import flip_bytes
    rng = random.Random(seed)
    torch.manual_seed(0)
    good = tmp / "good.pt"
    save_checkpoint(build_model("digits_resnet", width=2, depth=1), good)
    export_checkpoint(good)   # the first export compiles and imports; not part of any case's time
    raw = good.read_bytes()
    payload = torch.load(good, weights_only=True)
    for i in range(n):
        path = tmp / f"ck{i}.pt"
        op = rng.choice(["bytes", "payload", "tensor", "tensor", "empty"])
        invalid = True
        if op == "bytes":
            data, label = flip_bytes(raw, rng)
            path.write_bytes(data)
            invalid = False
        elif op == "empty":
            choice = rng.choice([b"", b"\x00" * 10, None])
            if choice is None:
                torch.save(rng.choice([{}, [], {"format": "bitmixer-checkpoint", "version": 2}, 3]), path)
            else:
                path.write_bytes(choice)
            label = "empty or bare"
        elif op == "payload":
            plain = {k: v for k, v in payload.items() if k != "state_dict"}
            plain, invalid, label = mutate_tree(plain, rng, negative_invalid=True)
            if isinstance(plain, dict):
                plain["state_dict"] = payload["state_dict"]
            torch.save(plain, path)
            invalid = invalid and "extra" not in label
        else:
            sd = dict(payload["state_dict"])
            key = rng.choice([k for k, v in sd.items() if v.is_floating_point() and v.numel()])
            t = sd[key].clone()
            how = rng.choice(["nan", "inf", "shape", "dtype"])
            if how == "nan":
                t.view(-1)[0] = float("nan")
            elif how == "inf":
                t.view(-1)[-1] = float("-inf")
            elif how == "shape":
                t = torch.zeros(*(s + 1 for s in t.shape)) if t.dim() else torch.zeros(2)
            else:
                t = t.to(torch.int64)
                invalid = False   # torch copies an integer tensor into a float parameter
            sd[key] = t
            torch.save(dict(payload, state_dict=sd), path)
            label = f"{key} {how}"
        yield Case(f"checkpoint #{i} {op} {label}", lambda path=path: export_checkpoint(path), (path.name,), invalid)


def _idx(magic: int, dims: list[int], body: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + body


def data_file_cases(tmp: Path, n: int, seed: int, ir=None):
    """MNIST idx files (plain and .gz) and CIFAR-10 pickled batches, small and then mutated."""
    import gzip
    import pickle

    from quantnet.data.cifar10 import load_cifar10
    from quantnet.data.mnist import FILES, load_mnist

    from .mutators import flip_bytes
    rng = random.Random(seed)
    npr = np.random.default_rng(seed)
    for i in range(n):
        d = tmp / f"d{i}"
        d.mkdir()
        if rng.random() < 0.5:
            files = {FILES["train_x"]: _idx(2051, [4, 28, 28], npr.integers(0, 256, 4 * 784, np.uint8).tobytes()),
                     FILES["train_y"]: _idx(2049, [4], bytes([1, 2, 3, 4])),
                     FILES["test_x"]: _idx(2051, [2, 28, 28], npr.integers(0, 256, 2 * 784, np.uint8).tobytes()),
                     FILES["test_y"]: _idx(2049, [2], bytes([0, 9]))}
            victim = rng.choice(list(files))
            how = rng.choice(["bytes", "dims", "labels"])
            if how == "bytes":
                files[victim], label = flip_bytes(files[victim], rng)
                invalid = False
            elif how == "dims":
                magic = 2051 if "images" in victim else 2049
                nd = 3 if magic == 2051 else 1
                dims = [rng.choice([0, 1, 2**31, 2**32 - 1, 65536]) for _ in range(nd)]
                files[victim], label, invalid = _idx(magic, dims, b"\x00" * 64), f"{victim} dims {dims}", True
            else:
                files[FILES["train_y"]] = _idx(2049, [4], bytes([1, 2, 200, 4]))
                label, invalid = "label 200 of 10 classes", True
            gz = rng.random() < 0.3
            for name, data in files.items():
                _write(d / (name + ".gz" if gz else name), gzip.compress(data) if gz else data)
            yield Case(f"mnist #{i} {label}", lambda d=d: load_mnist(d), (d.name,), invalid)
        else:
            def batch(count, labels=None, data=None):
                return {b"data": npr.integers(0, 256, (count, 3072), np.uint8) if data is None else data,
                        b"labels": list(npr.integers(0, 10, count)) if labels is None else labels}
            batches = {"data_batch_1": batch(3), "test_batch": batch(2)}
            how = rng.choice(["bytes", "labels", "data", "type"])
            invalid = True
            if how == "labels":
                batches["data_batch_1"] = batch(3, labels=rng.choice([[1, 2, 10], [-1, 0, 1], ["a", "b", "c"],
                                                                      [1.5, 2, 3], [[1], [2], [3]]]))
            elif how == "data":
                batches["test_batch"] = batch(2, data=rng.choice([np.zeros((2, 3071), np.uint8),
                                                                  np.zeros((2, 3072), np.float64), np.zeros(5)]))
            elif how == "type":
                batches["test_batch"] = rng.choice([[1, 2], {"data": None, "labels": None}, "text"])
            blobs = {k: pickle.dumps(v, protocol=2) for k, v in batches.items()}
            label = how
            if how == "bytes":
                victim = rng.choice(list(blobs))
                blobs[victim], label = flip_bytes(blobs[victim], rng)
                invalid = False
            for name, blob in blobs.items():
                _write(d / name, blob)
            yield Case(f"cifar #{i} {label}", lambda d=d: load_cifar10(d), (d.name,), invalid)
