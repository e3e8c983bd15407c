"""Reading YAML and JSON documents from users with limits: size, nesting depth, node count after alias
expansion (a 9-line alias bomb is refused before anything expands it), no duplicate keys, numbers within
bounds. Every failure is the caller's UserError class, in one line naming the file, line and column."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError, excerpt

MAX_BYTES = 16 << 20     # 16 MiB: far above any config or manifest the project writes
MAX_DEPTH = 64           # nesting levels
MAX_NODES = 1_000_000    # values after alias expansion
MAX_INT_DIGITS = 40      # digits of an integer literal (2^128 has 39)


class _Limit(Exception):
    """A document over one of the limits (raised inside the parser, reported by `parse`)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting, alias bombs, duplicate keys and unhashable or huge keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Limit(f"nested deeper than {MAX_DEPTH} levels (line {self.peek_event().start_mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expanded(node)
        return node

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                except TypeError:
                    raise _Limit(f"line {key_node.start_mark.line + 1}: a mapping key must be a plain value, "
                                 f"got {excerpt(key)}") from None
                if dup:
                    raise _Limit(f"line {key_node.start_mark.line + 1}: duplicate key {excerpt(key)}")
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise _Limit(f"line {node.start_mark.line + 1}: integer of {digits} digits (at most {MAX_INT_DIGITS})")
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def _check_expanded(root) -> None:
    """Count nodes and depth as if every alias were expanded; memoised per node, so linear in the text."""
    memo: dict[int, tuple[int, int]] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo:
            continue
        kids = ([n for kv in node.value for n in kv] if isinstance(node, yaml.MappingNode)
                else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            size = 1 + sum(memo[id(k)][0] for k in kids)
            depth = 1 + max((memo[id(k)][1] for k in kids), default=0)
            if size > MAX_NODES or depth > MAX_DEPTH:
                raise _Limit(f"expands to more than {MAX_NODES} values or {MAX_DEPTH} levels (aliases)")
            memo[id(node)] = (size, depth)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in memo)


def _json_pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _Limit(f"duplicate key {excerpt(k)}")
        out[k] = v
    return out


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Limit(f"integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _json_constant(name: str):
    raise _Limit(f"{name} is not a number JSON allows")


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def parse(text: str, source: str, error: type[UserError] = UserError, fmt: str = "yaml") -> Any:
    """The document in `text` ("yaml" or "json"); `error` naming `source` when it is malformed or over a limit."""
    what = fmt.upper()
    if len(text) > MAX_BYTES:
        raise error(f"{source}: {len(text)} characters; larger than the {MAX_BYTES >> 20} MiB a {what} file may be")
    try:
        if fmt == "json":
            data = json.loads(text, object_pairs_hook=_json_pairs, parse_int=_json_int, parse_constant=_json_constant)
            if _depth(data) > MAX_DEPTH:
                raise _Limit(f"nested deeper than {MAX_DEPTH} levels")
            return data
        loader = _BoundedLoader(text)   # a SafeLoader: it builds plain data only, never objects
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _Limit as e:
        raise error(f"{source}: {what} refused: {e}") from None
    except RecursionError:
        raise error(f"{source}: {what} refused: nested deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise error(f"{source}: not valid {what}: {e.problem or e.context}{at}") from None
    except json.JSONDecodeError as e:
        raise error(f"{source}: not valid {what}: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except (yaml.YAMLError, ValueError) as e:
        raise error(f"{source}: not valid {what}: {excerpt(str(e), 200)}") from None


def read(path: str | Path, error: type[UserError] = UserError, what: str = "file", fmt: str | None = None) -> Any:
    """The parsed document at `path` (format by suffix unless `fmt`); `error` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist" + (" (it is a directory)" if path.is_dir() else ""))
    if path.stat().st_size > MAX_BYTES:
        raise error(f"{path}: {path.stat().st_size} bytes; larger than the {MAX_BYTES >> 20} MiB a {what} may be")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None
    return parse(text, str(path), error, fmt or ("json" if path.suffix == ".json" else "yaml"))

