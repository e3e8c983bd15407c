"""FracBits' choice after the rounding: one λ per layer (w = a, the configs a meta-network trains on),
the neighbours of a config within a budget, and the local search over them by a loss."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hwsim.bits import BitConfig, random_configs
from hwsim.errors import UserError
from quantnet.data import load_dataset
from quantnet.fracbits.climb import climb, neighbours
from quantnet.fracbits.costs import cost_table, extreme_configs
from quantnet.fracbits.qfrac import fractional
from quantnet.fracbits.search import SearchSettings, search_frozen
from quantnet.fracbits.widths import FracWidths

from small_models import calibrated_model


@pytest.fixture(scope="module")
def model():
    return calibrated_model(n_random=12)


def per_layer_ok(spec, cfg: BitConfig) -> bool:
    """w = a in every switchable layer that reads its own tensor; a tied layer reads its partner's."""
    return all(cfg.a(l.name) == cfg.a(l.a_tied_to) if l.a_tied_to else cfg.w(l.name) == cfg.a(l.name)
               for l in spec.layers if not l.fixed)


def test_per_layer_widths_hold_one_width_per_layer(model):
    spec = model.spec
    w = FracWidths(spec, per_layer=True)
    tied = [l for l in spec.layers if l.a_tied_to]
    assert len(w.vars) == len(spec.switchable)        # one per layer; a tied layer adds only its weights
    assert tied and set(w.names) == {f"{l.name}.w" if l.a_tied_to else f"{l.name}.wa" for l in spec.switchable}
    rng = np.random.default_rng(0)
    for _ in range(20):
        cfg = w.config(rng.uniform(2, 4, len(w.vars)))
        assert per_layer_ok(spec, cfg), cfg.bits
    separate = FracWidths(spec)
    assert len(separate.vars) > len(w.vars)
    assert all(per_layer_ok(spec, c) for c in random_configs(spec, 20, seed=1))   # how a meta-network trains
    mixed = separate.config(np.array([2.0 if v.name.endswith(".w") else 4.0 for v in separate.vars]), "mixed")
    odd = next(l for l in spec.layers if not l.fixed and not l.a_tied_to and mixed.w(l.name) != mixed.a(l.name))
    with pytest.raises(UserError, match=f"{odd.name}.wa would be both"):
        w.at_config(mixed)


def test_per_layer_qfrac_at_integer_widths_is_the_integer_config(model):
    x = torch.from_numpy(load_dataset("synthetic").x_test[:32])
    w = FracWidths(model.spec, per_layer=True)
    rng = np.random.default_rng(2)
    for vals in [rng.choice([2, 3, 4], len(w.vars)).astype(np.float64) for _ in range(4)]:
        cfg = w.config(vals)
        model.configure(cfg)
        ref = model(x)
        w.set_config(cfg)
        with fractional(model, w):
            assert torch.equal(model(x), ref), cfg.bits


def _index_steps(widths, a, b) -> np.ndarray:
    """How many candidates each variable moved from config a to config b."""
    return np.array([v.candidates.index(int(y)) - v.candidates.index(int(x))
                     for v, x, y in zip(widths.vars, widths.at_config(a), widths.at_config(b))])


@pytest.mark.parametrize("per_layer", [True, False])
def test_neighbours_are_every_one_move_config_within_the_budget(model, per_layer):
    spec = model.spec
    table = cost_table("bitops", spec)
    widths = FracWidths(spec, per_layer=per_layer)
    lo, hi = (table.total(c.bits) for c in extreme_configs(spec))
    every = [widths.config(np.array(v, np.float64)) for v in itertools.product(*[v.candidates for v in widths.vars])]
    rng = np.random.default_rng(3)
    for start in [every[i] for i in rng.choice(len(every), 4 if per_layer else 1, replace=False)]:
        target = lo + rng.uniform(0.3, 0.8) * (hi - lo)
        got = {tuple(sorted(c.bits.items())) for c in neighbours(widths, start, table.total, target)}
        want = set()
        for c in every:
            d = _index_steps(widths, start, c)
            nz = sorted(d[d != 0].tolist())
            if nz in ([1], [-1], [-1, 1]) and table.total(c.bits) <= target:
                want.add(tuple(sorted(c.bits.items())))
        assert got == want


def test_climb_follows_the_loss_to_its_best_config_within_the_budget(model):
    spec = model.spec
    table = cost_table("bitops", spec)
    widths = FracWidths(spec, per_layer=True)
    lo, hi = (table.total(c.bits) for c in extreme_configs(spec))
    target = lo + 0.5 * (hi - lo)
    n = len(widths.vars)
    goal = widths.config(np.array([4.0, 2.0] + [2.0] * (n - 2)))   # fits: most widths at the lowest
    assert table.total(goal.bits) <= target
    far = widths.config(np.array([2.0, 4.0] + [2.0] * (n - 2)))    # a trade away from the goal
    start = widths.config(np.array([2.0, 3.0] + [3.0] * (n - 2)))

    def loss(c):       # distance to the goal in candidate steps: one minimum, reached one move at a time
        return float(np.abs(_index_steps(widths, goal, c)).sum())
    got, scored = climb(widths, [start, far], loss, table.total, target, rounds=2 * n)
    assert got.bits == goal.bits and scored > 2
    for cap in (2, 5, 9):                                    # scoring stops at the cap, moves stay downhill
        got, scored = climb(widths, [start, far], loss, table.total, target, 2 * n, max_scored=cap)
        assert scored == cap and loss(got) <= loss(far)
    for rounds in (1, 2, 3):                                 # a minimum is never left
        assert climb(widths, [goal], loss, table.total, target, rounds)[0].bits == goal.bits
    got, _ = climb(widths, [start, far], loss, table.total, target, rounds=0)
    assert got.bits == far.bits                              # no moves: the best of the starts
    # a budget the goal does not fit: the climb stays within it
    tight = table.total(goal.bits) - 1
    got, _ = climb(widths, [widths.config(np.full(n, 2.0))], loss, table.total, tight, rounds=2 * n)
    assert table.total(got.bits) <= tight and got.bits != goal.bits


def test_search_on_the_frozen_net_chooses_a_per_layer_config_within_the_budget(model):
    x = load_dataset("synthetic")
    table = cost_table("bitops", model.spec)
    lo, hi = (table.total(c.bits) for c in extreme_configs(model.spec))
    r = search_frozen(model, table, lo + 0.4 * (hi - lo), x.x_train[:128], x.y_train[:128],
                      SearchSettings(steps=10, batch_size=64), progress=False)
    assert per_layer_ok(model.spec, r.config) and r.cost <= r.target and r.candidates >= 1
    r = search_frozen(model, table, lo + 0.4 * (hi - lo), x.x_train[:128], x.y_train[:128],
                      SearchSettings(steps=10, batch_size=64, per_layer=False, climb=0), progress=False)
    assert r.cost <= r.target and any(n.endswith(".a") for n in r.lam)
