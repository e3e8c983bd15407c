"""index.html for a directory of study outputs: every `study.json` manifest in DIR and its
subdirectories, laid out as sections of plots and tables with a sentence each.

The page opens from disk with no server and no network: inline CSS, no scripts or fonts from
elsewhere, images by relative path, tables inlined from their CSV.
"""
from __future__ import annotations

import csv
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from hwsim import documents, typed_yaml
from hwsim.errors import UserError, excerpt
from hwsim.typed_yaml import AtLeast

MANIFEST = "study.json"   # one per study directory, written by studies/output.py

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
 color:#222;line-height:1.45;padding:0 1em}
h1{border-bottom:2px solid #446;padding-bottom:.2em}h2{margin-top:2em;color:#335}h3{margin-bottom:.2em}
p.caption{margin:.2em 0 .8em;color:#444}figure{margin:0 0 1.5em}img{max-width:100%;border:1px solid #ddd}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85em;margin-bottom:.4em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}th{background:#eef}td:first-child,th:first-child{text-align:left}
.note{color:#777;font-size:.85em}nav a{margin-right:1em}
"""


class ReportError(UserError):
    """A report directory that is missing or holds no study manifest."""


def find_manifests(root: Path) -> list[Path]:
    """Manifests under root, root's own first, then subdirectories in name order."""
    own = root / MANIFEST
    subs = sorted(p for p in root.rglob(MANIFEST) if p != own)
    return ([own] if own.is_file() else []) + subs


def write_report(root: str | Path, title: str | None = None) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"report directory {root} does not exist")
    manifests = find_manifests(root)
    if not manifests:
        raise ReportError(f"{root}: no {MANIFEST} found in it or its subdirectories (run a study first)")
    sections = [_load(m) for m in manifests]
    title = title or (sections[0][1].title if len(sections) == 1 else f"Bit-Mixer studies: {root.name}")
    body = [f"<h1>{html.escape(title)}</h1>"]
    if len(sections) > 1:
        body.append("<nav>" + "".join(f'<a href="#s{i}">{html.escape(m.title)}</a>'
                                      for i, (_, m) in enumerate(sections)) + "</nav>")
    for i, (mpath, m) in enumerate(sections):
        body.append(_section(root, mpath.parent, m, i, heading=len(sections) > 1 and m.title != title))
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    out = root / "index.html"
    out.write_text(page)
    return out


@dataclass(frozen=True)
class Item:
    kind: Literal["table", "image", "text"]
    title: str = ""
    caption: str = ""
    file: str | None = None           # tables and images: a file inside the study directory
    show_rows: Annotated[int, AtLeast(0)] = 40


@dataclass(frozen=True)
class Manifest:
    title: str
    items: tuple[Item, ...]
    study: str = ""
    summary: str = ""


def _load(path: Path) -> tuple[Path, Manifest]:
    m = typed_yaml.build(Manifest, documents.read(path, ReportError, "study manifest", "json"), str(path), ReportError)
    here = path.parent.resolve()
    for i, it in enumerate(m.items):
        if it.kind == "text":
            continue
        where = f"{path}: items[{i}].file"
        if not it.file:
            raise ReportError(f"{where}: a {it.kind} names its file")
        # only files of the study itself are embedded or linked: no absolute paths, no way out by '..' or links
        if "\0" in it.file or Path(it.file).is_absolute() or not (here / it.file).resolve().is_relative_to(here):
            raise ReportError(f"{where}: {excerpt(it.file)} is outside the study directory {path.parent}")
    return path, m


def _section(root: Path, d: Path, m: Manifest, idx: int, heading: bool) -> str:
    rel = d.relative_to(root).as_posix()
    prefix = "" if rel == "." else rel + "/"
    out = [f'<section id="s{idx}">']
    if heading:
        out.append(f"<h2>{html.escape(m.title)}</h2>")
    if m.summary:
        out.append(f"<p>{html.escape(m.summary)}</p>")
    for it in m.items:
        out.append(f"<h3>{html.escape(it.title)}</h3>")
        cap = f"<p class=\"caption\">{html.escape(it.caption)}</p>"
        kind, f = it.kind, it.file
        if kind == "image":
            src = html.escape(prefix + f, quote=True)
            out.append(f'<figure><img src="{src}" alt="{html.escape(it.title, quote=True)}">'
                       f"<figcaption>{cap}</figcaption></figure>")
        elif kind == "table":
            out.append(cap + _table(d / f, prefix + f, it.show_rows))
        else:
            out.append(cap)
    out.append("</section>")
    return "\n".join(out)


def _table(path: Path, href: str, show_rows: int) -> str:
    if not path.is_file():
        return f'<p class="note">(table {html.escape(path.name)} is missing)</p>'
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return '<p class="note">(empty table)</p>'
    head, data = rows[0], rows[1:]
    cells = ['<div class="scroll"><table><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in data[:show_rows]:
        cells.append("<tr>" + "".join(f"<td>{html.escape(_short(c))}</td>" for c in r) + "</tr>")
    cells.append("</table></div>")
    more = f"{len(data) - show_rows} more rows in " if len(data) > show_rows else "full table: "
    cells.append(f'<p class="note">{more}<a href="{html.escape(href, quote=True)}">{html.escape(path.name)}</a></p>')
    return "".join(cells)


def _short(cell: str, limit: int = 60) -> str:
    """Display form of a CSV cell: reals to 4 significant digits (the CSV keeps them all), long text cut."""
    if "." in cell or "e" in cell.lower():
        try:
            v = float(cell)
            cell = f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"
        except ValueError:
            pass
    return cell if len(cell) <= limit else cell[:limit - 1] + "…"
