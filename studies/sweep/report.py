"""The sweep's page: Pareto fronts (energy-latency, energy-area, accuracy-energy; one panel per network,
points coloured by PE kind) and the lowest-energy designs within the user's area and latency limits."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..output import StudyOutput
from ..pareto_front import pareto_mask
from ..plots import grid, plt

PLOTTED = 20_000      # points drawn per panel besides the front (a sample: a million dots draw as one blot)
TOP = 10              # designs listed per network


def _col(t: pa.Table, name: str) -> np.ndarray:
    c = t.column(name)
    if pa.types.is_dictionary(c.type):
        c = c.cast(pa.string())
    return np.asarray(c.to_numpy(zero_copy_only=False))


def front_panel(ax, x, y, kind, front, xlabel, ylabel, title, rng) -> None:
    """Every point (a sample past PLOTTED) by PE kind; the front as a line."""
    rest = np.flatnonzero(~front)
    if len(rest) > PLOTTED:
        rest = np.sort(rng.choice(rest, PLOTTED, replace=False))
    cmap = plt.get_cmap("tab10")
    for j, k in enumerate(sorted(set(kind))):
        sel = rest[kind[rest] == k]
        ax.scatter(x[sel], y[sel], s=6, alpha=0.4, color=cmap(j), label=k, zorder=2)
        f = np.flatnonzero(front & (kind == k))
        ax.scatter(x[f], y[f], s=28, color=cmap(j), edgecolors="k", linewidths=0.6, zorder=4)
    f = np.flatnonzero(front)
    f = f[np.argsort(x[f], kind="stable")]
    ax.step(x[f], y[f], where="post", c="k", lw=1.0, zorder=3, label="Pareto front")
    for v, scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
        pos = v[np.isfinite(v) & (v > 0)]
        if len(pos) and pos.max() > 20 * pos.min():     # spans decades: log, else the labels say little
            scale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def fronts(table: pa.Table, out: StudyOutput, networks: list[str]) -> dict[str, np.ndarray]:
    """The three fronts (where their columns exist) as figures; returns each front's row mask."""
    net, kind = _col(table, "network"), _col(table, "pe_kind")
    energy, latency = _col(table, "energy_pj") / 1e6, _col(table, "latency_s") * 1e3
    pairs = [("energy_latency", "latency (ms per sample)", latency, energy, "energy (uJ per sample)", -energy)]
    if "area_mm2" in table.column_names:
        area = _col(table, "area_mm2")
        pairs.append(("energy_area", "area (mm^2)", area, energy, "energy (uJ per sample)", -energy))
    acc = _col(table, "accuracy")
    if np.isfinite(acc).any():
        pairs.append(("accuracy_energy", "energy (uJ per sample)", energy, acc, "top-1 accuracy", acc))
    masks = {}
    rng = np.random.default_rng(0)
    for name, xlabel, x, y, ylabel, better in pairs:
        mask = np.zeros(len(x), bool)
        fig, axes = grid(len(networks), width=5.0, height=3.8)
        for ax, n in zip(axes, networks):
            rows = np.flatnonzero((net == n) & np.isfinite(y))
            mask[rows] = pareto_mask(x[rows], better[rows])
            sub = np.zeros(len(x), bool)
            sub[rows] = True
            front_panel(ax, x[sub], y[sub], kind[sub], mask[sub], xlabel, ylabel, n, rng)
        what = ylabel.split(" (")[0] + " against " + xlabel.split(" (")[0]
        out.figure(name, fig, f"Pareto front: {what}",
                   f"Each dot one design (hardware point x bit config); outlined dots and the line are the front "
                   f"(no other design is better in both); colours are PE kinds; past {PLOTTED} points a random "
                   f"sample of the rest is drawn, the front always whole.")
        masks[name] = mask
    return masks


def best_designs(table: pa.Table, max_area_mm2: float | None, max_latency_ms: float | None) -> list[dict]:
    """Per network the TOP lowest-energy designs within the limits (ties: lower latency)."""
    keep = np.ones(table.num_rows, bool)
    if max_latency_ms is not None:
        keep &= _col(table, "latency_s") * 1e3 <= max_latency_ms
    if max_area_mm2 is not None and "area_mm2" in table.column_names:
        keep &= _col(table, "area_mm2") <= max_area_mm2
    net, energy, latency = _col(table, "network"), _col(table, "energy_pj"), _col(table, "latency_s")
    shown = [c for c in table.column_names if not c.startswith(("energy_", "area_")) or c in ("energy_pj",)]
    shown += [c for c in ("area_mm2",) if c in table.column_names]
    rows = []
    for n in dict.fromkeys(net):
        idx = np.flatnonzero(keep & (net == n))
        idx = idx[np.lexsort((latency[idx], energy[idx]))][:TOP]
        for r in table.select(shown).take(idx).to_pylist():
            r["latency_ms"] = r.pop("latency_s") * 1e3
            r["energy_uj"] = r.pop("energy_pj") / 1e6
            if r["accuracy"] is not None and np.isnan(r["accuracy"]):
                r["accuracy"] = None                   # not measured (JSON has no NaN)
            rows.append({k: r[k] for k in r if k not in ("bits_index", "accuracy_source")})
    return rows
