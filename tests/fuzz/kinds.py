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
from .mutators import dump_yaml, mutate_tree, mutate_yaml_text

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
