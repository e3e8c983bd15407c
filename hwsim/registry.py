"""A vocabulary of named things (PE kinds, dataflows, conv methods): each registered once by name and looked
up by it, with an error that lists the known names."""
from __future__ import annotations

from .errors import UserError


class Registry(dict):
    """name -> item; a dict, so that `name in r`, `set(r)` and `r[name]` read as usual."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def register(self, name: str, item):
        """Add `item` under `name` (a programming error, ValueError, when the name is empty or taken)."""
        if not isinstance(name, str) or not name or name in self:
            raise ValueError(f"{self.what} name {name!r} is empty or taken")
        self[name] = item
        return item

    def lookup(self, name: str, error: type[Exception] = UserError):
        """The item registered as `name`; `error` naming the known names otherwise."""
        if isinstance(name, str) and name in self:
            return self[name]
        raise error(f"unknown {self.what} {name!r}; known: {sorted(self)}")
