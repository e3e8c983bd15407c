"""What a search writes beside its config: the λ trajectory as CSV and as a plot."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def write_trajectory_csv(rows: Sequence[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), restval="")
        w.writeheader()
        w.writerows(rows)


def plot_trajectory(rows: Sequence[dict], names: Sequence[str], target: float, unit: str, path: Path,
                    title: str) -> None:
    """λ of every variable per step (top) and the interpolated cost against the budget (bottom)."""
    rows = [r for r in rows if all(n in r for n in names)]   # the end-to-end fine-tuning has no λ
    steps = [r["step"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, layout="constrained")
    for n in names:
        ax1.plot(steps, [r[n] for r in rows], lw=1.2, label=n)
    ax1.set_ylabel("λ (bits)")
    ax1.legend(fontsize=6, ncol=2)
    ax1.set_title(title, fontsize=9)
    ax2.plot(steps, [r["cost"] for r in rows], color="tab:blue", label="cost(λ)")
    ax2.axhline(target, color="tab:red", ls="--", label="budget")
    ax2.set_ylabel(f"cost ({unit})")
    ax2.set_xlabel("step")
    ax2.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)
