"""bitmixer search METHOD ...: find a per-layer bit config under a budget. Each method lives in
quantnet/commands/search_<method>.py and exposes `register(subparsers)`."""
from __future__ import annotations

import importlib

# Search methods, in the order `bitmixer search --help` lists them.
SEARCH_METHODS = ["fracbits"]


def register(sub) -> None:
    p = sub.add_parser("search", help="search a per-layer bit config under a budget", description=__doc__)
    methods = p.add_subparsers(dest="method", required=True)
    for name in SEARCH_METHODS:
        importlib.import_module(f"quantnet.commands.search_{name}").register(methods)
