"""Text tables of one saved run: a table per benchmark function, a row per case.

One table per benchmark function (``test_mrpc_method``, ``test_latency``, ...): a row per case
(its parameters), a column per metric its typed results record, each value in its unit with its
confidence interval when it has one; the drop of a model that collapsed to the constant
predictor (``collapsed``, compress.verdict.quality) says COLLAPSED beside it; a last column says
which kernels the row's profiled forward ran (compress.measure.kernels). Every row of a table
therefore comes from the same run, machine and data. Rows that record no figures (timed
reference rows) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tabulate import tabulate

from compress.measure.kernels import KernelRecord
from compress.report.compare_table import fmt
from compress.verdict.resultfile import ResultFile
from compress.verdict.results import CaseResult


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
    headers = ["case", *columns]
    if any(case.kernels for _, case in rows):  # what each row's profiled forward ran
        headers.append("kernels")
        for cells, (_, case) in zip(body, rows, strict=True):
            cells.append(kernel_path(case))
    return tabulate(body, headers=headers, tablefmt=fmt_name, disable_numparse=True)


def kernel_path(case: CaseResult) -> str:
    """The case's kernel record in one line ("" when it has none)."""
    return KernelRecord.from_dict(case.kernels).summary() if case.kernels else ""


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
