"""Hard-config mining and frozen-statistics stages (quantnet/train/mining.py)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwsim.bits import BitConfig
from quantnet.checkpoint import load_checkpoint
from quantnet.data import load_dataset
from quantnet.models import build_model
from quantnet.train import StageConfig, TrainConfigError, load_config, train
from quantnet.train.mining import hardest, inference_network, mine_subnets

TINY = ["data=synthetic", "model=digits_resnet", "width=4", "batch_size=64", "threads=1", "calibration_configs=2"]


def test_hardest_is_the_highest_loss_first_on_ties():
    cands = ["a", "b", "c", "d"]
    assert hardest(cands, {"a": 0.1, "b": 0.7, "c": 0.3, "d": 0.7}.get) == "b"


def test_mining_keeps_the_random_config_with_the_highest_inference_loss():
    torch.manual_seed(0)
    model = build_model("digits_resnet", width=4, num_classes=4)
    data = load_dataset("synthetic")
    x, y = torch.from_numpy(data.x_train[:64]), torch.from_numpy(data.y_train[:64])
    model.train()
    with torch.no_grad():                                   # give every entry a few statistics
        for c in [BitConfig.random(model.spec, s) for s in range(12)]:
            model.configure(c)
            model(x)
    frozen = model.layer1[0].bn1.stats["8_2_2"]
    frozen.eval()
    stage = StageConfig("s", "mixed", 1, subnets=("max", "random"), mine=4)
    first = BitConfig.random(model.spec, 100)
    subnets = [("max", BitConfig.uniform(model.spec, 4)), ("random", first)]
    got = mine_subnets(model, stage, subnets, x, y, np.random.default_rng(5))
    assert not frozen.training and model.layer1[0].bn2.stats["2_2_2"].training   # every flag as it was
    rng = np.random.default_rng(5)                          # the same draws, scored here by hand
    cands = [first] + [BitConfig.random(model.spec, rng) for _ in range(3)]
    model.eval()
    losses = []
    with torch.no_grad():
        for c in cands:
            model.configure(c)
            losses.append(float(F.cross_entropy(model(x), y)))
    model.train()
    assert len(set(losses)) > 1
    assert got[0] == subnets[0] and got[1][1] == cands[int(np.argmax(losses))]
    assert mine_subnets(model, StageConfig("s", "mixed", 1, subnets=("random",)), subnets, x, y,
                        np.random.default_rng(5)) is subnets
    # the losses that decide are the combined ones (the sum over data-parallel ranks): here negated, so the
    # easiest candidate wins
    got = mine_subnets(model, stage, subnets, x, y, np.random.default_rng(5), lambda v: [-l for l in v])
    assert got[1][1] == cands[int(np.argmin(losses))] != cands[int(np.argmax(losses))]


def test_inference_network_restores_every_flag():
    model = build_model("digits_resnet", width=2)
    model.train()
    model.fc.eval()
    with inference_network(model):
        assert not any(m.training for m in model.modules())
    assert not model.fc.training and model.conv1.training


def test_frozen_stage_keeps_the_calibrated_statistics(tmp_path):
    """Calibration runs when the last live stage ends; the frozen stage after it leaves every calibrated statistic
    as it was (entries no uniform pass reached are warm-started when the stage begins, as for any stage)."""
    s2 = "{name: s2, kind: uniform, epochs: 1, subnets: [max, min]}"
    train(load_config(None, TINY + [f"stages=[{s2}]"]), tmp_path / "a", progress=False)
    train(load_config(None, TINY + [f"stages=[{s2}, {{name: s4, kind: mixed, epochs: 1, subnets: [max, random], "
                                              f"frozen_stats: true, mine: 2}}]"]), tmp_path / "b", progress=False)
    a, _ = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    b, _ = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    sa, sb = a.state_dict(), b.state_dict()
    calibrated = [k.rsplit(".", 1)[0] for k in sa if k.endswith("num_batches_tracked") and int(sa[k]) > 0]
    stats = [f"{e}.{f}" for e in calibrated if ".stats." in e for f in ("running_mean", "running_var")]
    assert stats and all(torch.equal(sa[k], sb[k]) for k in stats)
    assert not torch.equal(sa["layer1.0.conv1.weight"], sb["layer1.0.conv1.weight"])   # the stage did train
    import json
    recs = [json.loads(l) for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert recs[0]["bn_calibrated"] > 0 and "bn_calibrated" not in recs[1]


@pytest.mark.parametrize("stages, match", [
    ("[{name: a, kind: mixed, epochs: 1, frozen_stats: true}]", "after at least one other stage"),
    ("[{name: a, kind: mixed, epochs: 1, frozen_stats: true}, {name: b, kind: mixed, epochs: 1}]", "must come last"),
    ("[{name: a, kind: float, epochs: 1, mine: 2}]", "a float stage has no bit configs"),
    ("[{name: a, kind: mixed, epochs: 1, mine: 0}]", r"stages\[0\] \(a\)\.mine: must be >= 1"),
])
def test_frozen_and_mining_settings_checked(stages, match):
    with pytest.raises(TrainConfigError, match=match):
        load_config(None, TINY + [f"stages={stages}"])
    with pytest.raises(TrainConfigError, match="calibrate_bn: true"):
        load_config(None, TINY + ["calibrate_bn=false", "stages=[{name: a, kind: uniform, epochs: 1}, "
                                  "{name: b, kind: mixed, epochs: 1, frozen_stats: true}]"])


def test_frozen_statistics_are_refused_under_data_parallel_ranks_and_mining_is_not(monkeypatch, tmp_path):
    from quantnet.train.loop import Trainer
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    mined = "[{name: a, kind: act, epochs: 1}, {name: b, kind: mixed, epochs: 1, mine: 2}]"
    Trainer(load_config(None, TINY + [f"stages={mined}"]), tmp_path / "a", progress=False)   # no refusal
    frozen = "[{name: a, kind: act, epochs: 1}, {name: b, kind: mixed, epochs: 1, frozen_stats: true}]"
    with pytest.raises(TrainConfigError, match="frozen_stats is single-process only"):
        Trainer(load_config(None, TINY + [f"stages={frozen}"]), tmp_path / "b", progress=False)
