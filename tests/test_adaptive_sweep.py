"""The sweep's bookkeeping: seeds folded into mean ± std, and each point set against the most accurate
static config that costs no more."""
import pytest

from studies.adaptive_sweep import aggregate, versus_static


def test_aggregate_and_versus_static():
    rows = [{"method": "m", "granularity": "layer", "lambda": 0.1, "seed": s, "accuracy": a, "cost": c, "policy_cost": 1.0}
            for s, (a, c) in enumerate([(0.90, 10.0), (0.94, 14.0)])]
    static = [{"config": "cheap", "accuracy": 0.80, "cost": 5.0}, {"config": "mid", "accuracy": 0.91, "cost": 12.0},
              {"config": "dear", "accuracy": 0.99, "cost": 12.5}]
    (p,) = versus_static(aggregate(rows), static)
    assert p["accuracy_mean"] == pytest.approx(0.92) and p["accuracy_std"] == pytest.approx(0.02)
    assert p["cost_mean"] == pytest.approx(12.0) and p["seeds"] == 2
    assert p["static_config"] == "mid" and p["static_accuracy"] == 0.91       # "dear" costs more than 12.0
