"""Open a local HTML page in headless Chromium and report what each <img> decoded (tests skip where
Chromium is missing; CI installs it)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--virtual-time-budget=5000"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not found: install it with "
                                                              "`apt-get update && apt-get install -y chromium` (Debian)")

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


def loaded_images(page: Path, profile: Path) -> list[dict]:
    """[{src, w, h, done}] of every image on `page` as headless Chromium loaded it."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    res = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"no probe output from chromium (rc {res.returncode}): {res.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
