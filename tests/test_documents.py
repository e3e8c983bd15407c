"""The bounded document reader: hostile YAML/JSON ends in one bounded line naming the file."""
import time

import pytest

from hwsim import documents
from hwsim.errors import UserError
from hwsim.hwconfig import load_hw_config
from hwsim.errors import HwConfigError

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def _refused(text, fmt="yaml", match=None):
    with pytest.raises(UserError, match=match) as e:
        documents.parse(text, "f.cfg", UserError, fmt)
    msg = str(e.value)
    assert msg.startswith("f.cfg: ") and "\n" not in msg and len(msg) < 300, msg
    return msg


def test_alias_bomb_refused_before_expansion():
    t = time.perf_counter()
    _refused(BOMB, match="expands to more than")
    assert time.perf_counter() - t < 2.0


@pytest.mark.parametrize("fmt,text", [("yaml", "[" * 20000 + "]" * 20000), ("json", "[" * 20000 + "]" * 20000),
                                      ("yaml", "a:\n" + "".join(" " * i + "- \n" for i in range(1, 200)))])
def test_deep_nesting_refused(fmt, text):
    _refused(text, fmt, "nested deeper|not valid")


@pytest.mark.parametrize("fmt,text", [("yaml", "a: 1\nb: 2\na: 3\n"), ("json", '{"a": 1, "a": 2}')])
def test_duplicate_keys_refused(fmt, text):
    _refused(text, fmt, "duplicate key 'a'")


@pytest.mark.parametrize("fmt,text", [("yaml", "a: " + "9" * 50000), ("json", '{"a": ' + "9" * 50000 + "}"),
                                      ("json", '{"a": NaN}'), ("yaml", "? [1, 2]\n: 3\n")])
def test_huge_ints_nan_and_unhashable_keys_refused(fmt, text):
    _refused(text, fmt)


def test_yaml_syntax_error_is_one_line():
    assert "line 2" in _refused("a: 1\n\tb: 2\n")


def test_merge_keys_still_read():
    assert documents.parse("base: &b {x: 1}\nc:\n  <<: *b\n  y: 2\n", "f", UserError) == \
        {"base": {"x": 1}, "c": {"x": 1, "y": 2}}


def test_hw_config_with_bomb_names_file(tmp_path):
    p = tmp_path / "hw.yaml"
    p.write_text(BOMB)
    with pytest.raises(HwConfigError, match="hw.yaml"):
        load_hw_config(p)


def test_train_override_value_is_bounded():
    from quantnet.train import TrainConfigError, load_config
    with pytest.raises(TrainConfigError, match=r"override .*: value: YAML refused: nested deeper"):
        load_config(None, ["width=" + "[" * 500 + "]" * 500])
