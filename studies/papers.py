"""Papers study: the published comparisons of Bit Fusion (Sharma et al., ISCA 2018) and Stripes (Judd et
al., MICRO 2016) reproduced on our models of the designs (hw_configs/), on the papers' benchmark networks
(hwsim.zoo) at their published bit-widths, beside the published figures.

A comparison runs a design and its baseline on each network. Each side takes the network's published
per-layer widths, or a fixed width for a design that has one (Eyeriss and DaDianNao compute at 16 bits,
Stripes keeps 16-bit weights). Speed-up is the baseline's cycles over the design's (at one clock, as the
papers compare; the ratio at each design's own clock is shown beside it), energy reduction the
baseline's energy over the design's; a paper's mean (geometric or arithmetic) over the networks is
set against the published one, with the reason for any gap.

A side may instead be the published per-layer figures themselves (`published:`, studies/published_baseline.py:
the Eyeriss results the Bit Fusion authors divided by), and a modelled side may name such figures to be set
against layer by layer (`check:`, the layer_check table). A side's `variants` runs another zoo network in a
benchmark's place (the published Bit Fusion results ran WRPN AlexNet and ResNet-18 against Eyeriss on the plain
ones); the rows name both networks.

Where a paper compares at equal area, a comparison's `normalise` resizes one side's PE array
(hwsim.area.scaled_to_area, along one dimension, buffer sizes and clock kept, a buffer banked along that
dimension gaining bandwidth with its banks) until its area matches the other's, as the paper states which side
it sized. The ratios of the published arrays as they are stand beside.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from hwsim import zoo
from hwsim.area import area_mm2, array_area_mm2, scaled_to_area
from hwsim.dataflow.costmodel import NetworkCost
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config

from . import plots, published_baseline
from .hw import hw_config_paths
from .output import StudyOutput
from .schema import to_plain

TOLERANCE = 0.25      # the target: our mean within +-25% of the paper's


@dataclass(frozen=True)
class Side:
    hardware: str = ""                     # a hw_configs name or path
    w_bits: int | None = None              # None: the network's published per-layer width; a number: every layer
    a_bits: int | None = None
    published: str = ""                    # instead of `hardware`: a CSV of published per-layer figures
                                           # (studies/published_baseline.py), taken as they stand
    check: str = ""                        # with `hardware`: such a CSV to set the model against, layer by layer
    variants: dict[str, str] | None = None  # network -> the zoo network this side runs in its place (the variant
                                            # a published run used); rows keep the comparison's network name

    def __post_init__(self):
        if bool(self.hardware) == bool(self.published):
            raise ValueError("a side names exactly one of `hardware` (a model) and `published` (a CSV of figures)")
        if self.check and not self.hardware:
            raise ValueError("`check` sets a model against published figures: it needs `hardware`")


@dataclass(frozen=True)
class Published:
    speedup: float
    energy_reduction: float | None = None
    mean: Literal["geometric", "arithmetic"] = "geometric"
    source: str = ""                       # where in the paper the figures stand


@dataclass(frozen=True)
class Normalise:
    """Equal area: `scaled`'s array is resized along `dimension` until its area (`match`: the whole design,
    or the PE array alone) equals the other side's."""
    scaled: Literal["design", "baseline"]
    dimension: Literal["rows", "cols"] = "cols"
    match: Literal["total", "array"] = "total"
    why: str = ""                          # the paper's words on which side it sized


@dataclass(frozen=True)
class Comparison:
    name: str
    design: Side
    baseline: Side
    networks: tuple[str, ...]              # hwsim.zoo names
    published: Published
    layers: Literal["all", "conv"] = "all"            # Stripes reports convolutional layers only
    a_profiles: dict[str, tuple[int, ...]] | None = None   # network -> activation bits of its conv layers in order
    gap_reason: str = ""                   # why ours differs from the paper (written from the table and model)
    normalise: Normalise | None = None     # None: the published arrays as they are

    def __post_init__(self):
        for role, side in (("design", self.design), ("baseline", self.baseline)):
            extra = sorted(set(side.variants or ()) - set(self.networks))
            if extra:
                raise ValueError(f"{role}.variants names network(s) {extra} not in networks {list(self.networks)}")


