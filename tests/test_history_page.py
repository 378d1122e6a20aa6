"""compress.history.plot: the history page links each series to its runs and colours the
change points as the comparison page colours verdicts."""

from __future__ import annotations

import re
from pathlib import Path

from compress.history.cli import main
from compress.report.style import VERDICT_COLOURS
from tests.test_history import _nights, _noisy


def test_page_links_runs_and_marks_regressions(tmp_path: Path, capsys) -> None:
    runs = _nights(tmp_path / "r", _noisy(20, 2.5, 5) + _noisy(10, 2.0, 6))
    db = str(tmp_path / "h.sqlite")
    assert main(["--db", db, "ingest", str(runs)]) == 0
    page_path = tmp_path / "out" / "history.html"
    page_path.parent.mkdir()
    assert main(["--db", db, "report", "--html", str(page_path)]) == 1
    page = page_path.read_text()
    [row] = re.findall(
        r'<tr class="(\w+)" data-verdict="\w+"><td class="text"><a href="#(series-\d)"', page
    )
    assert row[0] == "regression"
    section = page.split(f'<section id="{row[1]}">')[1].split("</section>")[0]
    links = re.findall(r'<a href="([^"]+)">', section)
    assert len(links) == 30 and links[0] == "../r/0001_night.json"
    assert (page_path.parent / links[0]).resolve() == (runs / "0001_night.json").resolve()
    # the run where the change starts carries the regression's colour class
    assert re.search(
        r'<li class="regression" data-verdict="regression"><a href="../r/0021', section
    )
    assert f"tr.regression{{background:{VERDICT_COLOURS['regression'][0]}}}" in page
