"""YAML settings -> frozen dataclasses, by the dataclasses' own field types: one loader for every config.

The fields are the schema: a nested dataclass reads a mapping, `tuple[X, ...]` a list, `X | None` allows
null, `Literal[...]` a fixed set, `dict[str, X]` a mapping of names to X, a bare `dict` any mapping
(checked by whoever consumes it), and `Annotated[X, rule, ...]` adds rules: `InUnits` reads "64 KiB",
`AtLeast` bounds a number. Unknown keys, missing required keys and mistyped values raise the caller's
error class, naming the file and the key path (e.g. `pareto.yaml: greedy.budgets[1]: expected a number`).
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from . import documents
from .errors import UserError, excerpt


INT_LIMIT = 2**62   # no count, size or width of a config comes near; the cost model's products stay exact


def read_yaml(path: str | Path, error: type[UserError] = UserError, what: str = "config file") -> Any:
    """The parsed YAML of `path`; a missing file or bad syntax raises `error` naming the file."""
    return documents.read(path, error, what, "yaml")


def child(where: str, key: str) -> str:
    """`file.yaml: a.b`: the file, then the key path (a key with line breaks or of any length as an excerpt)."""
    if not key.isprintable() or len(key) > 80:
        key = excerpt(key)
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


def build(cls, data: Any, where: str, error: type[UserError] = UserError):
    """Instantiate dataclass `cls` from plain YAML data, checking every key against its fields."""
    if not isinstance(data, Mapping):
        raise error(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise error(f"{child(where, str(unknown[0]))}: unknown key; allowed here: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = coerce(hints[name], data[name], child(where, name), error)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise error(f"{child(where, name)}: missing (required key)")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        if isinstance(e, UserError):
            raise
        raise error(f"{where}: {e}") from None


class AtLeast:
    """`Annotated[int, AtLeast(1)]`: the value must be >= `minimum`."""

    def __init__(self, minimum: float):
        self.minimum = minimum

    def problem(self, value) -> str | None:
        return f"must be >= {self.minimum}, got {value}" if value < self.minimum else None


class AtMost:
    """`Annotated[float, AtMost(1e6)]`: the value must be <= `maximum` (a stated bound, not a guess at
    typos: past it the model's arithmetic stops meaning anything)."""

    def __init__(self, maximum: float):
        self.maximum = maximum

    def problem(self, value) -> str | None:
        return f"must be <= {self.maximum:g}, got {excerpt(value)}" if value > self.maximum else None


class InUnits:
    """`Annotated[int, InUnits(...)]`: a whole quantity written "<number> <unit>" ('64 KiB') or as a bare
    number already in the base unit; `units` maps each unit name to its size in base units."""

    _TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")

    def __init__(self, units: Mapping[str, int], what: str, example: str, base: str):
        self.units, self.what, self.example, self.base = dict(units), what, example, base

    def convert(self, value, where: str, error):
        if not isinstance(value, str):
            return value  # a bare number: the declared type checks it
        m = self._TEXT.match(value)
        if not m:
            raise error(f"{where}: expected a {self.what} such as {self.example!r} or an integer number of "
                        f"{self.base}, got {excerpt(value)}")
        number, unit = m.groups()
        if unit not in self.units:
            raise error(f"{where}: unknown {self.what} unit {unit!r}; allowed: {', '.join(self.units)}")
        amount = float(number) * self.units[unit]
        if not amount.is_integer():
            raise error(f"{where}: {excerpt(value)} is not a whole number of {self.base}")
        return int(amount)


def coerce(tp, value, where: str, error: type[UserError] = UserError):
    """`value` (plain YAML data) checked against, and converted to, schema type `tp`."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base, *rules = typing.get_args(tp)
        for rule in rules:
            if hasattr(rule, "convert"):
                value = rule.convert(value, where, error)
        value = coerce(base, value, where, error)
        for rule in rules:
            if hasattr(rule, "problem") and (problem := rule.problem(value)):
                raise error(f"{where}: {problem}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return coerce(a, value, where, error)
            except UserError as e:
                errors.append(str(e))
        raise error(errors[0] if len(errors) == 1 else f"{where}: {excerpt(value)} fits none of {tp}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, error)
    if tp is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise error(f"{where}: expected a mapping, got {excerpt(value)}")
        if tp is dict:
            return dict(value)
        key_type, value_type = typing.get_args(tp)
        return {coerce(key_type, k, where, error): coerce(value_type, v, child(where, str(k)), error)
                for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise error(f"{where}: expected a list, got {excerpt(value)}")
        item = typing.get_args(tp)[0]
        return tuple(coerce(item, v, f"{where}[{i}]", error) for i, v in enumerate(value))
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise error(f"{where}: {excerpt(value)} is not one of {list(typing.get_args(tp))}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise error(f"{where}: expected true or false, got {excerpt(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise error(f"{where}: expected an integer, got {excerpt(value)}")
        if not -INT_LIMIT < value < INT_LIMIT:
            raise error(f"{where}: {excerpt(value)} is out of range (|value| < 2^62)")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise error(f"{where}: expected a finite number, got {excerpt(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise error(f"{where}: expected a string, got {excerpt(value)}")
        return value
    raise TypeError(f"schema type {tp} not supported")  # a programming error, not a user one
