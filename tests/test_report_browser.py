"""The report opens from disk in headless Chromium with every image loaded and nothing fetched from
elsewhere. Skips (saying how to install it) where Chromium is missing."""
import json
import re
import shutil
import subprocess

import pytest

from studies import plots
from studies.output import StudyOutput
from studies.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--virtual-time-budget=5000"]

# Appended to a copy of the page (beside it, so relative paths resolve the same): once everything has
# loaded, write what each <img> decoded into the DOM that --dump-dom prints.
PROBE = """<script>
window.addEventListener('load', () => {
  const r = [...document.images].map(i => ({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight,
                                              done: i.complete}));
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


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


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found: install it with "
                                              "`apt-get update && apt-get install -y chromium` (Debian)")
def test_report_images_load_in_headless_chromium(tmp_path):
    page = _report(tmp_path)
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "profile"
    res = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"no probe output from chromium (rc {res.returncode}): {res.stderr[-2000:]}"
    images = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert sorted(i["src"] for i in images) == ["alpha/curve.png", "beta/curve.png"]
    for i in images:
        assert i["done"] and i["w"] > 100 and i["h"] > 100, i
    # and a missing image is detected as such (the probe can fail)
    (tmp_path / "beta" / "curve.png").unlink()
    res = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    images = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S).group(1).replace("&quot;", '"'))
    assert {i["src"]: i["w"] for i in images}["beta/curve.png"] == 0
