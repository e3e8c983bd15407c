"""The report opens from disk in headless Chromium with every image loaded and nothing fetched from
elsewhere. Skips (saying how to install it) where Chromium is missing."""
import re

from browser import loaded_images, needs_chromium
from studies import plots
from studies.output import StudyOutput
from studies.report import write_report


def _report(root):
    """Two studies in subdirectories (two figures, a table) and the combined page over both."""
    for k, sub in enumerate(("alpha", "beta")):
        out = StudyOutput(root / sub, sub, f"study {sub}", "a sentence")
        fig, ax = plots.plt.subplots()
        ax.plot([0, 1, 2], [k, 1, 0])
        out.figure("curve", fig, "a curve", "what it shows")
        out.table("numbers", [{"x": 1, "y": 0.5}, {"x": 2, "y": 0.25}], "numbers", "what they are")
        out.finish()
    return write_report(root)


def test_report_is_self_contained(tmp_path):
    page = _report(tmp_path).read_text()
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(not re.match(r"^[a-z]+:|^//|^/", r) for r in refs), refs
    assert 'src="alpha/curve.png"' in page and 'src="beta/curve.png"' in page
    assert "<script" not in page and "<link" not in page     # inline CSS only, no external assets


@needs_chromium
def test_report_images_load_in_headless_chromium(tmp_path):
    page = _report(tmp_path)
    profile = tmp_path / "profile"
    images = loaded_images(page, profile)
    assert sorted(i["src"] for i in images) == ["alpha/curve.png", "beta/curve.png"]
    for i in images:
        assert i["done"] and i["w"] > 100 and i["h"] > 100, i
    # and a missing image is detected as such (the probe can fail)
    (tmp_path / "beta" / "curve.png").unlink()
    images = loaded_images(page, profile)
    assert {i["src"]: i["w"] for i in images}["beta/curve.png"] == 0
