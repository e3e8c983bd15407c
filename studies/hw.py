"""Accelerators for studies, from hw_configs/*.yaml and hwsim's dataflow cost model, priced on the
layer shapes of the exported integer model (so the studies cost exactly what hwsim estimates)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from hwsim.dataflow.cost_table import from_cost_model
from hwsim.dataflow.costmodel import NetworkCost
from hwsim.dataflow.graph import shapes_from_ir
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config

from .costs import Accelerator

HW_DIR = Path(__file__).resolve().parents[1] / "hw_configs"


def hw_config_paths(names: Sequence[str] = ()) -> list[Path]:
    """Names (a file stem in hw_configs/) or paths; none: every hw_configs/*.yaml, in name order."""
    if not names:
        paths = sorted(HW_DIR.glob("*.yaml"))
        if not paths:
            raise UserError(f"no accelerator configs in {HW_DIR}")
        return paths
    out = []
    for n in names:
        p = Path(n)
        if p.suffix in (".yaml", ".yml") and p.is_file():
            out.append(p)
        elif (HW_DIR / f"{n}.yaml").is_file():
            out.append(HW_DIR / f"{n}.yaml")
        else:
            known = ", ".join(q.stem for q in sorted(HW_DIR.glob("*.yaml")))
            raise UserError(f"accelerator {n!r}: not a file and not one of hw_configs/ ({known})")
    return out


def accelerator(hw, shapes) -> Accelerator:
    cost = NetworkCost(shapes, hw)
    names = tuple(s.name for s in shapes)

    def totals(configs):
        w = np.array([[c[n][0] for n in names] for c in configs], np.int64).reshape(len(configs), len(names))
        a = np.array([[c[n][1] for n in names] for c in configs], np.int64).reshape(len(configs), len(names))
        r = cost.evaluate_many(w, a)
        return r["energy_pj"], r["cycles"]

    def per_layer(config):
        rows = cost.layers(config)
        return np.array([r["energy_pj"] for r in rows]), np.array([r["cycles"] for r in rows])

    return Accelerator(hw.name, names, totals, per_layer, hw.clock_hz, hw.pe.kind,
                       lambda choices, metric: from_cost_model(cost, choices, metric))


def load_accelerators(ir, names: Sequence[str] = ()) -> list[Accelerator]:
    """One Accelerator per config; two configs with one `name:` are an error (their rows would overwrite)."""
    shapes = shapes_from_ir(ir)
    configs = [load_hw_config(p) for p in hw_config_paths(names)]
    seen: dict[str, str] = {}
    for hw in configs:
        if hw.name in seen:
            raise UserError(f"{hw.source}: design name {hw.name!r} is also the name of {seen[hw.name]}; "
                            f"each design in a study needs its own name")
        seen[hw.name] = hw.source
    return [accelerator(hw, shapes) for hw in configs]
