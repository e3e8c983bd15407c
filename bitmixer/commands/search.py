"""bitmixer search METHOD ...: choose bit-widths on a meta-network: a per-layer config under a budget
(fracbits) or a per-sample policy (adaptive). Each method lives in bitmixer/commands/search_<method>.py and
exposes `register(subparsers)`."""
from __future__ import annotations

import importlib

# Search methods, in the order `bitmixer search --help` lists them.
SEARCH_METHODS = ["fracbits", "adaptive"]


def register(sub) -> None:
    p = sub.add_parser("search", help="search a per-layer config under a budget, or a per-sample policy",
                       description=__doc__)
    methods = p.add_subparsers(dest="method", required=True)
    for name in SEARCH_METHODS:
        importlib.import_module(f"bitmixer.commands.search_{name}").register(methods)