@dataclass(frozen=True)
class PapersConfig:
    comparisons: tuple[Comparison, ...]
    batch: int = 1                         # samples per run (a GEMM dimension)

    def __post_init__(self):
        if self.batch < 1 or not self.comparisons:
            raise ValueError("batch must be >= 1 and comparisons non-empty")


def published_bits(net, c: Comparison) -> dict[str, tuple[int, int]]:
    """layer -> (w, a) as published: the zoo's table, or a conv-layer activation profile (weights 16 bits)."""
    if c.a_profiles and net.name in c.a_profiles:
        convs = [s.name for s in net.shapes if s.kind == "conv"]
        prof = c.a_profiles[net.name]
        if len(prof) != len(convs):
            raise UserError(f"papers study: {c.name}: a_profiles.{net.name} gives {len(prof)} widths for "
                            f"{len(convs)} conv layers")
        return {s.name: (16, dict(zip(convs, prof)).get(s.name, 16)) for s in net.shapes}
    return dict(net.published_config().bits)


def side_network(side: Side, name: str) -> str:
    """The zoo network `side` runs for the comparison's network `name`."""
    return (side.variants or {}).get(name, name)


def side_bits(side: Side, bits: dict) -> dict[str, tuple[int, int]]:
    return {n: (side.w_bits or w, side.a_bits or a) for n, (w, a) in bits.items()}


def sides_hw(c: Comparison) -> tuple[dict, dict]:
    """(design, baseline) as published and as compared: {'published': HwConfig, 'compared': HwConfig}, the
    compared one resized to the other side's area where the comparison normalises."""
    hw = [load_hw_config(hw_config_paths([s.hardware])[0]) if s.hardware else published_baseline.load(s.published)
          for s in (c.design, c.baseline)]
    compared = list(hw)
    if c.normalise is not None:
        n = c.normalise
        if any(s.published for s in (c.design, c.baseline)):
            raise UserError(f"papers study: {c.name}: a side of published figures cannot be resized (normalise)")
        i = 0 if n.scaled == "design" else 1
        other = area_mm2(hw[1 - i])
        target = other["total"] if n.match == "total" else array_area_mm2(other)
        compared[i] = scaled_to_area(hw[i], target, n.dimension, n.match)
    return tuple({"published": p, "compared": q} for p, q in zip(hw, compared))


def area_columns(prefix: str, hw) -> dict:
    """The array's shape and its area (mm^2, total and PE array); no area for a config without `area:`."""
    a = area_mm2(hw) if hw.area is not None else None
    shape = f"{hw.array.rows}x{hw.array.cols}" if hasattr(hw, "array") else "published figures"
    return {f"{prefix}_array": shape, f"{prefix}_area_mm2": a and a["total"],
            f"{prefix}_array_area_mm2": a and array_area_mm2(a)}


def run_side(side: Side, hw, graph, bits, counted: set[str]) -> dict:
    """Cost of the whole network (its op graph: each tensor at the width of the layer that reads it) on
    `hw`, summed over the layers in `counted` only."""
    rows = [r for r in NetworkCost(graph, hw).layers(side_bits(side, bits)) if r["name"] in counted]
    memory = sum(r["cycles"] for r in rows if r["bound_by"] != "compute")
    return {"hw": hw, "cycles": sum(r["cycles"] for r in rows), "energy_pj": sum(r["energy_pj"] for r in rows),
            "memory_bound_share": memory / max(1, sum(r["cycles"] for r in rows)),
            "mac_energy_share": sum(r["energy_by"]["mac"] for r in rows) / sum(r["energy_pj"] for r in rows)}


def cost_side(side: Side, hw, net, bits, counted: set[str]) -> dict:
    """A side's figures on zoo network `net`: our model of its hardware, or its published figures."""
    if side.published:
        return hw.network(net.name)
    return run_side(side, hw, net.graph, bits, counted)


def _pct(share):
    return None if share is None else 100 * share


def mean(values, kind: str) -> float:
    v = np.asarray(values, float)
    return float(np.exp(np.mean(np.log(v)))) if kind == "geometric" else float(np.mean(v))


