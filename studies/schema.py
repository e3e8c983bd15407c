"""Study configs: YAML into frozen dataclasses through the shared typed loader (hwsim/typed_yaml.py),
which rejects unknown keys and wrong types naming the file and the key path."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from hwsim import typed_yaml
from hwsim.errors import UserError


class StudyConfigError(UserError):
    """A study config file with a missing, unknown or mistyped key."""


def load_yaml(path: str | Path) -> Mapping:
    data = typed_yaml.read_yaml(path, StudyConfigError, "study config")
    if not isinstance(data, Mapping):
        raise StudyConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def build(cls, data: Any, where: str):
    """Instantiate dataclass `cls` from plain YAML data, checking every key against its fields."""
    return typed_yaml.build(cls, data, where, StudyConfigError)


def to_plain(obj) -> Any:
    """A dataclass config as plain YAML-able data (what `resolved_config.yaml` holds)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
