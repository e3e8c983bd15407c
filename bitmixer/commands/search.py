"""bitmixer search METHOD ...: search for bit configurations or per-sample policies on a meta-network.
Each method lives in bitmixer/commands/search_<method>.py and exposes `register(subparsers)`."""
from __future__ import annotations

import importlib

SEARCH_METHODS = ["adaptive"]


def register(sub) -> None:
    p = sub.add_parser("search", help="search configs or per-sample policies", description=__doc__)
    methods = p.add_subparsers(dest="method", required=True)
    for name in SEARCH_METHODS:
        importlib.import_module(f"bitmixer.commands.search_{name}").register(methods)
