"""The shared YAML loader: schema types from dataclass signatures, errors naming file and key path."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import pytest

from hwsim.errors import UserError
from hwsim.typed_yaml import AtLeast, InUnits, build

Millis = Annotated[int, InUnits({"ms": 1, "s": 1000}, "duration", "5 s", "milliseconds"), AtLeast(1)]


@dataclass(frozen=True)
class Job:
    timeout: Millis
    retries: Annotated[int, AtLeast(0)] | None = None
    weights: dict[str, Annotated[float, AtLeast(0.0)]] = field(default_factory=dict)


def test_units_bounds_and_named_mappings_are_read():
    job = build(Job, {"timeout": "2 s", "retries": None, "weights": {"a": 1, "b": 0.5}}, "f.yaml")
    assert job == Job(2000, None, {"a": 1.0, "b": 0.5})
    assert build(Job, {"timeout": 250}, "f.yaml").timeout == 250   # a bare number is in the base unit


@pytest.mark.parametrize("data, message", [
    ({"timeout": "2 min"}, r"f\.yaml: timeout: unknown duration unit 'min'; allowed: ms, s"),
    ({"timeout": "soon"}, r"f\.yaml: timeout: expected a duration such as '5 s' or an integer number of milliseconds"),
    ({"timeout": "0.0005 s"}, r"f\.yaml: timeout: '0\.0005 s' is not a whole number of milliseconds"),
    ({"timeout": 0}, r"f\.yaml: timeout: must be >= 1, got 0"),
    ({"timeout": 5, "retries": -1}, r"f\.yaml: retries: must be >= 0, got -1"),
    ({"timeout": 5, "weights": {"a": 1, "b": -2}}, r"f\.yaml: weights\.b: must be >= 0\.0, got -2\.0"),
    ({"timeout": 5, "weights": {"a": "heavy"}}, r"f\.yaml: weights\.a: expected a finite number"),
    ({"timeout": 5, "weights": {3: 1.0}}, r"f\.yaml: weights: expected a string, got 3"),
    ({"retries": 1}, r"f\.yaml: timeout: missing \(required key\)"),
])
def test_bad_values_name_file_and_key_path(data, message):
    with pytest.raises(UserError, match=message):
        build(Job, data, "f.yaml")


def test_a_key_with_a_line_break_is_shown_on_one_line():
    from hwsim.errors import UserError
    from hwsim.hwconfig import parse_hw_config
    with pytest.raises(UserError) as e:
        parse_hw_config({"\n": None}, "h.yaml")
    assert "\n" not in str(e.value) and "'\\n'" in str(e.value)
