"""compress.compare.html: the comparison page, built from compress.compare's own rows."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from compress.compare.cli import main
from compress.compare.html import SUMMARY, compare_page, counts, machine_sentence
from compress.compare.judge import compare
from compress.compare.rules import Options
from compress.verdict.resultfile import from_doc, load
from tests.pages_data import runs

EXPECTED = {"regression": 2, "improved": 1, "inconclusive": 1, "missing": 1}


def _page(tmp_path: Path) -> tuple[str, list]:
    base, cand = (load(p) for p in runs(tmp_path))
    rows = compare(base, cand, Options())
    return compare_page(rows, base, cand, Options(), "notes"), rows


def test_summary_counts_are_the_verdicts_of_compare(tmp_path: Path) -> None:
    page, rows = _page(tmp_path)
    shown = dict(
        re.findall(r'class="count ([a-z-]+)" data-verdict="[a-z-]+" data-count="(\d+)"', page)
    )
    found = counts([r for r in rows if r.status != "info"])
    assert {v: int(n) for v, n in shown.items()} == {v: found[v] for v in SUMMARY}
    assert {v: found[v] for v in EXPECTED} == EXPECTED
    assert found["not-comparable"] > 0  # the news case was scored on other data
    assert "the gate fails (3 rows below)" in page  # 2 regressions and the missing case


def test_regressions_come_first_with_change_and_verdict(tmp_path: Path) -> None:
    page, _ = _page(tmp_path)
    first = page.split('<table class="regressions">')[1].split("</table>")[0]
    rows = re.findall(r'<tr class="([a-z-]+)"', first)
    assert rows == ["regression", "regression", "missing"]
    speed = first.split("<tr")[2]
    assert "torch-dynamic" in speed and "speedup (×)" in speed
    assert "2.40x [2.30, 2.50] → 1.80x [1.70, 1.90]" in speed and "-25.0%" in speed
    assert page.index("Regressions") < page.index("Everything else")


def test_the_rest_is_grouped_by_benchmark_and_folded_when_nothing_moved(tmp_path: Path) -> None:
    page, _ = _page(tmp_path)
    groups = re.findall(r"<details( open)?><summary><b>(test_\w+)</b>", page)
    opened = {name for flag, name in groups if flag}
    assert {"test_int8_cnn", "test_fine_pruned"} <= opened  # an improvement, an inconclusive
    assert "test_budget_search" not in opened


def test_machine_sentence(tmp_path: Path) -> None:
    base, cand = (load(p) for p in runs(tmp_path))
    assert machine_sentence(base, cand) == (
        "The runs differ in torch 2.13.0 → 2.14.0: speedups are gated; absolute times are not."
    )
    assert machine_sentence(base, base).startswith("Same machine and versions (Fast CPU,")
    # one more ISA flag, same CPU name and class: not "the same machine"
    flagged = copy.deepcopy(base.doc)
    flagged["machine_info"]["fingerprint"]["isa"].append("avx_vnni")
    for row in flagged["benchmarks"]:
        row["extra_info"]["compress_bench"]["fingerprint"]["isa"].append("avx_vnni")
    sentence = machine_sentence(base, from_doc(flagged, tmp_path / "flagged.json"))
    assert "avx_vnni" in sentence and not sentence.startswith("Same machine")


def test_cli_writes_the_page(tmp_path: Path, capsys) -> None:
    base, cand = runs(tmp_path)
    out = tmp_path / "compare.html"
    assert main([str(base), str(cand), "--html", str(out)]) == 1
    assert "3 regressions in" in capsys.readouterr().out  # the printed table is unchanged
    page = out.read_text()
    assert page.startswith("<!doctype html>") and 'class="regressions"' in page


def test_a_run_compared_with_itself_says_so_on_the_page(tmp_path: Path, capsys) -> None:
    base, _ = runs(tmp_path)
    out = tmp_path / "compare.html"
    assert main([str(base), str(base), "--html", str(out)]) == 1
    page = out.read_text()
    assert "is the baseline" in page and "the gate passes" not in page
