"""The documentation's results page is generated from the committed baseline, never by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from compress.report.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "results.md"
REGENERATE = "python -m compress.report {baseline} > docs/results.md"


def test_results_page_matches_the_committed_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    [baseline] = sorted(ROOT.glob("results/*/*_baseline-quick.json"))
    assert main([str(baseline.relative_to(ROOT))]) == 0
    generated = capsys.readouterr().out
    command = REGENERATE.format(baseline=baseline.relative_to(ROOT))
    assert PAGE.read_text(encoding="utf-8") == generated, f"docs/results.md is stale: {command}"
