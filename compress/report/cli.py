"""``python -m compress.report RESULT.json... [--table NAME] [--html PAGE]``.

Prints each run's tables (tables.py) under its profile and machine. Exit 1 if a
requested table is absent, 2 on a bad file. ``--html PAGE`` also writes a self-contained page
with plots (compress.report.html).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from compress.core.errors import InputError
from compress.report.html import render_html
from compress.report.tables import collect_tables, machine_line, render_table
from compress.verdict.resultfile import load


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compress.report", description=__doc__)
    parser.add_argument("result", nargs="+", help="result JSON file(s) written by the suite")
    parser.add_argument("--table", action="append", help="print only this table (repeatable)")
    parser.add_argument("--format", default="github", help="tabulate format (default github)")
    parser.add_argument("--html", metavar="PAGE", help="also write an HTML page with plots")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; see the module docstring for the exit status."""
    args = _parser().parse_args(argv)
    try:
        results = [load(path) for path in args.result]
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing: set[str] = set()
    for result in results:
        tables = collect_tables(result)
        wanted = args.table or list(tables)
        missing |= {t for t in wanted if t not in tables}
        print(f"{result.path.name} — {machine_line(result)}\n")
        for name in wanted:
            if name in tables:
                print(f"### {name}\n\n{render_table(tables[name], args.format)}\n")
    if args.html:
        Path(args.html).write_text(render_html(results), encoding="utf-8")
    if missing:
        print(f"error: no table {sorted(missing)} in {', '.join(args.result)}", file=sys.stderr)
        return 1
    return 0
