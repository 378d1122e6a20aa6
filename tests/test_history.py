"""compress.history: ingest result files idempotently, find persistent shifts, not noise."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from compress.core.stats import Interval
from compress.history.changes import Point, Series, changes, series
from compress.history.cli import main
from compress.history.db import SCHEMA_VERSION as SCHEMA_VERSION_DB
from compress.history.db import HistoryError, HistoryWarning, connect, ingest, schema_table
from compress.verdict.results import SCHEMA_VERSION, CaseResult, Metric, record

FP = {"cpu_model": "CPU", "isa": ["avx2", "avx512f", "avx512bw", "avx512_vnni"], "id": "f1"}
BENCH = "benchmarks/test_x.py::test_speed[a]"


def _night(
    tmp_path: Path, day: int, speedup: float, name: str | None = None, fp: dict = FP, hour: int = 3
) -> Path:
    ci = Interval(speedup * 0.97, speedup * 1.03, 0.95, 20, "percentile")
    metric = Metric(speedup, "x", "higher", 0.2, True, None, ci)
    case = CaseResult("a", {"speedup": metric}, {}, {"about": "m"}, {}, fp, "quick")
    extra: dict = {"profile": "quick"}
    record(extra, case)
    doc = {
        "machine_info": {"fingerprint": fp, "profile": "quick"},
        "commit_info": {"id": f"{day:040x}"},
        "datetime": f"2026-11-{day:02d}T{hour:02d}:00:00+00:00",
        "benchmarks": [{"name": "test_speed[a]", "fullname": BENCH, "extra_info": extra}],
    }
    path = tmp_path / (name or f"{day:04d}_night.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _nights(tmp_path: Path, values: list[float]) -> Path:
    for day, v in enumerate(values, start=1):
        _night(tmp_path, day, v)
    return tmp_path


def _noisy(n: int, level: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(level * (1 + 0.03 * z)) for z in rng.standard_normal(n)]


def test_ingest_is_idempotent_and_skips_bad_files(tmp_path: Path) -> None:
    runs = _nights(tmp_path / "r", [2.5, 2.4, 2.6])
    (runs / "corrupt.json").write_text('{"benchmarks": [')
    other = json.loads((runs / "0001_night.json").read_text())
    other["benchmarks"][0]["extra_info"]["compress_bench"]["schema"] = SCHEMA_VERSION + 1
    (runs / "other-schema.json").write_text(json.dumps(other))
    conn = connect(tmp_path / "h.sqlite")
    with pytest.warns(HistoryWarning) as caught:
        assert ingest(conn, [runs]) == (3, 0, 2)
    text = " ".join(str(w.message) for w in caught)
    assert "corrupt.json" in text and "invalid JSON" in text
    assert "other-schema.json" in text and f"schema version {SCHEMA_VERSION + 1}" in text
    with pytest.warns(HistoryWarning):
        assert ingest(conn, [runs]) == (0, 3, 2)  # same files again: nothing added
    [s] = series(conn)
    assert [p.value for p in s.points] == [2.5, 2.4, 2.6] and s.isa_class == "avx512-vnni"


def test_a_persistent_15_percent_drop_is_flagged_at_its_night(tmp_path: Path) -> None:
    values = _noisy(20, 2.5, 0) + _noisy(10, 2.5 * 0.85, 1)  # night 21 onwards: -15%
    conn = connect(tmp_path / "h.sqlite")
    ingest(conn, [_nights(tmp_path / "r", values)])
    [change] = changes(series(conn))
    assert change.index == 20 and change.regression
    assert change.after / change.before == pytest.approx(0.85, abs=0.03)


def test_one_noisy_night_is_not_a_change(tmp_path: Path) -> None:
    values = _noisy(30, 2.5, 2)
    values[14] *= 0.7  # one bad night, -30%
    conn = connect(tmp_path / "h.sqlite")
    ingest(conn, [_nights(tmp_path / "r", values)])
    assert changes(series(conn)) == []


def test_an_improvement_is_a_change_not_a_regression() -> None:
    values = _noisy(15, 2.0, 3) + _noisy(15, 2.6, 4)
    points = tuple(Point(f"d{i:02d}", None, v) for i, v in enumerate(values))
    s = Series(BENCH, "speedup", "quick", "avx2", "x", "higher", 0.2, True, points)
    [change] = changes([s])
    assert change.index == 15 and not change.regression


def test_cli_report_exit_status_and_empty_history(tmp_path: Path, capsys) -> None:
    db = str(tmp_path / "h.sqlite")
    assert main(["--db", db, "report"]) == 0
    assert "empty" in capsys.readouterr().out
    runs = _nights(tmp_path / "r", _noisy(20, 2.5, 5) + _noisy(10, 2.0, 6))
    assert main(["--db", db, "ingest", str(runs)]) == 0
    assert "ingested 30 run(s)" in capsys.readouterr().out
    page = tmp_path / "history.html"
    assert main(["--db", db, "report", "--html", str(page)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "speedup" in out and "2026-11-21" in out
    assert page.read_text().count('src="data:image/png;base64,') == 1  # the one series


def test_the_issue_series_uniform_10_percent_noise_drop_at_night_20() -> None:
    """30 nights, +-10% uniform noise, -15% from night 20 on (index 19)."""
    rng = np.random.default_rng(7)
    values = 2.5 * (1 + rng.uniform(-0.10, 0.10, 30))
    values[19:] *= 0.85
    points = tuple(Point(f"2026-11-{i + 1:02d}", None, float(v)) for i, v in enumerate(values))
    s = Series(BENCH, "speedup", "quick", "avx2", "x", "higher", 0.1, True, points)
    [change] = changes([s])
    assert change.index == 19 and change.regression


def test_a_deterministic_step_is_found() -> None:
    points = tuple(Point(f"d{i:02d}", None, 100.0 if i < 10 else 120.0) for i in range(20))
    s = Series(BENCH, "size_bytes", "quick", "avx2", "bytes", "lower", 0.01, True, points)
    [change] = changes([s])
    assert change.index == 10 and change.regression and change.after == 120.0


# the layout the stdlib sqlite3 driver wrote before the history had a schema version
STDLIB_SCHEMA = """
CREATE TABLE runs (sha256 TEXT PRIMARY KEY, path TEXT, datetime TEXT, commit_id TEXT,
    profile TEXT, isa_class TEXT, fingerprint_id TEXT, cpu_model TEXT, torch TEXT,
    transformers TEXT);
