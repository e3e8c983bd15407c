"""`search fracbits` as one call: load the checkpoint and its data, price the network, resolve the
budget, learn λ on the training split, round, measure the chosen config on the test samples (as
`bitmixer eval` does), and write the config, the λ trajectory and the resolved settings."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import yaml

from ..checkpoint import load_checkpoint, save_checkpoint
from ..data import load_dataset
from ..evaluate import accuracy
from .budget import format_cost, parse_budget
from .costs import extreme_configs, network_table
from .outputs import plot_trajectory, write_trajectory_csv
from .end_to_end import EndToEndSettings, train_end_to_end
from .search import SearchSettings, search_frozen


def run_fracbits(checkpoint: str, cost: str, budget: str, out_dir: str | Path, hw: str | None = None,
                 settings: SearchSettings = SearchSettings(), samples: int | None = None, data: str | None = None,
                 data_dir: str | None = None, progress: bool = True, end_to_end: EndToEndSettings | None = None) -> dict:
    """Search, write DIR/config.yaml, trajectory.csv, trajectory.png and settings.yaml; returns the summary.
    With `end_to_end`, weights train with λ and are fine-tuned at the chosen config: DIR/checkpoint.pt."""
    model, extra = load_checkpoint(checkpoint)
    table, clock = network_table(model, cost, hw)
    lo_cfg, hi_cfg = extreme_configs(model.spec)
    lo, hi = table.total(lo_cfg.bits), table.total(hi_cfg.bits)
    b = parse_budget(budget, cost, lo, hi, clock)
    ds = load_dataset(data or extra.get("data", "digits"), data_dir or extra.get("data_dir"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if end_to_end is None:
        result = search_frozen(model, table, b.target, ds.x_train, ds.y_train, settings, progress)
        cfg, trajectory, names = result.config, result.trajectory, list(result.lam)
        found = {"cost_of_config": result.cost, "offset": result.offset, "lambda": result.lam,
                 "search_seconds": result.seconds}
    else:
        t0 = time.perf_counter()
        cfg, trajectory = train_end_to_end(model, table, b.target, ds.x_train, ds.y_train, end_to_end, progress)
        names = [k for k in trajectory[0] if k not in ("phase", "step", "task_loss", "penalty", "cost")]
        save_checkpoint(model, out / "checkpoint.pt", {**extra, "fracbits_config": cfg.to_dict()})
        found = {"cost_of_config": table.total(cfg.bits), "search_seconds": time.perf_counter() - t0,
                 "checkpoint_out": str(out / "checkpoint.pt")}
    x, y = ds.x_test[:samples], ds.y_test[:samples]
    acc = accuracy(model, cfg, x, y)
    cfg.save(out / "config.yaml")
    write_trajectory_csv(trajectory, out / "trajectory.csv")
    plot_trajectory(trajectory, names, b.target, b.unit, out / "trajectory.png",
                    f"FracBits: {cost}{' on ' + str(hw) if hw else ''}, budget {budget} "
                    f"({format_cost(b.target, cost, clock)})")
    resolved = {"checkpoint": str(checkpoint), "data": ds.name, "cost": cost, "hw": hw, "budget": str(budget),
                "target": b.target, "unit": b.unit, "budget_fraction": b.fraction,
                "all_lowest": {"config": lo_cfg.name, "cost": lo}, "all_highest": {"config": hi_cfg.name, "cost": hi},
                "train_samples": int(len(ds.y_train)), "test_samples": int(len(y)),
                "settings": dataclasses.asdict(settings if end_to_end is None else end_to_end),
                "use": "frozen meta-network" if end_to_end is None else "end to end"}
    (out / "settings.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    w, a = cfg.avg_bits(model.spec)
    return {**resolved, "config": cfg.to_dict(), **found,
            "cost_text": format_cost(found["cost_of_config"], cost, clock), "target_text": format_cost(b.target, cost, clock),
            "within_budget": found["cost_of_config"] <= b.target, "accuracy": acc, "avg_w_bits": w, "avg_a_bits": a,
            "outputs": {k: str(out / f) for k, f in (("config", "config.yaml"), ("trajectory_csv", "trajectory.csv"),
                                                      ("trajectory_plot", "trajectory.png"),
                                                      ("settings", "settings.yaml"))}}
