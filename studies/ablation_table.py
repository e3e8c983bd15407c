"""The accuracy table of runs that are already trained (`bitmixer ablation RUN...`): one row per run with
its float, uniform and random per-layer accuracies, each run measured only where its configs mean something."""
from __future__ import annotations

from pathlib import Path

from hwsim.errors import UserError

from .seeds import aggregate, seed_dir


def _checkpoint(path: str) -> Path:
    p = Path(path)
    ck = p / "checkpoint.pt" if p.is_dir() else p
    if not ck.is_file():
        raise UserError(f"{path}: no checkpoint.pt there (give a `bitmixer train` run directory or a checkpoint)")
    return ck


def run_row(path: str, spec: str, samples: int | None = None, data: str | None = None,
            data_dir: str | None = None, progress: bool = True) -> tuple[dict, list[dict]]:
    """(summary row, one result per config) of one run directory or checkpoint at the configs of SPEC."""
    from quantnet.checkpoint import load_checkpoint
    from quantnet.config_spec import parse_config_spec
    from quantnet.data import dataset_for_checkpoint, test_split
    from quantnet.evaluate import evaluate_configs, float_mode_trained, random_spread

    model, extra = load_checkpoint(_checkpoint(path))
    dataset = dataset_for_checkpoint(extra, data, data_dir, model)
    x, y = test_split(dataset, samples)
    configs = parse_config_spec(spec, model.spec)
    stages = (extra.get("train_config") or {}).get("stages") or []
    if stages and all(s["kind"] == "float" for s in stages):  # the float reference: its steps were never trained
        configs = [(n, c) for n, c in configs if c is None]
    if not float_mode_trained(extra):   # quantised training after the float stage: no float column
        configs = [(n, c) for n, c in configs if c is not None]
    if len(model.candidate_bits) == 1:  # fixed-bit baseline: random configs would all be the same uniform one
        configs = [(n, c) for n, c in configs if not n.startswith("random")]
    results = evaluate_configs(model, configs, x, y, progress)
    row = {"run": str(path), "bn": model.bn_mode, "bits": ",".join(map(str, model.candidate_bits)),
           "stages": "+".join(s["kind"] for s in stages) or "-"}
    row.update({r["config"]: r["accuracy"] for r in results if not r["config"].startswith("random")})
    spread = random_spread(results)
    if spread:
        row.update({f"random_{k}": v for k, v in spread.items()})
    return row, results


def ablation_table(runs: list[str], spec: str, samples: int | None = None, data: str | None = None,
                   data_dir: str | None = None, progress: bool = True, seeds: tuple[int, ...] | None = None) -> dict:
    """`rows`: one summary row per run; `runs`: each run's row and its per-config results. With `seeds`, each
    RUN holds one run per seed (RUN/seed<k>) and its row is the mean over them, with `_seed_std` columns."""
    rows, everything = [], []
    for path in runs:
        if seeds is None:
            row, results = run_row(path, spec, samples, data, data_dir, progress)
            everything.append({"run": str(path), "summary": row, "results": results})
        else:
            per_seed = []
            for s in seeds:
                r, results = run_row(str(seed_dir(path, s)), spec, samples, data, data_dir, progress)
                per_seed.append(r)
                everything.append({"run": str(path), "seed": s, "summary": r, "results": results})
            numeric = [k for k in per_seed[0] if k not in ("run", "bn", "bits", "stages", "random_n")]
            row = {**{k: per_seed[0][k] for k in ("bn", "bits", "stages")}, "run": str(path),
                   **aggregate(per_seed, numeric)}
            if "random_n" in per_seed[0]:
                row["random_n"] = per_seed[0]["random_n"]
        rows.append(row)
    return {"rows": rows, "runs": everything}
