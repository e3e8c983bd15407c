"""Studies over a trained meta-network: Pareto fronts, run-time switching, accelerator comparison,
trainer ablation; each writes tables, plots, the config it used and an index.html (studies/report.py)."""
