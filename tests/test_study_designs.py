"""A study's designs must have distinct names: rows are keyed by them."""
import pytest
import yaml

from hwsim.errors import UserError
from studies.hw import HW_DIR, load_accelerators
from tests.irgen import GenParams, random_ir


def test_duplicate_design_names_refused(tmp_path):
    d = yaml.safe_load((HW_DIR / "loom.yaml").read_text())
    d["name"] = "bitfusion"
    twin = tmp_path / "twin.yaml"
    twin.write_text(yaml.safe_dump(d))
    with pytest.raises(UserError, match=r"twin.yaml: design name 'bitfusion' is also the name of .*bitfusion.yaml"):
        load_accelerators(random_ir(GenParams(seed=1)), [str(HW_DIR / "bitfusion.yaml"), str(twin)])
