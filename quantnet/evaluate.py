"""Accuracy of a meta-network at given bit configurations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hwsim.bits import BitConfig
from hwsim.errors import UserError

from .checkpoint import load_checkpoint
from .config_spec import parse_config_spec
from .data import batches, dataset_for_checkpoint, test_split
from .models import MetaResNet


@torch.no_grad()
def predict_configured(model: MetaResNet, x: np.ndarray, batch_size: int = 512, device: str = "cpu") -> np.ndarray:
    """Logits (float) of the model as it is configured now, in eval mode, on uint8 codes x."""
    was = model.training
    model.eval()
    outs = [model(xb.to(device)).cpu().numpy() for xb, _ in batches(x, np.zeros(len(x), np.int64), batch_size)]
    model.train(was)
    return np.concatenate(outs) if outs else np.zeros((0, model.arch.num_classes), np.float32)


def predict(model: MetaResNet, cfg: BitConfig | None, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Logits of the fake-quant model at cfg (None: float) on uint8 codes x."""
    model.configure(cfg)
    return predict_configured(model, x, batch_size)


def accuracy_configured(model: MetaResNet, x: np.ndarray, y: np.ndarray, batch_size: int = 512,
                        device: str = "cpu") -> float:
    """Top-1 accuracy of the model as it is configured now (any mode, e.g. a training stage's)."""
    if len(y) == 0:
        raise ValueError("cannot measure accuracy on an empty set")
    return float((predict_configured(model, x, batch_size, device).argmax(1) == y).mean())


def accuracy(model: MetaResNet, cfg: BitConfig | None, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    model.configure(cfg)
    return accuracy_configured(model, x, y, batch_size)


def evaluate_configs(model: MetaResNet, configs, x: np.ndarray, y: np.ndarray, progress: bool = True) -> list[dict]:
    """One row per (name, BitConfig | None): average bits, bit-operations, top-1 accuracy, the bits."""
    results = []
    for name, cfg in tqdm(configs, desc="eval", disable=not progress or len(configs) < 4, leave=False):
        w, a = (32.0, 32.0) if cfg is None else cfg.avg_bits(model.spec)
        results.append({"config": name, "avg_w_bits": w, "avg_a_bits": a,
                        "bitops": None if cfg is None else cfg.bitops(model.spec),
                        "accuracy": accuracy(model, cfg, x, y), "samples": int(len(y)),
                        "bits": None if cfg is None else {k: list(v) for k, v in cfg.bits.items()}})
    return results


def random_spread(results: list[dict]) -> dict | None:
    """Mean, min, max and count of the accuracies of the random configs among results (None: there are none)."""
    rand = [r["accuracy"] for r in results if r["config"].startswith("random")]
    if not rand:
        return None
    return {"mean": float(np.mean(rand)), "min": float(np.min(rand)), "max": float(np.max(rand)), "n": len(rand)}


class FloatModeUntrained(UserError):
    """The float mode of a network whose training went on, quantised, after its float stage."""


def float_mode_trained(extra: dict) -> bool:
    """Whether the float mode is one of the trained networks: training ended with a float stage (or there is
    no training record). A meta-network's later stages train only quantised sub-networks; the weights move,
    and only the float BN entries' statistics follow them (calibration), so its float accuracy is promised
    by nothing. The float reference is the float stage's own network (a configs/train/float.yaml run)."""
    stages = (extra.get("train_config") or {}).get("stages") or []
    return not stages or stages[-1].get("kind") == "float"


def check_float_mode(path: str | Path, extra: dict) -> None:
    """FloatModeUntrained, naming the checkpoint and its last stage, unless its float mode is trained."""
    if not float_mode_trained(extra):
        last = extra["train_config"]["stages"][-1]
        raise FloatModeUntrained(
            f"{path}: --config fp: this network's float mode is not trained (training went on after its float "
            f"stage, ending with {last.get('kind')} stage {last.get('name')!r}), so its float accuracy means "
            f"nothing. Use a float network as the reference: `bitmixer train --config configs/train/float.yaml`.")


def evaluate_checkpoint(path: str | Path, spec: str, data: str | None = None, data_dir: str | None = None,
                        samples: int | None = None, progress: bool = True) -> dict:
    """Accuracy of a checkpoint at the configs of SPEC (config_spec grammar) on the first `samples` test samples
    of `data` (default: its training data set). `results`: one row per config; `summary`: the same with the
    random configs folded into one mean/min/max row."""
    model, extra = load_checkpoint(path)
    dataset = dataset_for_checkpoint(extra, data, data_dir, model)
    x, y = test_split(dataset, samples)
    configs = parse_config_spec(spec, model.spec)
    if any(c is None for _, c in configs):
        check_float_mode(path, extra)
    results = evaluate_configs(model, configs, x, y, progress)
    summary = [dict(r) for r in results if not r["config"].startswith("random")]
    spread = random_spread(results)
    if spread:
        summary.append({"config": f"random x{spread['n']} (mean)", "accuracy": spread["mean"],
                        "min": spread["min"], "max": spread["max"], "samples": results[-1]["samples"]})
    return {"checkpoint": str(path), "data": dataset.name, "results": results, "summary": summary}
