"""A benchmark's table for people: labelled columns with units, the few headline figures in
front with the kernels the row ran, every other figure folded under a <details> element,
numbers with their CIs."""

from __future__ import annotations

import html
from collections.abc import Sequence

from compress.report.compare_table import fmt
from compress.report.labels import header, headline
from compress.report.tables import kernel_path
from compress.verdict.results import CaseResult, Metric


def _columns(rows: Sequence[tuple[str, CaseResult]]) -> dict[str, str]:
    """Every metric of the rows (first-seen order) -> its unit."""
    columns: dict[str, str] = {}
    for _, case in rows:
        for name, m in case.metrics.items():
            columns.setdefault(name, m.unit)
    return columns


def _cell(case: CaseResult, name: str) -> str:
    m: Metric | None = case.metrics.get(name)
    if m is None:
        return ""
    text = fmt(m.value, m.unit, m.ci)
    flag = case.metrics.get("collapsed")
    if flag is not None and flag.value > 0 and name.endswith("_drop_pts"):
        text += " COLLAPSED"  # a drop to the constant predictor's score (compress.verdict.quality)
    return html.escape(text)


def _table(
    rows: Sequence[tuple[str, CaseResult]], names: Sequence[str], units, with_kernels: bool = False
) -> str:
    heads = "".join(
        f'<th title="{html.escape(n)}">{html.escape(header(n, units[n]))}</th>' for n in names
    )
    kernels = with_kernels and any(case.kernels for _, case in rows)
    heads += "<th>kernels</th>" if kernels else ""
    body = []
    for label, case in rows:
        cells = "".join(f"<td>{_cell(case, n)}</td>" for n in names)
        cells += f"<td>{html.escape(kernel_path(case))}</td>" if kernels else ""
        body.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
    return (
        f'<div class="wide"><table><thead><tr><th>case</th>{heads}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def human_table(rows: Sequence[tuple[str, CaseResult]]) -> str:
    """The headline table of one benchmark, then the other figures under <details>. A header's
    tooltip is the metric's recorded name (what compress.compare and the JSON call it)."""
    units = _columns(rows)
    front = headline(units)
    rest = [n for n in units if n not in front]
    parts = [_table(rows, front, units, with_kernels=True)]
    if rest:
        parts.append(
            f"<details><summary>{len(rest)} more figures</summary>"
            f"{_table(rows, rest, units)}</details>"
        )
    return "".join(parts)