def compare(c: Comparison, batch: int) -> list[dict]:
    design_hw, baseline_hw = sides_hw(c)
    rows = []
    for name in c.networks:
        names = [side_network(side, name) for side in (c.design, c.baseline)]
        built = {n: zoo.get(n, batch) for n in set(names)}          # once each: a zoo net builds its graph
        nets = [built[n] for n in names]
        shapes = [[s for s in net.shapes if c.layers == "all" or s.kind == "conv"] for net in nets]
        args = [(net, published_bits(net, c), {s.name for s in sh}) for net, sh in zip(nets, shapes)]
        pairs = tuple(zip((c.design, c.baseline), (design_hw, baseline_hw), args))
        d, b = (cost_side(side, hw["compared"], *a) for side, hw, a in pairs)
        if c.normalise is None:
            dp, bp = d, b
        else:
            dp, bp = (cost_side(side, hw["published"], *a) for side, hw, a in pairs)
        rows.append({"comparison": c.name, "network": name, "layers": len(shapes[0]),
                     "design_network": nets[0].name, "baseline_network": nets[1].name,
                     "design": d["hw"].name, "baseline": b["hw"].name,
                     "design_cycles": d["cycles"], "baseline_cycles": b["cycles"],
                     "speedup": b["cycles"] / d["cycles"],
                     "speedup_own_clocks": (b["cycles"] / b["hw"].clock_hz) / (d["cycles"] / d["hw"].clock_hz),
                     "design_energy_uj": d["energy_pj"] / 1e6, "baseline_energy_uj": b["energy_pj"] / 1e6,
                     "energy_reduction": b["energy_pj"] / d["energy_pj"],
                     "design_memory_bound_pct": _pct(d["memory_bound_share"]),
                     "baseline_memory_bound_pct": _pct(b["memory_bound_share"]),
                     "design_mac_energy_pct": 100 * d["mac_energy_share"],
                     "baseline_mac_energy_pct": 100 * b["mac_energy_share"],
                     "speedup_published_arrays": bp["cycles"] / dp["cycles"],
                     "energy_reduction_published_arrays": bp["energy_pj"] / dp["energy_pj"]})
    return rows


def layer_check(c: Comparison, batch: int) -> list[dict]:
    """Per layer, each side's model beside the published figures its `check` names: cycles, and energy (pJ) in
    total and by part (MACs, PE-local registers, buffers, DRAM); layers the model does not cost (pools) left out."""
    rows = []
    for role, side in (("design", c.design), ("baseline", c.baseline)):
        if not side.check:
            continue
        hw, pub = load_hw_config(hw_config_paths([side.hardware])[0]), published_baseline.load(side.check)
        buffers = [b.name for b in hw.buffers]
        for name in c.networks:
            net = zoo.get(side_network(side, name), batch)
            ours = {r["name"]: r for r in NetworkCost(net.graph, hw).layers(side_bits(side, published_bits(net, c)))}
            for layer, p in pub.layers(net.name).items():
                if layer not in ours:
                    continue
                o = ours[layer]
                by = {"mac": o["energy_by"]["mac"], "pe_local": o["energy_by"]["pe_local"],
                      "buffers": sum(o["energy_by"][b] for b in buffers), "dram": o["energy_by"]["dram"]}
                rows.append({"comparison": c.name, "side": role, "hardware": hw.name, "network": name, "layer": layer,
                             "published_cycles": p["cycles"], "ours_cycles": o["cycles"], "ours_bound_by": o["bound_by"],
                             "cycles_ratio": o["cycles"] / p["cycles"],
                             "published_energy_uj": p["energy_pj"] / 1e6, "ours_energy_uj": o["energy_pj"] / 1e6,
                             "energy_ratio": o["energy_pj"] / p["energy_pj"],
                             **{f"{k}_ratio": by[k] / p["energy_by"][k] if p["energy_by"][k] else None for k in by}})
    return rows


def sizes_row(c: Comparison) -> dict:
    """What was compared: each side's array and area (mm^2) as compared, and as published."""
    design_hw, baseline_hw = sides_hw(c)
    n = c.normalise
    out = {"normalise": f"equal {n.match} area, {n.scaled} scaled along {n.dimension}" if n else "none",
           "normalise_source": n.why if n else ""}
    for prefix, hw in (("design", design_hw["compared"]), ("baseline", baseline_hw["compared"]),
                       ("design_published", design_hw["published"]), ("baseline_published", baseline_hw["published"])):
        out |= area_columns(prefix, hw)
    return out


