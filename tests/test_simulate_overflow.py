"""simulate: an overflow of the modelled accumulator stops the run (exit 1, naming layer and width) unless
--allow-overflow, which reports it and flags every output; --samples must be positive; --json - and
--json DIR behave."""
import copy
import json

import numpy as np
import pytest
import yaml

from bitmixer import cli
from hwsim.bits import BitConfig
from hwsim.hwconfig import parse_hw_config
from hwsim.ir_io import save_ir
from hwsim.pe.simulate import SimulatedOverflow, simulate_config
from tests.irgen import GenParams, random_input, random_ir

BASE = yaml.safe_load(open("hw_configs/stripes.yaml"))


@pytest.fixture(scope="module")
def ir():
    return random_ir(GenParams(seed=5, channels=1, size=8, width=8, weights="max", classes=4))  # synthetic's shape


def _narrow_hw():
    d = copy.deepcopy(BASE)
    d["pe"]["partial_sum_bits"] = d["pe"]["accumulator_bits"] = 4
    return parse_hw_config(d, "narrow.yaml")


def test_overflow_is_an_error_by_default(ir):
    x = random_input(ir, np.random.default_rng(0), 4, "max")
    cfg = BitConfig.uniform_where_allowed(ir.table, 8)
    with pytest.raises(SimulatedOverflow, match=r"layer '.*': \d+ partial sums overflow 4 bits .* 4-bit accumulator") as e:
        simulate_config(ir, _narrow_hw(), cfg, x, np.zeros(4, np.int64))
    assert e.value.exit_code == 1
    r = simulate_config(ir, _narrow_hw(), cfg, x, np.zeros(4, np.int64), allow_overflow=True)
    assert r["overflowed"] is True and r["total"]["acc_overflows"] + r["total"]["psum_overflows"] > 0


def test_cli_exit_codes(ir, tmp_path, capsys):
    model = tmp_path / "m.npz"
    save_ir(ir, model)
    hw = tmp_path / "narrow.yaml"
    d = copy.deepcopy(BASE)
    d["pe"]["partial_sum_bits"] = d["pe"]["accumulator_bits"] = 4
    hw.write_text(yaml.safe_dump(d))
    cfg = tmp_path / "c.yaml"
    BitConfig.uniform_where_allowed(ir.table, 8).save(cfg)
    base = ["simulate", str(model), "--hw", str(hw), "--data", "synthetic", "--samples", "4", "--no-progress",
            "--config", str(cfg)]
    assert cli.main(base) == 1
    assert "4-bit accumulator" in capsys.readouterr().err
    assert cli.main(base + ["--allow-overflow", "--json", "-"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["overflow_allowed"] is True and out["results"][0]["overflowed"] is True
    assert cli.main(base + ["--allow-overflow", "--json", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("n", ["0", "-3"])
def test_samples_must_be_positive(n):
    with pytest.raises(SystemExit) as e:
        cli.main(["simulate", "m.npz", "--hw", "x.yaml", "--samples", n])
    assert e.value.code == 2
