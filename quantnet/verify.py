"""Three-way check of one config: fake-quant torch vs the torch integer reference vs the numba simulator.

The two integer paths must agree on every value of every op output (their mismatch counts must be 0).
Fake-quant and integer agreement is measured: activation codes at every site (fake-quant code =
round(site output / step), read with forward hooks) and top-1 predictions.
"""
from __future__ import annotations

import numpy as np
import torch

from hwsim.executor import execute
from hwsim.ir import IntModel

from .bitconfig import BitConfig
from .intref import run_reference
from .models import MetaResNet


@torch.no_grad()
def fake_quant_codes(model: MetaResNet, cfg: BitConfig, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(float logits, {site path: int64 codes}) of the fake-quant model at cfg."""
    model.eval()
    model.configure(cfg)
    codes: dict[str, np.ndarray] = {}
    hooks = []
    for path, _ in model.act_sites:
        site = model.get_submodule(path)
        hooks.append(site.register_forward_hook(
            lambda mod, inp, out, p=path: codes.__setitem__(
                p, torch.round(out / mod.step().detach().clamp_min(1e-8)).to(torch.int64).numpy())))
    try:
        logits = model(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    finally:
        for h in hooks:
            h.remove()
    return logits, codes


def check_config(model: MetaResNet, ir: IntModel, cfg: BitConfig, x: np.ndarray, y: np.ndarray,
                 acc_bits: int = 32) -> dict:
    """Per-op mismatch counts between the integer paths, fake-quant agreement and each path's accuracy."""
    fq_logits, fq_codes = fake_quant_codes(model, cfg, x)
    ref_logits, ref = run_reference(ir, cfg.bits, x, trace=True)
    sim = execute(ir, cfg.bits, x, acc_bits=acc_bits, trace=True)
    layers = []
    total_mm = agree = compared = 0
    for op in ir.ops:
        t = op.output
        mm = int(np.count_nonzero(ref[t] != sim.codes[t])) if ref[t].shape == sim.codes[t].shape else int(ref[t].size)
        row = {"op": op.name, "kind": op.kind, "tensor": t, "elements": int(ref[t].size), "mismatches": mm,
               "code_agreement": None}
        if t in fq_codes:  # tensors an activation site quantises carry the site's name
            same = int(np.count_nonzero(fq_codes[t] == ref[t]))
            row["code_agreement"] = same / max(1, ref[t].size)
            agree, compared = agree + same, compared + ref[t].size
        total_mm += mm
        layers.append(row)
    fq_top, ref_top, sim_top = fq_logits.argmax(1), ref_logits.argmax(1), sim.logits.argmax(1)
    w, a = cfg.avg_bits(model.spec)
    return {"config": cfg.name, "avg_w_bits": w, "avg_a_bits": a,
            "bits": {k: list(v) for k, v in cfg.bits.items()},
            "integer_mismatches": total_mm, "codes_compared": int(compared), "codes_agreeing": int(agree),
            "code_agreement": agree / max(1, compared),
            "top1_agreement": float((fq_top == ref_top).mean()),
            "accuracy_fake_quant": float((fq_top == y).mean()), "accuracy_int_reference": float((ref_top == y).mean()),
            "accuracy_simulator": float((sim_top == y).mean()),
            "acc_ranges": {k: list(v) for k, v in sim.acc_ranges.items()}, "layers": layers}


def summarise(results: list[dict], samples: int) -> dict:
    compared = sum(r["codes_compared"] for r in results)
    n = len(results)
    return {"configs_checked": n, "samples": samples,
            "integer_mismatches": int(sum(r["integer_mismatches"] for r in results)),
            "code_agreement": sum(r["codes_agreeing"] for r in results) / max(1, compared),
            "top1_agreement": float(np.mean([r["top1_agreement"] for r in results])) if n else 0.0,
            "min_top1_agreement": float(min((r["top1_agreement"] for r in results), default=0.0)),
            "accuracy": {k: float(np.mean([r[f"accuracy_{k}"] for r in results])) if n else 0.0
                         for k in ("fake_quant", "int_reference", "simulator")}}
