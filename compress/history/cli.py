"""``python -m compress.history [--db DB] ingest PATH... | report [--metric M] [--html PAGE]``.

``ingest`` loads every result file (a file or a folder, searched recursively) into the history
database (``--db``: an SQLite path, by default ``results/history.sqlite``, or a database URL
such as ``postgresql://user:pw@host/history``, which several runners share;
compress.history.db): one row per run (keyed by the file's sha256, so ingesting a file twice,
or two runners ingesting it at once, adds it once) and one per typed metric. A file that cannot
be read (not JSON, another schema version, a row saved before the schema) is skipped with a
warning naming it; the others are ingested.

``report`` prints the change points of every series (changes.py) and, with
``--html``, draws the series (compress.history.plot). Exit status: 0 no regression, 1 a
regression, 2 the database cannot be used (unreachable, refused, another history schema
version: one line naming it; nothing is written).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from compress.core.dburl import describe
from compress.history.changes import DEFAULT_DB, changes, render, series
from compress.history.db import HistoryError, HistoryWarning, connect, ingest
from compress.history.plot import history_html


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compress.history", description=__doc__)
    p.add_argument(
        "--db", default=str(DEFAULT_DB), help=f"an SQLite path or a database URL ({DEFAULT_DB})"
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("ingest", help="load result files").add_argument("paths", nargs="+")
    rep = sub.add_parser("report", help="change points of every series")
    rep.add_argument("--metric", help="only this metric (e.g. speedup)")
    rep.add_argument("--html", metavar="PAGE", help="also draw the series (changed ones, speedups)")
    return p


def _command(engine: sa.Engine, args: argparse.Namespace) -> int:
    if args.command == "ingest":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HistoryWarning)
            new, seen, skipped = ingest(engine, args.paths)
        for w in caught:
            print(f"history: warning: {w.message}", file=sys.stderr)
        print(f"ingested {new} run(s); {seen} already present; {skipped} skipped")
        return 0
    all_series = series(engine, args.metric)
    if not all_series:
        hint = "python -m compress.history ingest results/"
        print(f"history: empty: no metrics in {args.db} (run: {hint})")
        return 0
    found = changes(all_series)
    print(render(found) if found else f"no change points in {len(all_series)} series")
    if args.html:
        out = Path(args.html)
        out.write_text(history_html(all_series, found, page_dir=out.parent), encoding="utf-8")
    return 1 if any(c.regression for c in found) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; see the module docstring for the exit status."""
    args = _parser().parse_args(argv)
    try:
        engine = connect(args.db)
    except HistoryError as err:  # unreachable, refused, another schema version: nothing written
        print(f"history: {err}", file=sys.stderr)
        return 2
    try:
        return _command(engine, args)
    except sa.exc.DBAPIError as err:  # the server went away, or refused a statement
        print(f"history: {describe(str(engine.url), err)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
