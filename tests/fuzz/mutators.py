"""Hand-written mutators for the fuzz suite: one edit of a parsed document (a leaf replaced by a hostile
value, a key dropped, added or retyped) or of its text/bytes (duplicate keys, alias bombs, deep nesting,
truncation, flipped bytes). Each returns the mutated input, whether it is known to be invalid, and a label."""
from __future__ import annotations

import copy
import json
import math
import random
import re
from typing import Any

import yaml

# Values no numeric, string or list field of a project config accepts as they are.
NON_FINITE = [math.nan, math.inf, -math.inf]
HOSTILE = NON_FINITE + [-1, -(2**63), -0.5, 0, 2**63, 2**64 + 1, 10**400, 1e308, "", "x" * 5000, "nan", "-1 KiB",
                        "1e400 KiB", "18446744073709551616 b", "0 B", [], {}, None, True, [1, [2, [3]]],
                        {1: "a", "b": 2}, "../../../../etc/passwd", "\x00", "\u202e"]


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) into a tree of dicts and lists, the root excluded."""
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append(prefix + (k,))
            out.extend(paths(v, prefix + (k,)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append(prefix + (i,))
            out.extend(paths(v, prefix + (i,)))
    return out


def _get(data, path):
    for p in path:
        data = data[p]
    return data


def dump_yaml(data: Any) -> str:
    """YAML text of a mutated tree, with its deep-nesting markers written out as flow lists."""
    return _expand_deep(yaml.safe_dump(data, sort_keys=False, width=10**6))


def dump_json(data: Any) -> str:
    return _expand_deep(json.dumps(data, default=str))


def _expand_deep(text: str) -> str:
    return re.sub(r"['\"]?__DEEP_(\d+)__['\"]?", lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)


def known_invalid_value(old: Any, new: Any, negative_invalid: bool) -> bool:
    """A replacement no field could accept: a non-finite number, a container where a scalar stood (or the
    reverse), a deep nest, or (where the kind has no signed fields) a negative number."""
    if isinstance(new, float) and not math.isfinite(new):
        return True
    if isinstance(old, (dict, list)) != isinstance(new, (dict, list)) and new is not None:
        return not (isinstance(old, list) and isinstance(new, list))
    if isinstance(old, (int, float)) and not isinstance(old, bool) and isinstance(new, str) and new != old:
        return new in ("", "x" * 5000, "\x00", "\u202e", "../../../../etc/passwd", "nan")
    if negative_invalid and isinstance(new, (int, float)) and not isinstance(new, bool) and new < 0:
        return True
    return False


def mutate_tree(data: Any, rng: random.Random, negative_invalid: bool = True) -> tuple[Any, bool, str]:
    data = copy.deepcopy(data)
    ps = paths(data)
    path = ps[rng.randrange(len(ps))]
    parent, key = _get(data, path[:-1]), path[-1]
    old = parent[key]
    op = rng.choice(["value", "value", "value", "drop", "unknown", "deep", "retype"])
    where = "/".join(map(str, path))
    if op == "value":
        new = rng.choice(HOSTILE)
        parent[key] = copy.deepcopy(new)
        return data, known_invalid_value(old, new, negative_invalid), f"{where} = {str(new)[:40]!r}"
    if op == "drop":
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
        return data, False, f"drop {where}"
    if op == "unknown" and isinstance(parent, dict):
        parent["zz_unknown_" + str(rng.randrange(100))] = 1
        return data, True, f"unknown key beside {where}"
    if op == "deep":
        parent[key] = f"__DEEP_{rng.choice([50, 500, 5000])}__"   # expanded by dump_yaml: dumpers recurse
        return data, True, f"{where} nested deep"
    parent[key] = [old] if not isinstance(old, list) else {"a": old}
    return data, not isinstance(old, (list, dict)) or isinstance(old, list), f"{where} retyped"


def mutate_yaml_text(text: str, rng: random.Random) -> tuple[str, bool, str]:
    """Text edits that the parser sees: each known invalid except truncation and byte flips."""
    lines = text.splitlines()
    op = rng.choice(["dup", "bomb", "deepflow", "truncate", "flip", "bigint", "tab", "anchor"])
    if op == "dup":
        i = rng.randrange(len(lines))
        return "\n".join(lines[: i + 1] + [lines[i]] + lines[i + 1:]) + "\n", ":" in lines[i] and not \
            lines[i].lstrip().startswith(("-", "#")), f"line {i} duplicated"
    if op == "bomb":
        bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
            f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
        return text + "\n" + "\n".join("zz_" + b for b in bomb) + "\n", True, "alias bomb appended"
    if op == "deepflow":
        n = rng.choice([100, 1000, 20000])
        return text + f"\nzz_deep: {'[' * n}{']' * n}\n", True, f"flow nesting {n}"
    if op == "truncate":
        return text[: rng.randrange(len(text))], False, "truncated"
    if op == "flip":
        b = bytearray(text.encode())
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return b.decode("utf-8", "replace"), False, "bytes flipped"
    if op == "bigint":
        return text + f"\nzz_big: {'9' * rng.choice([20, 5000, 50000])}\n", True, "huge integer"
    if op == "tab":
        return text.replace("  ", "\t", 1), False, "tab indentation"
    return text + "\nzz_ref: *nowhere\n", True, "undefined alias"


def flip_bytes(raw: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(raw)
    op = rng.choice(["flip", "truncate", "zero", "extend"])
    if op == "flip":
        for _ in range(rng.randrange(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif op == "truncate":
        b = b[: rng.randrange(len(b))]
    elif op == "zero":
        i = rng.randrange(len(b))
        b[i: i + rng.randrange(1, 64)] = bytes(min(len(b) - i, 64))
    else:
        b += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 100)))
    return bytes(b), op
