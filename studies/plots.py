"""Matplotlib (Agg, no display) figures shared by the studies."""
from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

ORIGIN_STYLE = {"random": dict(c="0.6", marker="o", s=14, label="random per-layer"),
                "uniform": dict(c="tab:blue", marker="s", s=36, label="uniform"),
                "greedy": dict(c="tab:orange", marker="^", s=30, label="greedy search"),
                "fracbits": dict(c="tab:green", marker="D", s=30, label="FracBits search")}


def grid(n: int, width: float = 4.2, height: float = 3.3):
    cols = 2 if n in (2, 4) else min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def pareto_panel(ax, cost: np.ndarray, acc: np.ndarray, origin: Sequence[str], front: np.ndarray,
                 labels: Sequence[str], title: str, xlabel: str) -> None:
    """Every point by origin, the front as a step line, uniform configs labelled."""
    origin = np.asarray(origin)
    for kind, style in ORIGIN_STYLE.items():
        sel = origin == kind
        if sel.any():
            ax.scatter(cost[sel], acc[sel], zorder=2, **style)
    f = np.flatnonzero(front)
    f = f[np.argsort(cost[f])]
    ax.step(cost[f], acc[f], where="post", c="tab:red", lw=1.4, zorder=3, label="Pareto front")
    ax.scatter(cost[f], acc[f], facecolors="none", edgecolors="tab:red", s=70, zorder=4)
    for i in np.flatnonzero(origin == "uniform"):
        ax.annotate(labels[i], (cost[i], acc[i]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy")
    ax.grid(alpha=0.3)


def footnote(fig, text: str) -> None:
    fig.text(0.01, -0.01, text, fontsize=8, ha="left", va="top", style="italic")


def stacked_bars(ax, groups: Sequence[str], layers: Sequence[str], values: np.ndarray, ylabel: str, title: str):
    """values (n_groups, n_layers): one bar per group, one stacked segment per layer."""
    bottom = np.zeros(len(groups))
    cmap = plt.get_cmap("tab20")
    x = np.arange(len(groups))
    for j, layer in enumerate(layers):
        ax.bar(x, values[:, j], bottom=bottom, color=cmap(j % 20), label=layer, width=0.8)
        bottom += values[:, j]
    ax.set_xticks(x, groups, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
