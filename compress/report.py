"""Tables from saved runs: ``python -m compress.report RESULT.json... [--table NAME] [--html P]``.

One table per benchmark function (``test_mrpc_method``, ``test_latency``, ...): a row per case
(its parameters), a column per metric its typed results record, each value in its unit with its
confidence interval when it has one; the drop of a model that collapsed to the constant
predictor (``collapsed``, compress.quality) says COLLAPSED beside it. Every row of a table
therefore comes from the same run, machine and data; the file's profile and machine are printed
above the tables. Rows that record no figures (timed reference rows) are left out. Exit 1 if a
requested table is absent, 2 on a bad file. ``--html PAGE`` also writes a self-contained page
with plots (compress.html_report).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tabulate import tabulate

from compress.compare_table import fmt
from compress.errors import InputError
from compress.resultfile import ResultFile, load
from compress.results import CaseResult


def table_of(fullname: str) -> tuple[str, str]:
    """(table, row label) of a benchmark: ``mod.py::test_x[a-b]`` -> (``test_x``, ``a-b``)."""
    test = fullname.rsplit("::", 1)[-1]
    name, _, params = test.partition("[")
    return name, params.removesuffix("]") or name


def collect_tables(result: ResultFile) -> dict[str, list[tuple[str, CaseResult]]]:
    """Typed results grouped by benchmark function, in the file's order."""
    tables: dict[str, list[tuple[str, CaseResult]]] = {}
    for full, case in result.cases.items():
        if case is not None:
            table, label = table_of(full)
            tables.setdefault(table, []).append((label, case))
    return tables


def render_table(rows: Sequence[tuple[str, CaseResult]], fmt_name: str = "github") -> str:
    """One table: a row per case, the union of the metrics as columns (first-seen order)."""
    columns: list[str] = []
    for _, case in rows:
        columns.extend(k for k in case.metrics if k not in columns)
    body = []
    for label, case in rows:
        cells = [label]
        flag = case.metrics.get("collapsed")
        fell = flag is not None and flag.value > 0  # a drop to the constant predictor's score
        for c in columns:
            m = case.metrics.get(c)
            text = "" if m is None else fmt(m.value, m.unit, m.ci)
            cells.append(
                f"{text} COLLAPSED" if fell and m is not None and c.endswith("_drop_pts") else text
            )
        body.append(cells)
    return tabulate(body, headers=["case", *columns], tablefmt=fmt_name, disable_numparse=True)


def machine_line(result: ResultFile) -> str:
    """Where the run was measured (fingerprint), after its profile."""
    fp: Mapping = result.fingerprint
    versions = fp.get("versions") or {}
    parts = [
        str(fp.get("cpu_model", "unknown CPU")),
        " ".join(fp.get("isa", [])),
        f"engine {fp.get('quantized_engine', '?')}",
        " ".join(f"{k} {v}" for k, v in versions.items()),
    ]
    where = "measured on: " + "; ".join(p for p in parts if p)
    return f"profile {result.profile}, {where}" if result.profile is not None else where


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
        from compress.html_report import render_html

        Path(args.html).write_text(render_html(results), encoding="utf-8")
    if missing:
        print(f"error: no table {sorted(missing)} in {', '.join(args.result)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