def summary_row(c: Comparison, rows: list[dict]) -> dict:
    p = c.published
    ours_s = mean([r["speedup"] for r in rows], p.mean)
    ours_e = mean([r["energy_reduction"] for r in rows], p.mean)
    within = abs(ours_s / p.speedup - 1) <= TOLERANCE and \
        (p.energy_reduction is None or abs(ours_e / p.energy_reduction - 1) <= TOLERANCE)
    return {"comparison": c.name, "networks": len(rows), "mean": p.mean,
            "published_speedup": p.speedup, "ours_speedup": ours_s, "speedup_ratio": ours_s / p.speedup,
            "published_energy_reduction": p.energy_reduction,
            "ours_energy_reduction": ours_e if p.energy_reduction is not None else None,
            "energy_ratio": ours_e / p.energy_reduction if p.energy_reduction else None,
            "ours_speedup_published_arrays": mean([r["speedup_published_arrays"] for r in rows], p.mean),
            "ours_energy_reduction_published_arrays": mean([r["energy_reduction_published_arrays"] for r in rows],
                                                           p.mean),
            **sizes_row(c),
            "within_25pct": within, "source": p.source, "why_ours_differs": c.gap_reason}


def _plot(out: StudyOutput, summary: list[dict]) -> None:
    fig, (ax,) = plots.grid(1, 7.5, 3.8)
    labels, pub, ours = [], [], []
    for r in summary:
        for metric, key in (("speed-up", "speedup"), ("energy", "energy_reduction")):
            if r[f"published_{key}"] is not None:
                labels.append(f"{r['comparison']}\n{metric}")
                pub.append(r[f"published_{key}"])
                ours.append(r[f"ours_{key}"])
    x = np.arange(len(labels))
    ax.bar(x - 0.2, pub, 0.4, label="published", color="0.6")
    ax.bar(x + 0.2, ours, 0.4, label="ours", color="tab:blue")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("ratio (baseline / design, ×)")
    ax.legend(fontsize=8)
    out.figure("papers", fig, "Published comparisons: the papers' figures and ours",
               "Speed-up and energy reduction of each design over its baseline: the paper's mean over its benchmark "
               "networks (grey) and ours on the same networks at the published bit-widths (blue), log scale.")


CONFIG = PapersConfig
TITLE = "Published comparisons reproduced: Bit Fusion vs Eyeriss and Stripes, Stripes vs DaDianNao"


def main(cfg: PapersConfig, out_dir, checkpoint: str | None = None, progress: bool = True) -> StudyOutput:
    out = StudyOutput(out_dir, "papers", TITLE)
    out.resolved_config(to_plain(cfg))
    per_network, summary, checks = [], [], []
    for c in cfg.comparisons:
        rows = compare(c, cfg.batch)
        per_network += rows
        summary.append(summary_row(c, rows))
        checks += layer_check(c, cfg.batch)
    out.table("summary", summary, "Published and reproduced means",
              "Per comparison: the paper's mean speed-up and energy reduction over its networks, ours on the same "
              "networks at the published widths (same clock, one side's array resized to equal area where the paper "
              "compares so), their ratio, whether both are within ±25%, the arrays and areas (mm², 45 nm) compared and "
              "published, our means on the published arrays as they are, and why ours differs.")
    out.table("networks", per_network, "Per network",
              "Cycles (per batch), energy (µJ per batch), speed-up (same clock and each design's own clock), energy "
              "reduction, the share of cycles bound by a memory level and of energy spent in MACs; the last two "
              "columns are the ratios on the published arrays as they are.", show_rows=60)
    if checks:
        out.table("layer_check", checks, "Our models beside the published per-layer figures",
                  "Per layer (pools, which the models do not cost, left out): cycles and energy (µJ per batch) of our "
                  "model and of the published figures its side's `check` names, their ratios, and the ratio of each "
                  "energy part: MACs (ALU), PE-local registers (RF), buffers (global buffer + array), DRAM.",
                  show_rows=100)
    _plot(out, summary)
    out.summary = "; ".join(f"{r['comparison']}: speed-up {r['ours_speedup']:.2f}x (paper {r['published_speedup']}x)"
                            + (f", energy {r['ours_energy_reduction']:.2f}x (paper {r['published_energy_reduction']}x)"
                               if r["published_energy_reduction"] else "") for r in summary)
    out.write_json("papers", {"summary": summary, "networks": per_network, "layer_check": checks})
    return out
