"""Load a study's YAML into frozen dataclasses that reject unknown keys and wrong types.

The dataclass fields are the schema: a nested dataclass field reads a mapping, `tuple[X, ...]` a list,
`X | None` allows null. Errors name the file and the key path (e.g. `pareto.yaml: greedy.budgets[1]`).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from hwsim.errors import UserError


class StudyConfigError(UserError):
    """A study config file with a missing, unknown or mistyped key."""


def load_yaml(path: str | Path) -> Mapping:
    path = Path(path)
    if not path.is_file():
        raise StudyConfigError(f"study config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise StudyConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, Mapping):
        raise StudyConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def build(cls, data: Any, where: str):
    """Instantiate dataclass `cls` from plain YAML data, checking every key against its fields."""
    if not isinstance(data, Mapping):
        raise StudyConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise StudyConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], _child(where, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise StudyConfigError(f"{where}: missing required key {name!r}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise StudyConfigError(f"{where}: {e}") from None


def _child(where: str, key: str) -> str:
    """`file.yaml: a.b`: the file, then the key path."""
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return _coerce(a, value, where)
            except StudyConfigError as e:
                errors.append(str(e))
        raise StudyConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if tp is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise StudyConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)     # checked by whoever consumes it (e.g. the trainer's own config loader)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise StudyConfigError(f"{where}: expected a list, got {value!r}")
        (item, *_rest) = typing.get_args(tp)
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise StudyConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise StudyConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise StudyConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise StudyConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise StudyConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"schema type {tp} not supported")  # a programming error, not a user one


def to_plain(obj) -> Any:
    """A dataclass config as plain YAML-able data (what `resolved_config.yaml` holds)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj
