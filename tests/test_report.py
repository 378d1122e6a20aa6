"""compress.report: one table per benchmark function, from the typed results of one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compress.core.stats import Interval
from compress.report.cli import main
from compress.report.tables import collect_tables, render_table, table_of
from compress.verdict.resultfile import load
from compress.verdict.results import CaseResult, Metric, record

FP = {"cpu_model": "Test CPU", "isa": ["avx2"]}


def _row(fullname: str, metrics: dict[str, Metric] | None) -> dict:
    extra: dict = {"profile": "quick"}
    if metrics is not None:
        record(extra, CaseResult("c", metrics, {}, {"about": "t"}, {}, FP, "quick"))
    return {"name": fullname, "fullname": fullname, "extra_info": extra}


def _write(tmp_path: Path, profile: str | None = "quick") -> Path:
    ci = Interval(2.3, 2.6, 0.95, 20, "percentile")
    rows = [
        _row("m.py::test_a[x-fp32]", None),  # timed reference row: no figures, not in a table
        _row("m.py::test_a[x-int8]", {"f1": Metric(0.8, "frac", "higher", 0.01)}),
        _row("m.py::test_b", {"speedup": Metric(2.41, "x", "higher", 0.2, True, None, ci)}),
        _row("m.py::test_a[z-int8]", {"size_bytes": Metric(2**20, "bytes", "lower", 0.01, True)}),
    ]
    info = {"fingerprint": FP, **({"profile": profile} if profile else {})}
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"benchmarks": rows, "machine_info": info}))
    return path


def test_table_of_splits_function_and_params() -> None:
    assert table_of("benchmarks/m.py::test_a[x-int8]") == ("test_a", "x-int8")
    assert table_of("benchmarks/m.py::test_b") == ("test_b", "test_b")


def test_cases_grouped_by_function_in_file_order(tmp_path: Path) -> None:
    tables = collect_tables(load(_write(tmp_path)))
    assert list(tables) == ["test_a", "test_b"]
    assert [label for label, _ in tables["test_a"]] == ["x-int8", "z-int8"]
    text = render_table(tables["test_a"])
    header = text.splitlines()[0]
    assert header.index("case") < header.index("f1") < header.index("size_bytes")
    assert "1.00 MiB" in text


def test_cli_prints_tables_cis_and_machine(tmp_path: Path, capsys) -> None:
    assert main([str(_write(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "run.json — profile quick, measured on: Test CPU; avx2; engine ?"
    assert "### test_a" in out and "### test_b" in out and "2.41x [2.30, 2.60]" in out


def test_cli_missing_table_exits_1(tmp_path: Path, capsys) -> None:
    assert main([str(_write(tmp_path)), "--table", "nope"]) == 1
    assert "no table ['nope']" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"x": 1}', 'no "benchmarks" list'),
        ('{"benchmarks": [{"fullname": "a", "extra_info": {"f1": 0.9}}]}', "re-record"),
    ],
)
def test_cli_bad_file_exits_2(tmp_path: Path, capsys, content: str, message: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(content)
    assert main([str(path)]) == 2
    assert message in capsys.readouterr().err


def test_a_collapsed_models_drop_says_so() -> None:
    drop = Metric(3.7, "pts", "lower", 0.5)

    def case(flag: float) -> CaseResult:
        metrics = {"f1_drop_pts": drop, "collapsed": Metric(flag, "flag", "lower", 0.0)}
        return CaseResult("c", metrics, {}, {"about": "t"}, {}, FP, "quick")

    rows = [("dead", case(1.0)), ("alive", case(0.0))]
    lines = render_table(rows).splitlines()
    assert "3.7 COLLAPSED" in lines[2] and "| yes" in lines[2]
    assert "COLLAPSED" not in lines[3] and "| no" in lines[3]
