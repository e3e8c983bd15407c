"""The demo's config: typed, and checked in full when it is loaded, before any step runs."""
from __future__ import annotations

import pytest

from bitmixer.cli import main
from bitmixer.demo import DemoConfigError, load_demo_config
from hwsim.errors import UserError
from quantnet.train import TrainConfig


def test_packaged_demo_config_trains_the_default_recipe_on_digits():
    cfg = load_demo_config()
    assert isinstance(cfg.train, TrainConfig) and cfg.train == TrainConfig(data="digits")
    assert cfg.verify.random_configs == 6 and cfg.simulate.configs == "uniform"


@pytest.mark.parametrize("train, message", [
    ("{stagez: []}", r"d\.yaml: train\.stagez: unknown key"),
    ("{batch_size: many}", r"d\.yaml: train\.batch_size: expected an integer"),
    ("{bn_mode: bogus}", r"d\.yaml: train\.bn_mode: 'bogus' is not one of"),
    ("{candidate_bits: [4, 2]}", r"d\.yaml: train: candidate_bits must be increasing"),
])
def test_a_bad_train_section_is_refused_when_the_config_is_loaded(tmp_path, train, message):
    path = tmp_path / "d.yaml"
    path.write_text(f"train: {train}\n")
    with pytest.raises(UserError, match=message):
        load_demo_config(path)


def test_demo_command_stops_before_any_step_on_a_bad_config(tmp_path, capsys):
    path = tmp_path / "d.yaml"
    path.write_text("train: {optim: {name: adamw}}\nverify: {samples: 10}\n")
    assert main(["demo", "--config", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "d.yaml: train.optim.name: 'adamw' is not one of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    path.write_text("pareto: no-such-study.yaml\n")
    assert main(["demo", "--config", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "'no-such-study.yaml' is neither a file nor in" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    path.write_text("simulate: {samples: lots}\n")
    with pytest.raises(DemoConfigError, match=r"d\.yaml: simulate\.samples: expected an integer"):
        load_demo_config(path)


def test_fracbits_accelerators_must_name_designs_in_hw_configs(tmp_path):
    assert load_demo_config().fracbits_accelerators == ("bitfusion",)
    path = tmp_path / "d.yaml"
    path.write_text("fracbits_accelerators: [bitfusion, stripez]\n")
    with pytest.raises(DemoConfigError, match=r"d\.yaml: fracbits_accelerators: \['stripez'\] are not in hw_configs/"):
        load_demo_config(path)
