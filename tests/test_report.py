"""compress.report: tables from one saved run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compress.report import collect_tables, main, render_table


def _doc(*rows: tuple[str, dict]) -> dict:
    benches = [
        {"fullname": f"b::t[{i}]", "extra_info": {"table": name, "row": row, "f1": 0.5}}
        for i, (name, row) in enumerate(rows)
    ]
    benches.append({"fullname": "b::untabled", "extra_info": {"f1": 0.9}})
    return {
        "benchmarks": benches,
        "machine_info": {"fingerprint": {"cpu_model": "Test CPU", "isa": ["avx2"]}},
    }


def test_rows_grouped_by_table_in_file_order() -> None:
    doc = _doc(("A", {"m": "x", "f1": 0.8}), ("B", {"m": "y"}), ("A", {"m": "z", "speed": 2.0}))
    tables = collect_tables(doc)
    assert list(tables) == ["A", "B"]
    assert tables["A"] == [{"m": "x", "f1": 0.8}, {"m": "z", "speed": 2.0}]


def test_columns_are_the_union_in_first_seen_order() -> None:
    text = render_table([{"m": "x", "f1": 0.8}, {"m": "z", "speed": 2.0}])
    header = text.splitlines()[0]
    assert header.index("m") < header.index("f1") < header.index("speed")
    assert "0.8" in text and "2" in text


def test_cli_prints_tables_and_machine(tmp_path: Path, capsys) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_doc(("A", {"m": "x"}))))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "### A" in out and "Test CPU" in out and "| x" in out


def test_cli_missing_table_exits_1(tmp_path: Path, capsys) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_doc(("A", {"m": "x"}))))
    assert main([str(path), "--table", "nope"]) == 1
    assert "no table named ['nope']" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "invalid JSON"), ('{"x": 1}', 'no "benchmarks" list')],
)
def test_cli_bad_file_exits_2(tmp_path: Path, capsys, content: str, message: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(content)
    assert main([str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("profile", "prefix"),
    [("quick", "profile quick, "), (None, "")],
    ids=["recorded", "unrecorded"],
)
def test_cli_header_names_the_profile(
    tmp_path: Path, capsys, profile: str | None, prefix: str
) -> None:
    doc = _doc(("A", {"m": "x"}))
    if profile is not None:
        doc["machine_info"]["profile"] = profile
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    assert main([str(path)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == f"run.json — {prefix}measured on: Test CPU; avx2; engine ?"
