"""Three-way check of one config: fake-quant torch vs the torch integer reference vs the numba simulator.

The two integer paths must agree on every value of every op output (their mismatch counts must be 0).
Fake-quant and integer agreement is measured: activation codes at every site (fake-quant code =
round(site output / step), read with forward hooks) and top-1 predictions.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hwsim.bits import BitConfig, all_uniform, random_configs
from hwsim.errors import UserError
from hwsim.executor import execute
from hwsim.ir import IntModel
from hwsim.ir_io import load_ir
from hwsim.per_sample import execute_per_sample, group_by_config

from .adaptive.integer import reference_per_sample
from .adaptive.policy import AdaptivePolicy, load_policy
from .adaptive.rollout import run_policy
from .checkpoint import load_checkpoint
from .config_spec import parse_config_spec
from .data import dataset_for_checkpoint, test_split
from .export import export_model
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
                 acc_bits: int = 32, batch_size: int = 256) -> dict:
    """Per-op mismatch counts between the integer paths, fake-quant agreement and each path's accuracy,
    accumulated over batches (traces of every layer are held for one batch at a time)."""
    mism = {op.name: 0 for op in ir.ops}
    elems = {op.name: 0 for op in ir.ops}
    same = {op.name: 0 for op in ir.ops}
    is_site = {op.name: False for op in ir.ops}
    tops = {"fq": [], "ref": [], "sim": []}
    ranges: dict[str, list[int]] = {}
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        fq_logits, fq_codes = fake_quant_codes(model, cfg, xb)
        ref_logits, ref = run_reference(ir, cfg, xb, trace=True)
        sim = execute(ir, cfg, xb, acc_bits=acc_bits, trace=True)
        for op in ir.ops:
            a, b = ref[op.output], sim.codes[op.output]
            mism[op.name] += int(np.count_nonzero(a != b)) if a.shape == b.shape else int(a.size)
            elems[op.name] += int(a.size)
            if op.output in fq_codes:  # tensors an activation site quantises carry the site's name
                is_site[op.name] = True
                same[op.name] += int(np.count_nonzero(fq_codes[op.output] == a))
        for k, v in sim.acc_ranges.items():
            lo, hi = ranges.get(k, [v[0], v[1]])
            ranges[k] = [min(lo, v[0]), max(hi, v[1])]
        tops["fq"].append(fq_logits.argmax(1))
        tops["ref"].append(ref_logits.argmax(1))
        tops["sim"].append(sim.logits.argmax(1))
    fq_top, ref_top, sim_top = (np.concatenate(tops[k]) for k in ("fq", "ref", "sim"))
    layers = [{"op": op.name, "kind": op.kind, "tensor": op.output, "elements": elems[op.name],
               "mismatches": mism[op.name],
               "code_agreement": same[op.name] / max(1, elems[op.name]) if is_site[op.name] else None}
              for op in ir.ops]
    compared = sum(elems[n] for n in elems if is_site[n])
    agree = sum(same.values())
    w, a = cfg.avg_bits(model.spec)
    return {"config": cfg.name, "avg_w_bits": w, "avg_a_bits": a,
            "bits": {k: list(v) for k, v in cfg.bits.items()},
            "integer_mismatches": sum(mism.values()), "codes_compared": compared, "codes_agreeing": agree,
            "code_agreement": agree / max(1, compared),
            "top1_agreement": float((fq_top == ref_top).mean()),
            "accuracy_fake_quant": float((fq_top == y).mean()), "accuracy_int_reference": float((ref_top == y).mean()),
            "accuracy_simulator": float((sim_top == y).mean()), "acc_ranges": ranges, "layers": layers}


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


def check_policy(model: MetaResNet, ir: IntModel, policy: AdaptivePolicy, x: np.ndarray, y: np.ndarray,
                 acc_bits: int = 32) -> tuple[list[dict], int]:
    """check_config on each distinct config the policy picks, over the samples that picked it; and the
    logit mismatches between the executor and the reference run on the whole mixed batch."""
    run = run_policy(model, policy, x)
    results = []
    for _, idx in group_by_config([c.bits for c in run.configs]):
        cfg = run.configs[idx[0]]
        results.append({**check_config(model, ir, cfg, x[idx], y[idx], acc_bits), "samples": int(len(idx))})
    bits = [c.bits for c in run.configs]
    mixed = int(np.count_nonzero(execute_per_sample(ir, bits, x, acc_bits) != reference_per_sample(ir, bits, x)))
    return results, mixed


def verify_checkpoint(checkpoint: str | Path, ir_path: str | Path | None = None, configs: int = 50, seed: int = 0,
                      samples: int | None = None, acc_bits: int = 32, data: str | None = None,
                      data_dir: str | None = None, progress: bool = True, policy: str | Path | None = None,
                      config_spec: str | None = None) -> dict:
    """check_config at every uniform config and `configs` random per-layer ones (seeded), on the first
    `samples` test samples of `data` (default: the checkpoint's); with `config_spec` (the --config grammar
    of eval) at those configs instead; with `policy` (an adaptive policy file) at the configs it picks per
    sample, plus its whole mixed batch (check_policy). The IR is
    exported afresh unless `ir_path` names a saved one. Returns the summary (summarise) with `configs`:
    the per-config results."""
    model, extra = load_checkpoint(checkpoint)
    ir = load_ir(ir_path) if ir_path else export_model(model, {"checkpoint": str(checkpoint)})
    if ir_path and ir.table.names != model.spec.names:
        raise UserError(f"{ir_path}: its layers {ir.table.names} are not the checkpoint's {model.spec.names}")
    dataset = dataset_for_checkpoint(extra, data, data_dir, model)
    x, y = test_split(dataset, samples)
    mixed = 0
    if policy is not None:
        results, mixed = check_policy(model, ir, load_policy(policy, model), x, y, acc_bits)
    else:
        if config_spec is not None:
            cfgs = [c for _, c in parse_config_spec(config_spec, model.spec)]
            if any(c is None for c in cfgs):
                raise UserError("--config fp: the float network has no integer model to verify")
        else:
            cfgs = all_uniform(model.spec) + (random_configs(model.spec, configs, seed) if configs else [])
        results = [check_config(model, ir, cfg, x, y, acc_bits)
                   for cfg in tqdm(cfgs, desc="verify", leave=False, disable=not progress or len(cfgs) < 4)]
    summary = summarise(results, len(y))
    summary["integer_mismatches"] += mixed
    return {"checkpoint": str(checkpoint), "data": dataset.name, "acc_bits": acc_bits, **summary,
            "mixed_batch_mismatches": mixed, "configs": results}