CREATE TABLE metrics (sha256 TEXT REFERENCES runs(sha256), benchmark TEXT, metric TEXT,
    value REAL, unit TEXT, direction TEXT, tolerance REAL, relative INTEGER, ci_low REAL,
    ci_high REAL, PRIMARY KEY (sha256, benchmark, metric));
"""


def test_a_stdlib_sqlite_file_is_migrated_in_place_keeping_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as old:
        old.executescript(STDLIB_SCHEMA)
        old.execute("INSERT INTO runs VALUES ('s1','p','2026-11-01T03:00:00+00:00','c','quick',"
                    "'avx2','f','CPU','2.13','4.5')")  # fmt: skip
        old.execute(f"INSERT INTO metrics VALUES ('s1','{BENCH}','speedup',2.5,'x','higher',"
                    "0.2,1,2.4,2.6)")  # fmt: skip
    engine = connect(f"file://{db}")  # a file URL is an SQLite file too
    with engine.connect() as conn:
        assert conn.scalar(sa.select(schema_table.c.version)) == SCHEMA_VERSION_DB
    ingest(engine, [_night(tmp_path / "r", 2, 2.6)])
    [s] = [s for s in series(engine) if s.isa_class == "avx2"]
    assert [p.value for p in s.points] == [2.5]
    assert len(series(connect(db))) == 2  # opened again: nothing to migrate


def test_another_history_schema_version_is_refused_unchanged(tmp_path: Path, capsys) -> None:
    db = tmp_path / "h.sqlite"
    engine = connect(db)
    with engine.begin() as conn:
        conn.execute(sa.update(schema_table).values(version=SCHEMA_VERSION_DB + 1))
    before = db.read_bytes()
    page = tmp_path / "page.html"
    assert main(["--db", str(db), "report", "--html", str(page)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"history schema version {SCHEMA_VERSION_DB + 1}" in err
    assert str(db) in err and db.read_bytes() == before and not page.exists()
    with pytest.raises(HistoryError, match=f"version {SCHEMA_VERSION_DB + 1}"):
        connect(db)
