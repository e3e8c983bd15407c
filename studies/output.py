"""A study's output directory: tables (CSV + JSON), figures (PNG), the resolved config, and a
`study.json` manifest listing them with one sentence each, from which studies/report.py writes index.html."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Sequence

import yaml

from .report import MANIFEST, write_report


class StudyOutput:
    def __init__(self, out_dir: str | Path, study: str, title: str, summary: str = ""):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.study, self.title, self.summary = study, title, summary
        self.items: list[dict] = []

    def table(self, name: str, rows: Sequence[dict], title: str, caption: str, show_rows: int = 40) -> Path:
        """Write rows as NAME.csv and NAME.json; the report shows the first `show_rows` of the CSV."""
        rows = [dict(r) for r in rows]
        columns = list(dict.fromkeys(k for r in rows for k in r))
        path = self.dir / f"{name}.csv"
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            for r in rows:
                w.writerow({k: _cell(r.get(k)) for k in columns})
        (self.dir / f"{name}.json").write_text(json.dumps(rows, indent=1, default=_json_default))
        self.items.append({"kind": "table", "file": path.name, "title": title, "caption": caption,
                           "show_rows": show_rows})
        return path

    def figure(self, name: str, fig, title: str, caption: str) -> Path:
        import matplotlib.pyplot as plt

        path = self.dir / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.items.append({"kind": "image", "file": path.name, "title": title, "caption": caption})
        return path

    def text(self, title: str, caption: str) -> None:
        self.items.append({"kind": "text", "title": title, "caption": caption})

    def write_json(self, name: str, payload: Any) -> Path:
        path = self.dir / f"{name}.json"
        path.write_text(json.dumps(payload, indent=1, default=_json_default))
        return path

    def resolved_config(self, plain: Any) -> Path:
        """The configuration the study actually ran with, beside its results."""
        path = self.dir / "resolved_config.yaml"
        path.write_text(yaml.safe_dump(plain, sort_keys=False))
        return path

    def finish(self, write_index: bool = True) -> Path:
        """Write the manifest and (by default) this directory's index.html; returns the manifest path."""
        manifest = {"study": self.study, "title": self.title, "summary": self.summary, "items": self.items}
        path = self.dir / MANIFEST
        path.write_text(json.dumps(manifest, indent=1))
        if write_index:
            write_report(self.dir)
        return path


def _cell(v):
    if isinstance(v, float):
        return f"{v:.10g}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, default=_json_default)
    return v


def _json_default(v):
    import numpy as np

    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
