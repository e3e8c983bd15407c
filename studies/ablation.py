"""Trainer ablation: variants of the training recipe (BN kind; 3-stage vs 1-stage; independent
fixed-bit networks), each trained and then measured on the same random per-layer configs."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hwsim.bits import BitConfig, all_uniform, random_configs
from hwsim.errors import UserError

from . import plots
from .output import StudyOutput
from .schema import to_plain
from .seeds import aggregate, seed_dir


@dataclass(frozen=True)
class Variant:
    name: str
    train: dict = field(default_factory=dict)     # trainer fields over `base` (a given `stages` replaces the list)


@dataclass(frozen=True)
class AblationConfig:
    base: dict = field(default_factory=dict)      # trainer fields every variant shares (data, model, epochs)
    variants: tuple[Variant, ...] = ()
    independent_bits: tuple[int, ...] = (2, 3, 4)  # one fixed-bit network per entry; empty: none
    independent_train: dict = field(default_factory=dict)
    random: int = 30                               # random per-layer configs each meta-network is measured on
    seed: int = 0                                  # of the random configs
    seeds: tuple[int, ...] = (0,)                  # training seeds: every network is trained once per seed
    samples: int | None = None                     # first N test samples; null: all
    reuse: bool = True                             # keep a variant's finished run instead of retraining it

    def __post_init__(self):
        names = [v.name for v in self.variants] + [f"fixed-{b}bit" for b in self.independent_bits]
        if not names:
            raise ValueError("name at least one variant or independent bit-width")
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        if self.random < 1:
            raise ValueError(f"random must be >= 1, got {self.random}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct integers >= 0, at least one, got {list(self.seeds)}")
        from quantnet.train.config import config_from_dict   # the trainer's own schema (it loads torch)

        for name, _, train_fields in plan(self):   # checked here, where the file is read, not mid-study
            try:
                config_from_dict(train_fields, f"trainer config of {name!r}")
            except UserError as e:
                raise ValueError(str(e)) from None   # the loader prefixes the study file's name


def merged(base: dict, over: dict) -> dict:
    """base with `over` laid on top, mappings merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def plan(cfg: AblationConfig) -> list[tuple[str, str, dict]]:
    """[(name, kind, trainer config dict)]: the meta-network variants, then the fixed-bit networks."""
    runs = [(v.name, "meta", merged(cfg.base, v.train)) for v in cfg.variants]
    for b in cfg.independent_bits:
        runs.append((f"fixed-{b}bit", "independent",
                     merged(merged(cfg.base, cfg.independent_train), {"candidate_bits": [b]})))
    return runs


def train_all(cfg: AblationConfig, runs_dir: Path, progress: bool) -> dict[tuple[str, int], Path]:
    """Every network of the plan once per training seed, into runs_dir/NAME/seed<k>."""
    from quantnet.train import RunDir, train
    from quantnet.train.config import config_from_dict

    ckpts = {}
    jobs = [(name, seed, tdict) for name, _, tdict in plan(cfg) for seed in cfg.seeds]
    for name, seed, tdict in tqdm(jobs, desc="ablation: train", disable=not progress):
        tcfg = config_from_dict({**tdict, "seed": seed}, f"ablation variant {name!r}, seed {seed}")
        run_dir = seed_dir(runs_dir / name, seed)
        ckpt = run_dir / "checkpoint.pt"
        if not (cfg.reuse and _finished(run_dir, tcfg.total_epochs)):
            if RunDir(run_dir).has_run():
                raise UserError(f"{run_dir} holds an unfinished or different run: remove it, or set reuse")
            train(tcfg, run_dir, progress=progress)
        ckpts[(name, seed)] = ckpt
    return ckpts


def _finished(run_dir: Path, epochs: int) -> bool:
    import json
    m = run_dir / "metrics.jsonl"
    if not (run_dir / "checkpoint.pt").is_file() or not m.is_file():
        return False
    lines = [l for l in m.read_text().splitlines() if l.strip()]
    return bool(lines) and json.loads(lines[-1]).get("epoch") == epochs


