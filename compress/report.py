"""Tables from one saved run: ``python -m compress.report RESULT.json [--table NAME]``.

A benchmark case opts in by putting a table name and a row into its ``extra_info``::

    benchmark.extra_info["table"] = "MRPC int8 methods"
    benchmark.extra_info["row"] = {"method": "torch dynamic", "F1": 0.856, "speedup": 2.5}

Every row of a table therefore comes from the same run, machine and data (the file's profile,
when recorded, and fingerprint are printed above the tables). Columns are the union of the rows'
keys, in first-seen order; rows keep the file's order. Exit 1 if a requested table is absent, 2 on
a bad file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tabulate import tabulate

from compress.compare import load_results, profile_of
from compress.errors import InputError

TABLE_KEY, ROW_KEY = "table", "row"


def collect_tables(doc: Mapping) -> dict[str, list[dict[str, object]]]:
    """Rows grouped by table name, in the file's order."""
    tables: dict[str, list[dict[str, object]]] = {}
    for bench in doc["benchmarks"]:
        info = bench.get("extra_info") or {}
        name, row = info.get(TABLE_KEY), info.get(ROW_KEY)
        if isinstance(name, str) and isinstance(row, Mapping):
            tables.setdefault(name, []).append(dict(row))
    return tables


def _cell(value: object) -> object:
    if isinstance(value, float):  # up to 4 decimals, no trailing zeros; thousands grouped
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return "" if value is None else value


def render_table(rows: Sequence[Mapping[str, object]], fmt: str = "github") -> str:
    """One table: the union of the rows' keys as columns."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    body = [[_cell(row.get(c)) for c in columns] for row in rows]
    return tabulate(body, headers=columns, tablefmt=fmt, disable_numparse=True)


def machine_line(doc: Mapping) -> str:
    """Where the run was measured, from its machine_info fingerprint, after its profile."""
    fp = (doc.get("machine_info") or {}).get("fingerprint") or {}
    versions = fp.get("versions") or {}
    parts = [
        str(fp.get("cpu_model", "unknown CPU")),
        " ".join(fp.get("isa", [])),
        f"engine {fp.get('quantized_engine', '?')}",
        " ".join(f"{k} {v}" for k, v in versions.items()),
    ]
    profile = profile_of(doc)
    where = "measured on: " + "; ".join(p for p in parts if p)
    return f"profile {profile}, {where}" if profile is not None else where


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compress.report", description=__doc__)
    parser.add_argument("result", help="a pytest-benchmark JSON file written by the suite")
    parser.add_argument("--table", action="append", help="print only this table (repeatable)")
    parser.add_argument("--format", default="github", help="tabulate format (default github)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        doc = load_results(args.result)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    tables = collect_tables(doc)
    wanted = args.table or list(tables)
    missing = [t for t in wanted if t not in tables]
    print(f"{Path(args.result).name} — {machine_line(doc)}\n")
    for name in wanted:
        if name in tables:
            print(f"### {name}\n\n{render_table(tables[name], args.format)}\n")
    if missing:
        print(
            f"error: no table named {missing} in {args.result}; has {sorted(tables)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
