"""`bitmixer study papers`: the packaged comparisons run, and the tables carry the published figures beside
ours, means that follow from the per-network rows, and a reason wherever ours is off by more than 25%."""
from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from hwsim.errors import UserError
from studies.runner import load_study_config, run_study

# The papers' own figures (Sharma et al. ISCA 2018; Judd et al. MICRO 2016), typed here from the issue.
PUBLISHED = {"bitfusion_vs_eyeriss": (3.9, 5.1), "bitfusion_vs_stripes": (2.6, 3.9),
             "stripes_vs_dadiannao": (1.92, None)}


@pytest.fixture(scope="module")
def papers(tmp_path_factory):
    out = tmp_path_factory.mktemp("papers")
    index = run_study("papers", out=out, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    networks = json.loads((out / "networks.json").read_text())
    return out, index, summary, networks


def test_summary_has_every_comparison_with_the_published_columns(papers):
    out, index, summary, _ = papers
    assert [r["comparison"] for r in summary] == list(PUBLISHED)
    for r in summary:
        assert (r["published_speedup"], r["published_energy_reduction"]) == PUBLISHED[r["comparison"]]
        assert r["source"] and r["ours_speedup"] > 0
    with (out / "summary.csv").open() as f:
        header = next(csv.reader(f))
    assert {"published_speedup", "ours_speedup", "published_energy_reduction", "ours_energy_reduction",
            "within_25pct", "why_ours_differs"} <= set(header)
    html = index.read_text()
    assert "papers.png" in html and "summary.csv" in html


def test_means_follow_from_the_per_network_ratios(papers):
    _, _, summary, networks = papers
    for r in summary:
        rows = [n for n in networks if n["comparison"] == r["comparison"]]
        assert len(rows) == r["networks"] > 0
        for n in rows:
            assert n["speedup"] == pytest.approx(n["baseline_cycles"] / n["design_cycles"])
            assert n["energy_reduction"] == pytest.approx(n["baseline_energy_uj"] / n["design_energy_uj"])
        s = [n["speedup"] for n in rows]
        want = np.prod(s) ** (1 / len(s)) if r["mean"] == "geometric" else sum(s) / len(s)
        assert r["ours_speedup"] == pytest.approx(want)
        off = abs(r["speedup_ratio"] - 1) > 0.25 or \
            (r["energy_ratio"] is not None and abs(r["energy_ratio"] - 1) > 0.25)
        assert r["within_25pct"] == (not off)
        if off:
            assert len(r["why_ours_differs"]) > 40


def test_stripes_runs_its_profile_and_a_wrong_profile_is_refused(tmp_path):
    cfg = load_study_config("papers")
    stripes = next(c for c in cfg.comparisons if c.name == "stripes_vs_dadiannao")
    bad = dataclasses.replace(stripes, a_profiles={"alexnet": (9, 8, 5)})
    with pytest.raises(UserError, match=r"stripes_vs_dadiannao: a_profiles\.alexnet gives 3 widths for 5 conv layers"):
        run_study("papers", out=tmp_path, progress=False, cfg=dataclasses.replace(cfg, comparisons=(bad,)))


# The papers' sizing (Bit Fusion abstract): Eyeriss resized to Bit Fusion's area, Bit Fusion to Stripes'.
SCALED = {"bitfusion_vs_eyeriss": ("baseline", "12x14"), "bitfusion_vs_stripes": ("design", "16x32")}


def test_equal_area_sides_match_and_the_published_arrays_stand_beside(papers):
    _, _, summary, networks = papers
    for r in summary:
        if r["comparison"] not in SCALED:
            assert r["normalise"] == "none"
            assert (r["design_array"], r["baseline_array"]) == (r["design_published_array"],
                                                               r["baseline_published_array"])
            continue
        side, published = SCALED[r["comparison"]]
        other = "design" if side == "baseline" else "baseline"
        assert r[f"{side}_published_array"] == published and r[f"{side}_array"] != published
        assert r[f"{other}_array"] == r[f"{other}_published_array"]
        rows, cols = map(int, r[f"{side}_array"].split("x"))
        # whole columns: the scaled side lands within half a column's PE area of the other side's total
        column_mm2 = r[f"{side}_array_area_mm2"] / cols
        assert abs(r[f"{side}_area_mm2"] - r[f"{other}_area_mm2"]) <= column_mm2 / 2
        assert r[f"{side}_published_area_mm2"] != pytest.approx(r[f"{other}_area_mm2"], rel=0.05)
        rows_ = [n for n in networks if n["comparison"] == r["comparison"]]
        s = [n["speedup_published_arrays"] for n in rows_]
        assert r["ours_speedup_published_arrays"] == pytest.approx(np.prod(s) ** (1 / len(s)))


def test_summary_names_the_arrays_and_areas_compared(papers):
    out = papers[0]
    with (out / "summary.csv").open() as f:
        header = next(csv.reader(f))
    assert {"normalise", "design_array", "baseline_array", "design_area_mm2", "baseline_area_mm2",
            "design_published_array", "baseline_published_array", "design_published_area_mm2",
            "baseline_published_area_mm2", "ours_speedup_published_arrays",
            "ours_energy_reduction_published_arrays"} <= set(header)


def test_a_design_without_area_runs_unresized_and_cannot_be_resized(tmp_path):
    import yaml
    d = yaml.safe_load(open("hw_configs/dadiannao.yaml").read())
    del d["area"]
    path = tmp_path / "noarea.yaml"
    path.write_text(yaml.safe_dump(d))
    cfg = load_study_config("papers")
    stripes = next(c for c in cfg.comparisons if c.name == "stripes_vs_dadiannao")
    plain = dataclasses.replace(stripes, baseline=dataclasses.replace(stripes.baseline, hardware=str(path)))
    run_study("papers", out=tmp_path / "a", progress=False, cfg=dataclasses.replace(cfg, comparisons=(plain,)))
    row = json.loads((tmp_path / "a" / "summary.json").read_text())[0]
    assert row["baseline_area_mm2"] is None and row["baseline_array"] == "1x256" and row["design_area_mm2"] > 0
    resized = dataclasses.replace(plain, normalise=dataclasses.replace(
        next(c for c in cfg.comparisons if c.normalise).normalise, scaled="design"))
    with pytest.raises(UserError, match=r"noarea\.yaml: no `area:` section"):
        run_study("papers", out=tmp_path / "b", progress=False, cfg=dataclasses.replace(cfg, comparisons=(resized,)))
