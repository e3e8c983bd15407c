"""`bitmixer`: one entry point; each subcommand lives in bitmixer/commands/<name>.py and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`."""
from __future__ import annotations

import argparse
import importlib
import sys

from hwsim import __version__
from hwsim.errors import UserError

# Subcommand modules, in the order `bitmixer --help` lists them.
COMMANDS = ["eval", "train", "ablation", "export", "vectors", "verify", "estimate", "simulate", "study", "sweep",
            "search", "report", "demo"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bitmixer", description="Bit-Mixer hardware co-design framework")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for input errors")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"bitmixer.commands.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        if args.debug:
            raise
        print(f"bitmixer {args.command}: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt:
        if args.debug:
            raise
        # runs write through temporary files and keep their last whole checkpoint: `--resume` goes on from it
        print(f"bitmixer {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
