"""Both pages in a real browser (headless Chromium): the comparison page's summary counts and
its first, coloured regression row; the report's one Pareto plot per model and task; no table
running off the page. Skipped, naming chromium, where no headless Chromium is installed
(.ci/run installs the Debian package)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from compress.compare.html import compare_page
from compress.compare.judge import compare
from compress.compare.rules import Options
from compress.report.html import render_html
from compress.report.style import VERDICT_COLOURS
from compress.verdict.resultfile import load
from tests.pages_data import TASKS, runs

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
WINDOW = "--window-size=1400,2000"
# Runs once the page has loaded and writes what the browser computed into <body data-*>,
# which --dump-dom then prints
PROBE = """<script>addEventListener('load', () => {
  const b = document.body, row = document.querySelector('table.regressions tbody tr');
  b.dataset.firstRow = row ? row.dataset.verdict : 'none';
  b.dataset.firstRowBg = row ? getComputedStyle(row).backgroundColor : '';
  b.dataset.firstVerdictColour = row ? getComputedStyle(row.querySelector('.verdict')).color : '';
  b.dataset.counts = [...document.querySelectorAll('.summary .count[data-verdict]')]
    .map(s => s.dataset.verdict + '=' + s.dataset.count).join(',');
  const figures = [...document.querySelectorAll('figure.pareto')];
  b.dataset.tasks = figures.map(f => f.dataset.task).join('|');
  b.dataset.drawn = figures.filter(f => f.querySelector('img').naturalWidth > 0).length;
  b.dataset.overflow = document.documentElement.scrollWidth > innerWidth;
});</script></body>"""


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def _probe(page: Path, html: str) -> dict[str, str]:
    """The data-* attributes PROBE left on <body>, read from Chromium's DOM."""
    page.write_text(html.replace("</body>", PROBE), encoding="utf-8")
    dom = subprocess.run(
        [BROWSER, *FLAGS, WINDOW, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    body = dom.split("<body", 1)[1].split(">", 1)[0]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))


def _screenshot(page: Path) -> int:
    shot = page.with_suffix(".png")
    subprocess.run(
        [BROWSER, *FLAGS, WINDOW, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    return shot.stat().st_size


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium (Debian package chromium)")
def test_comparison_page_in_a_browser(tmp_path: Path) -> None:
    base, cand = (load(p) for p in runs(tmp_path))
    rows = compare(base, cand, Options())
    seen = _probe(tmp_path / "compare.html", compare_page(rows, base, cand, Options(), ""))
    counts = dict(c.split("=") for c in seen["counts"].split(","))
    assert counts == {
        "regression": "2",
        "improved": "1",
        "inconclusive": "1",
        "not-comparable": counts["not-comparable"],
        "missing": "1",
    }
    assert int(counts["not-comparable"]) > 0
    background, strong = VERDICT_COLOURS["regression"]
    assert seen["first-row"] == "regression"
    assert seen["first-row-bg"] == _rgb(background)
    assert seen["first-verdict-colour"] == _rgb(strong)
    assert seen["overflow"] == "false"
    assert _screenshot(tmp_path / "compare.html") > 10_000


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium (Debian package chromium)")
def test_report_page_in_a_browser(tmp_path: Path) -> None:
    base, _ = runs(tmp_path)
    seen = _probe(tmp_path / "report.html", render_html([load(base)]))
    tasks = seen["tasks"].split("|")
    assert sorted(tasks) == sorted(TASKS) and len(tasks) == len(set(tasks))
    assert seen["drawn"] == str(len(TASKS))  # every plot decoded and shown
    assert seen["overflow"] == "false"
    assert _screenshot(tmp_path / "report.html") > 10_000