def measure(cfg: AblationConfig, ckpts: dict[tuple[str, int], Path], progress: bool) -> list[dict]:
    """One row per (network, training seed, config): the random per-layer configs and the uniform ones."""
    from quantnet.checkpoint import load_checkpoint
    from quantnet.data import load_dataset
    from quantnet.evaluate import accuracy

    kinds = {n: k for n, k, _ in plan(cfg)}
    rows, data = [], {}
    for (name, seed), path in tqdm(ckpts.items(), desc="ablation: measure", disable=not progress):
        model, extra = load_checkpoint(path)
        key = (extra.get("data", "digits"), extra.get("data_dir"))
        if key not in data:
            data[key] = load_dataset(*key)
        x, y = data[key].x_test[:cfg.samples], data[key].y_test[:cfg.samples]
        configs: list[tuple[str, BitConfig]] = [("uniform", c) for c in all_uniform(model.spec)]
        if kinds[name] == "meta":
            configs += [("random", c) for c in random_configs(model.spec, cfg.random, cfg.seed)]
        for group, c in configs:
            w, a = c.avg_bits(model.spec)
            rows.append({"network": name, "seed": seed, "kind": kinds[name], "bn_mode": model.bn_mode, "group": group,
                         "config": c.name, "avg_w_bits": w, "avg_a_bits": a,
                         "accuracy": _one_thread(accuracy, model, c, x, y)})
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """One row per network: each figure (over its random configs: mean, std, min, max; each uniform
    config) is the mean over training seeds, with its `_seed_std` across them."""
    out = []
    for name in dict.fromkeys(r["network"] for r in rows):
        mine = [r for r in rows if r["network"] == name]
        per_seed = [_one_seed([r for r in mine if r["seed"] == s]) for s in dict.fromkeys(r["seed"] for r in mine)]
        keys = [k for k in per_seed[0] if k != "random_configs"]
        row = {"network": name, "kind": mine[0]["kind"], "bn_mode": mine[0]["bn_mode"],
               "random_configs": per_seed[0]["random_configs"], **aggregate(per_seed, keys)}
        row.update({k: None for k in ("mean", "std", "min", "max") if k not in row})
        out.append(row)
    return out


def _one_seed(mine: list[dict]) -> dict:
    rnd = np.array([r["accuracy"] for r in mine if r["group"] == "random"])
    row = {"random_configs": len(rnd)}
    if len(rnd):
        row.update({"mean": float(rnd.mean()), "std": float(rnd.std()), "min": float(rnd.min()), "max": float(rnd.max())})
    row.update({r["config"]: r["accuracy"] for r in mine if r["group"] == "uniform"})
    return row


def run(cfg: AblationConfig, out: StudyOutput, progress: bool = True) -> list[dict]:
    ckpts = train_all(cfg, out.dir / "runs", progress)
    rows = measure(cfg, ckpts, progress)
    table = summary(rows)
    _write(cfg, rows, table, out)
    return table


def _write(cfg, rows, table, out: StudyOutput) -> None:
    out.resolved_config(to_plain(cfg) | {"trainer_configs": {n: t for n, _, t in plan(cfg)}})
    names = [r["network"] for r in table]
    fig, ax = plots.plt.subplots(figsize=(1.3 * len(names) + 3, 4), layout="constrained")
    meta = [i for i, r in enumerate(table) if r["kind"] == "meta"]
    ax.boxplot([[r["accuracy"] for r in rows if r["network"] == names[i] and r["group"] == "random"] for i in meta],
               positions=[i + 1 for i in meta], widths=0.5)
    uniform = sorted({r["config"] for r in rows if r["group"] == "uniform"})
    cmap = plots.plt.get_cmap("viridis")
    for k, cname in enumerate(uniform):
        pts = [(i + 1, r["accuracy"]) for i, n in enumerate(names) for r in rows
               if r["network"] == n and r["config"] == cname]
        ax.scatter(*zip(*pts), marker="D", s=28, zorder=3, color=cmap(k / max(1, len(uniform) - 1)), label=cname)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right")
    ax.set_ylabel("top-1 accuracy")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, title="uniform config", title_fontsize=7)
    out.figure("ablation_box", fig, "Accuracy over random per-layer configs, per training recipe",
               f"Boxes: each meta-network variant measured on the same {cfg.random} random per-layer configs, "
               f"every training seed ({len(cfg.seeds)}) pooled; diamonds: whole-network bit-widths, one per seed. "
               f"A fixed-bit network runs only at its own bit-width, so it has diamonds and no box.")
    out.table("ablation", table, "Summary per training recipe",
              f"Mean, spread and extremes of accuracy over the random per-layer configs, and accuracy at each "
              f"whole-network bit-width (empty where a network cannot run that config); each the mean over "
              f"{len(cfg.seeds)} training seeds {list(cfg.seeds)}, with its sample std across them (_seed_std).")
    out.table("ablation_configs", rows, "Every measurement", "Accuracy of each network at each config.",
              show_rows=20)
    best = max((r for r in table if r["mean"] is not None), key=lambda r: r["mean"], default=None)
    if best:
        out.summary = (f"{len(table)} networks trained with the same data and budget; over random per-layer "
                       f"configs {best['network']} is the most accurate on average ({best['mean']:.4f}).")


CONFIG = AblationConfig
TITLE = "Trainer ablation"


def main(cfg: AblationConfig, out_dir, checkpoint: str | None = None, progress: bool = True) -> StudyOutput:
    if checkpoint:
        raise UserError("the ablation study trains its own networks; --checkpoint does not apply")
    out = StudyOutput(out_dir, "ablation", TITLE)
    run(cfg, out, progress)
    return out


def _one_thread(fn, *args):
    from .network import torch_threads

    with torch_threads(1):   # small nets: one thread beats two contended ones
        return fn(*args)
