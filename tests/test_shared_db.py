"""Several machines, one database: the history and the search on a real PostgreSQL server
(tests/postgres_server.py), started by the test run; skipped, saying why, where none can run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from compress.history.changes import changes, series
from compress.history.cli import main
from compress.history.db import SCHEMA_VERSION, connect, metrics, runs, schema_table
from compress.search.cli import main as search_main
from compress.search.run import open_study
from compress.search.space import SearchConfig, SearchError
from compress.search.study import Worker
from fixtures.search.tiny import tiny
from tests.postgres_server import Server, Unavailable, free_port, start
from tests.test_history import FP, _night

ROOT = Path(__file__).resolve().parents[1]
VNNI_A, VNNI_B = {**FP, "id": "runner-a"}, {**FP, "id": "runner-b", "cpu_model": "CPU B"}
AVX2 = {"cpu_model": "CPU C", "isa": ["avx", "avx2", "fma"], "id": "runner-c"}
RUNNERS = (("a", VNNI_A, 15, 1), ("b", VNNI_B, 15, 2), ("c", AVX2, 30, 3))  # name fp nights hour


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    try:
        server = start()
    except Unavailable as why:
        pytest.skip(f"no PostgreSQL server can run here: {why}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres: Server) -> str:
    return postgres.new_database()


def _env(tmp_path: Path) -> dict[str, str]:
    # FAKE_BUILD_S: the throughput tool's space (tools/search_workers.py) builds in no time
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path), "FAKE_BUILD_S": "0"}


def _runner_files(tmp_path: Path) -> Path:
    """Three runners' nights: two of the AVX-512 VNNI class, flat; one AVX2, 15% down from
    night 21 on."""
    rng = np.random.default_rng(0)
    for name, fp, nights, hour in RUNNERS:
        for day in range(1, nights + 1):
            level = 2.0 * (0.85 if name == "c" and day > 20 else 1.0)
            value = float(level * (1 + 0.02 * rng.standard_normal()))
            _night(tmp_path / name, day, value, fp=fp, hour=hour)
    return tmp_path


def test_three_runners_ingest_at_once_and_the_report_reads_back(
    pg_url: str, tmp_path: Path
) -> None:
    files = _runner_files(tmp_path / "results")
    url = pg_url.replace("postgresql+psycopg://", "postgresql://")  # the driver is implied
    # every runner ingests every file, all at once, into a database none has created yet
    argv = [sys.executable, "-m", "compress.history", "--db", url, "ingest", str(files)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(argv, env=_env(tmp_path), cwd=tmp_path, **pipes) for _ in RUNNERS]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    counts = [[int(w) for w in out.split() if w.isdigit()] for out, _ in outs]
    assert sum(c[0] for c in counts) == 60 and sum(c[1] for c in counts) == 120  # each once
    engine = connect(pg_url)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(runs)) == 60
        assert conn.scalar(sa.select(sa.func.count()).select_from(metrics)) == 60
        by_runner = dict(conn.execute(sa.select(runs.c.fingerprint_id, sa.func.count())
                                      .group_by(runs.c.fingerprint_id)).all())  # fmt: skip
        assert conn.scalars(sa.select(schema_table.c.version)).all() == [SCHEMA_VERSION]
    assert by_runner == {"runner-a": 15, "runner-b": 15, "runner-c": 30}
    by_class = {s.isa_class: len(s.points) for s in series(engine, "speedup")}
    assert by_class == {"avx512-vnni": 30, "avx2": 30}  # one series per class, runners pooled
    [change] = changes(series(engine))
    assert change.series.isa_class == "avx2" and change.index == 20 and change.regression
    page = tmp_path / "history.html"
    assert main(["--db", url, "report", "--html", str(page)]) == 1
    html = page.read_text()
    assert html.count('src="data:image/png;base64,') == 2  # a speedup plot per class
    assert "speedup avx2" in html and "speedup avx512-vnni" in html


def _refused_one_line(argv_history: list[str], argv_search: list[str], capsys, *words: str):
    """Both commands: exit 2, one line on stderr naming the host and the driver's error."""
    assert main(argv_history) == 2
    assert search_main(argv_search) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2, lines
    for err in lines:
        assert "127.0.0.1" in err and all(w in err for w in words), err
        assert "not-the-password" not in err


def test_wrong_credentials_one_line_exit_2_nothing_written(
    postgres: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres.url(password="not-the-password")
    page, out = tmp_path / "page.html", tmp_path / "search"
    search = ["--space", "fixtures.search.tiny:tiny", "--storage", url, "--out", str(out)]
    history = ["--db", url, "report", "--html", str(page)]
    _refused_one_line(history, search, capsys, "password authentication failed")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed (the report extra's driver)")
    port = free_port()  # nothing listens there
    url = f"postgresql://compress:not-the-password@127.0.0.1:{port}/history"
    search = ["--space", "fixtures.search.tiny:tiny", "--storage", url, "--out", str(tmp_path)]
    history = ["--db", url, "ingest", str(tmp_path)]
    _refused_one_line(history, search, capsys, f"127.0.0.1:{port}", "Connection refused")
    assert list(tmp_path.iterdir()) == []


def test_history_of_another_schema_version_is_refused_over_postgres(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = connect(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.update(schema_table).values(version=SCHEMA_VERSION + 7))
    assert main(["--db", pg_url, "report"]) == 2
    err = capsys.readouterr().err
    assert f"history schema version {SCHEMA_VERSION + 7}" in err and "127.0.0.1" in err


def test_study_of_other_model_data_or_isa_class_is_refused_over_postgres(
    pg_url: str, tmp_path: Path
) -> None:
    config = SearchConfig(trials=0, storage=pg_url, lock=str(tmp_path / "lock"))
    here = Worker("host-a:1", "fp-a", "avx512-vnni")
    open_study(tiny(), config, here)
    other = replace(tiny(), identity={**tiny().identity, "data": "synthetic seed 1"})
    with pytest.raises(SearchError, match=r"another model or data \(differs in \['data'\]"):
        open_study(other, config, here)
    avx2 = Worker("host-b:1", "fp-b", "avx2")
    with pytest.raises(SearchError, match=r"made on ISA class avx512-vnni; this worker's is avx2"):
        open_study(tiny(), config, avx2)
    open_study(tiny(), config, Worker("host-c:1", "fp-c", "avx512-vnni"))  # same class: joins


def test_two_workers_share_one_postgres_study_and_never_measure_twice(
    pg_url: str, tmp_path: Path
) -> None:
    import optuna

    argv = [sys.executable, "-m", "compress.search", "--space", "tools.search_workers:fake",
            "--storage", pg_url, "--trials", "3", "--rounds", "3"]  # fmt: skip
    workers = [subprocess.Popen([*argv, "--out", str(tmp_path / f"w{i}")], env=_env(tmp_path),
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for i in range(2)]  # fmt: skip
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="mrpc", storage=pg_url)
    measured = [t for t in study.trials if "evaluation" in t.user_attrs]
    configs = Counter(tuple(sorted(t.params.items())) for t in measured)
    assert len(measured) == 6 and max(configs.values()) == 1, configs  # none measured twice
    assert sorted(Counter(t.user_attrs["worker"] for t in measured).values()) == [3, 3]
    here = Worker.here()
    for t in study.trials:
        assert t.user_attrs["isa_class"] == here.isa_class
        assert t.user_attrs["fingerprint_id"] == here.fingerprint_id
    assert study.user_attrs["identity"]["isa_class"] == here.isa_class
