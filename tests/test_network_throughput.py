"""bench/network_throughput.py end to end on the digits network: one row per (network, config) with the
fields the issue names, the ratio being the two throughputs' quotient."""
from __future__ import annotations

import json

import pytest

from bench import network_throughput as nt


@pytest.mark.slow
def test_json_rows(tmp_path):
    out = tmp_path / "rows.json"
    assert nt.main(["--networks", "digits", "--configs", "W2A2", "mixed", "--repeats", "1", "--batch", "4",
                    "--pe-hw", "", "--no-progress", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [(r["network"], r["config"]) for r in rows] == [("digits", "W2A2"), ("digits", "mixed")]
    for r in rows:
        assert r["sim_images_per_s"] > 0 and r["torch_fp32_images_per_s"] > 0 and r["cpu_model"]
        assert r["ratio_vs_torch_fp32"] == pytest.approx(r["sim_images_per_s"] / r["torch_fp32_images_per_s"])


def test_config_names_are_checked():
    with pytest.raises(SystemExit):
        nt.main(["--configs", "W9A2", "--no-progress"])
    assert nt._is_uniform_name("W4A4") and not nt._is_uniform_name("W1A4") and not nt._is_uniform_name("4A4")


@pytest.mark.slow
def test_pe_rows_with_the_shortcut(tmp_path):
    """PE rows carry the exact path's and, with --pe-fast, the shortcut's images/s against the same direct rounds."""
    out = tmp_path / "rows.json"
    assert nt.main(["--networks", "digits", "--configs", "W2A2", "--repeats", "2", "--batch", "4", "--pe-batch", "2",
                    "--pe-hw", "hw_configs/stripes.yaml", "--pe-configs", "W2A2", "--pe-fast", "--no-progress",
                    "--json", str(out)]) == 0
    pe = [r for r in json.loads(out.read_text()) if "pe_hw" in r]
    assert [(r["network"], r["config"], r["batch"]) for r in pe] == [("digits", "W2A2", 2)]
    r = pe[0]
    for label in ("pe_sim", "pe_fast"):
        assert r[f"{label}_ratio_vs_direct"] == pytest.approx(r[f"{label}_images_per_s"] / r["direct_images_per_s"])
        lo, hi = r[f"{label}_min_max"]
        assert 0 < lo <= r[f"{label}_images_per_s"] <= hi
    assert r["pe_ratio_vs_direct"] == r["pe_sim_ratio_vs_direct"]
