"""The HTML report in a real browser: headless Chromium loads the page, every embedded
diagram decodes (naturalWidth > 0) and a screenshot shows the tables and the images."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from calipers.cli import main
from calipers.cli.html_report import group_stem

pytestmark = pytest.mark.slow

# Appended to a copy of the report: on load, the page writes what it sees into the DOM,
# which --dump-dom prints.
_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => ({id: i.id, w: i.naturalWidth, h: i.naturalHeight, done: i.complete}));
  const tables = [...document.querySelectorAll('table')].map(t => ({id: t.id, rows: t.rows.length}));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = 'PROBE' + JSON.stringify({imgs, tables}) + 'END';
  document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")


def _headless(browser: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_report_renders_in_chromium(tmp_path):
    browser = _chromium()
    rng = np.random.default_rng(0)
    log = tmp_path / "log.jsonl"
    with open(log, "w") as fh:
        for i in range(4000):
            p = float(rng.random())
            fh.write(
                json.dumps(
                    {
                        "score": p,
                        "label": int(rng.random() < p**1.5),
                        "model": "ab"[i % 2],
                        "ts": 1_700_000_000 + 60 * i,
                    }
                )
                + "\n"
            )
    report = tmp_path / "report"
    assert (
        main(["score", str(log), "--by", "model", "--time", "ts", "--window", "1h", "--report", str(report), "--quiet"])
        == 0
    )
    probed = tmp_path / "probed.html"
    probed.write_text((report / "index.html").read_text().replace("</body>", _PROBE + "</body>"))

    dom = _headless(browser, "--dump-dom", probed.as_uri())
    found = re.search(r'<pre id="probe">PROBE(.*?)END</pre>', dom.stdout, re.DOTALL)
    assert found, f"the page did not run to load: {dom.stderr[-2000:]}"
    seen = json.loads(html.unescape(found.group(1)))
    images = {img["id"]: img for img in seen["imgs"]}
    ga, gb = (f"group-{group_stem(k)}" for k in ("a", "b"))
    assert set(images) >= {"reliability", "smooth", "overview", ga, gb, "drift"}
    assert all(img["done"] and img["w"] > 0 and img["h"] > 0 for img in images.values()), images
    tables = {t["id"]: t["rows"] for t in seen["tables"]}
    assert tables["overview-table"] == 3  # header + one row per group, before the per-group diagrams
    page = (report / "index.html").read_text()
    assert page.index('id="overview"') < page.index(f'id="{ga}"') < page.index(f'id="{gb}"')
    assert tables["metrics"] >= 5 and tables["bins"] >= 10 and tables["windows"] >= 3

    shot = tmp_path / "report.png"
    _headless(browser, f"--screenshot={shot}", "--window-size=1200,2400", (report / "index.html").as_uri())
    assert shot.exists(), "Chromium wrote no screenshot"
    from matplotlib.image import imread

    pixels = imread(str(shot))
    assert pixels.shape[0] == 2400 and pixels.shape[1] == 1200
    # Not a blank page: text and plots give many distinct colours.
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1])[::97], axis=0)) > 20
