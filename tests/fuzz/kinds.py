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
