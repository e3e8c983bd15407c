"""`search fracbits` as one call: load the checkpoint and its data, price the network, resolve the
budget, learn λ on the training split, round, measure the chosen config on the test samples (as
`bitmixer eval` does), and write the config, the λ trajectory and the resolved settings."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from ..checkpoint import load_checkpoint
from ..data import load_dataset
from ..evaluate import accuracy
from .budget import format_cost, parse_budget
from .costs import extreme_configs, network_table
from .outputs import plot_trajectory, write_trajectory_csv
from .search import SearchSettings, search_frozen


def run_fracbits(checkpoint: str, cost: str, budget: str, out_dir: str | Path, hw: str | None = None,
                 settings: SearchSettings = SearchSettings(), samples: int | None = None, data: str | None = None,
                 data_dir: str | None = None, progress: bool = True) -> dict:
    """Search, write DIR/config.yaml, trajectory.csv, trajectory.png and settings.yaml; returns the summary."""
    model, extra = load_checkpoint(checkpoint)
    table, clock = network_table(model, cost, hw)
    lo_cfg, hi_cfg = extreme_configs(model.spec)
    lo, hi = table.total(lo_cfg.bits), table.total(hi_cfg.bits)
    b = parse_budget(budget, cost, lo, hi, clock)
    ds = load_dataset(data or extra.get("data", "digits"), data_dir or extra.get("data_dir"))
    result = search_frozen(model, table, b.target, ds.x_train, ds.y_train, settings, progress)
    x, y = ds.x_test[:samples], ds.y_test[:samples]
    acc = accuracy(model, result.config, x, y)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.config.save(out / "config.yaml")
    write_trajectory_csv(result.trajectory, out / "trajectory.csv")
    plot_trajectory(result.trajectory, list(result.lam), b.target, b.unit, out / "trajectory.png",
                    f"FracBits: {cost}{' on ' + str(hw) if hw else ''}, budget {budget} "
                    f"({format_cost(b.target, cost, clock)})")
    resolved = {"checkpoint": str(checkpoint), "data": ds.name, "cost": cost, "hw": hw, "budget": str(budget),
                "target": b.target, "unit": b.unit, "budget_fraction": b.fraction,
                "all_lowest": {"config": lo_cfg.name, "cost": lo}, "all_highest": {"config": hi_cfg.name, "cost": hi},
                "train_samples": int(len(ds.y_train)), "test_samples": int(len(y)),
                "settings": dataclasses.asdict(settings)}
    (out / "settings.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    w, a = result.config.avg_bits(model.spec)
    return {**resolved, "config": result.config.to_dict(), "cost_of_config": result.cost,
            "cost_text": format_cost(result.cost, cost, clock), "target_text": format_cost(b.target, cost, clock),
            "within_budget": result.cost <= b.target, "offset": result.offset, "lambda": result.lam,
            "accuracy": acc, "avg_w_bits": w, "avg_a_bits": a, "search_seconds": result.seconds,
            "outputs": {k: str(out / f) for k, f in (("config", "config.yaml"), ("trajectory_csv", "trajectory.csv"),
                                                      ("trajectory_plot", "trajectory.png"),
                                                      ("settings", "settings.yaml"))}}
