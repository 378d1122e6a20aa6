"""The history's database (compress.history): any SQL database SQLAlchemy Core reaches.

An SQLite file by default (a path or a ``file:`` URL); a server by URL (PostgreSQL through
psycopg 3, MySQL through a driver named in the URL), so that several runners ingest into one
history (compress.core.dburl). Tables: ``runs`` (one row per result file, keyed by its sha256),
``metrics`` (one per typed metric of a run) and ``history_schema`` (the layout's version).

Several runners may ingest at once: a file's run and metrics go in one transaction, and the
run's primary key (the file's sha256) decides who adds it; the other transaction fails on the
key and counts the file as already present. Nothing reads first and then writes.

Schema versions: 1 is the layout the stdlib ``sqlite3`` driver wrote (the same two tables,
no version table); it is migrated in place, by recording version 2, the first time it is
opened (its rows are kept: the columns are the same). A database of any other recorded
version is refused with the version found, before anything is written to it.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from compress.core.dburl import database_url, describe, sqlite_path, where
from compress.core.errors import InputError
from compress.measure.fingerprint import isa_class
from compress.verdict.resultfile import ResultFile, load

SCHEMA_VERSION = 2
OPEN_ATTEMPTS = 4  # runners that create one new database at once: the losers retry

metadata = sa.MetaData()
schema_table = sa.Table(
    "history_schema",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1: one row
    sa.Column("version", sa.Integer, nullable=False),
)
# Key columns are bounded strings (MySQL cannot index TEXT); the others are TEXT.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    *(sa.Column(name, sa.Text) for name in ("path", "datetime", "commit_id", "profile")),
    *(sa.Column(name, sa.Text) for name in ("isa_class", "fingerprint_id", "cpu_model")),
    *(sa.Column(name, sa.Text) for name in ("torch", "transformers")),
)
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("sha256", sa.String(64), sa.ForeignKey("runs.sha256"), primary_key=True),
    sa.Column("benchmark", sa.String(500), primary_key=True),
    sa.Column("metric", sa.String(100), primary_key=True),
    sa.Column("value", sa.Double),
    sa.Column("unit", sa.Text),
    sa.Column("direction", sa.Text),
    sa.Column("tolerance", sa.Double),
    sa.Column("relative", sa.Integer),
    sa.Column("ci_low", sa.Double),
    sa.Column("ci_high", sa.Double),
)


class HistoryError(Exception):
    """The history database cannot be used: one line naming it and why."""


class HistoryWarning(UserWarning):
    """A result file was skipped (its reason is in the message)."""


def _stored_version(conn: sa.Connection, url: str) -> int | None:
    """The database's recorded layout: None when it is empty, 1 for the stdlib layout."""
    tables = set(sa.inspect(conn).get_table_names())
    if schema_table.name in tables:
        return conn.scalar(sa.select(schema_table.c.version))
    if {"runs", "metrics"} <= tables:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
        if not {c.name for c in runs.columns} <= columns:
            raise HistoryError(f"{where(url)}: has a 'runs' table that is not a result history")
        return 1
    return None


def _prepare(conn: sa.Connection, url: str) -> None:
    """Create the tables (or migrate version 1), or refuse another version, unchanged."""
    version = _stored_version(conn, url)
    if version not in (None, 1, SCHEMA_VERSION):
        raise HistoryError(
            f"{where(url)}: history schema version {version}; this compress.history reads "
            f"version {SCHEMA_VERSION} (use another --db, or the compress-bench that wrote it)"
        )
    if version != SCHEMA_VERSION:
        metadata.create_all(conn)
        conn.execute(sa.insert(schema_table).values(id=1, version=SCHEMA_VERSION))


def connect(db: str | Path) -> sa.Engine:
    """Open the history database (a path or URL), creating or migrating its tables."""
    url = database_url(db)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(url)
        conn = engine.connect()
    except Exception as err:  # a bad URL, a missing driver, an unreachable host, credentials
        raise HistoryError(describe(url, err)) from err
    with conn:
        for attempt in range(OPEN_ATTEMPTS):
            try:
                with conn.begin():
                    _prepare(conn, url)
                return engine
            except sa.exc.DBAPIError as err:
                # two runners creating the tables at once: the loser's CREATE or INSERT fails
                # on the catalogue's or the version row's unique key, and the retry finds them
                if attempt + 1 == OPEN_ATTEMPTS:
                    raise HistoryError(describe(url, err)) from err
                time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def result_files(paths: Iterable[str | Path]) -> list[Path]:
    """The JSON files named or found (recursively) under the given paths, sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        found += sorted(p.rglob("*.json")) if p.is_dir() else [p]
    return found


def _run_row(sha: str, result: ResultFile) -> dict[str, Any]:
    fp, doc = result.fingerprint, result.doc
    versions = fp.get("versions") or {}
    return {
        "sha256": sha, "path": str(result.path), "datetime": doc.get("datetime"),
        "commit_id": (doc.get("commit_info") or {}).get("id"), "profile": result.profile,
        "isa_class": isa_class(fp.get("isa")) or "unknown", "fingerprint_id": fp.get("id"),
        "cpu_model": fp.get("cpu_model"), "torch": versions.get("torch"),
        "transformers": versions.get("transformers"),
    }  # fmt: skip


def _metric_rows(sha: str, result: ResultFile) -> list[dict[str, Any]]:
    rows = []
    for bench, case in result.cases.items():
        for name, m in (case.metrics if case else {}).items():
            low, high = (m.ci.low, m.ci.high) if m.ci else (None, None)
            rows.append({
                "sha256": sha, "benchmark": bench, "metric": name, "value": m.value,
                "unit": m.unit, "direction": m.direction, "tolerance": m.tolerance,
                "relative": int(m.relative), "ci_low": low, "ci_high": high,
            })  # fmt: skip
    return rows


def _present(engine: sa.Engine, sha: str) -> bool:
    with engine.connect() as conn:
        return conn.scalar(sa.select(runs.c.sha256).where(runs.c.sha256 == sha)) is not None


def _insert(engine: sa.Engine, sha: str, result: ResultFile) -> bool:
    """Add one run and its metrics in one transaction; False if another ingest added it."""
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(runs), [_run_row(sha, result)])
            rows = _metric_rows(sha, result)
            if rows:
                conn.execute(sa.insert(metrics), rows)
    except sa.exc.IntegrityError:
        if _present(engine, sha):  # the key decided: another runner's transaction won
            return False
        raise
    return True


def ingest(engine: sa.Engine, paths: Iterable[str | Path]) -> tuple[int, int, int]:
    """Ingest result files; returns (ingested, already present, skipped)."""
    counts = [0, 0, 0]
    for path in result_files(paths):
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if _present(engine, sha):  # saves parsing a known file; the key is what decides
                counts[1] += 1
                continue
            result = load(path)
        except (InputError, OSError) as exc:
            warnings.warn(f"skipped {path}: {exc}", HistoryWarning, stacklevel=2)
            counts[2] += 1
            continue
        counts[0 if _insert(engine, sha, result) else 1] += 1
    return counts[0], counts[1], counts[2]
