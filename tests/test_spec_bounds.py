"""--config SPEC and bit config files: bounded, one-line errors for extreme values."""
import time

import pytest

from hwsim.bits import BitConfigError
from quantnet.config_spec import ir_bit_configs
from tests.irgen import GenParams, random_ir


@pytest.fixture(scope="module")
def ir():
    return random_ir(GenParams(seed=3))


@pytest.mark.parametrize("spec,match", [("random:1:-1", "SEED must be an integer"),
                                        ("random:2000000", "N must be an integer in"),
                                        ("x" * 300, "not one of"), ("w4a4\x00", "not one of"),
                                        ("w7a7", "--config 'w7a7': config")])
def test_bad_specs_refused_quickly(ir, spec, match):
    t = time.perf_counter()
    with pytest.raises(BitConfigError, match=match) as e:
        ir_bit_configs(ir, spec)
    assert time.perf_counter() - t < 2.0 and "\n" not in str(e.value) and len(str(e.value)) < 400


@pytest.mark.parametrize("text", ["configs: []\nextra: 1\n", "name: [a]\nlayers: {}\n", "configs: {a: 1}\n"])
def test_bit_config_file_shape_checked(ir, tmp_path, text):
    p = tmp_path / "b.yaml"
    p.write_text(text)
    with pytest.raises(BitConfigError, match="b.yaml"):
        ir_bit_configs(ir, str(p))
