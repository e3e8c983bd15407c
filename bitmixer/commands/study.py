"""bitmixer study NAME [--config FILE] [--out DIR] [--checkpoint CKPT]: run a study (pareto, runtime-switch,
accelerators, ablation, selection, papers, storage); writes CSV/JSON tables, PNG plots, resolved_config.yaml and index.html into DIR."""
from __future__ import annotations


def register(sub) -> None:
    from studies.runner import STUDY_NAMES

    p = sub.add_parser("study", help="energy/accuracy studies: " + ", ".join(STUDY_NAMES), description=__doc__)
    p.add_argument("name", choices=STUDY_NAMES)
    p.add_argument("--config", default=None, help="study YAML (default: the packaged studies/NAME.yaml)")
    p.add_argument("--out", default=None, help="output directory (default: runs/study-NAME)")
    p.add_argument("--checkpoint", default=None, help="meta-network checkpoint (overrides model.checkpoint)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from studies.runner import run_study

    index = run_study(args.name, args.config, args.out, args.checkpoint, progress=not args.no_progress)
    print(f"report: {index}")
    return 0
