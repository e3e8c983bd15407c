"""bitmixer report DIR: write DIR/index.html from every study.json in DIR and its subdirectories
(plots and tables with a sentence each; opens from disk, no server or network needed)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("report", help="write index.html for a directory of study outputs", description=__doc__)
    p.add_argument("dir")
    p.add_argument("--title", default=None, help="page title")
    p.set_defaults(func=run)


def run(args) -> int:
    from studies.report import write_report

    print(f"report: {write_report(args.dir, args.title)}")
    return 0
