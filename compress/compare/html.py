"""The comparison as a page: ``python -m compress.compare BASE NEW --html PAGE``.

It answers "what changed?" from the rows compress.compare judged (no verdict is made here):
one sentence on how the machines and versions differ, a summary line (regressions,
improvements, inconclusive, not comparable, missing) and whether the gate passes; then every
row that fails the gate, each with baseline → candidate, the change with its CI and the verdict
in words and colour; then the rest, grouped by benchmark function, each group folded unless
something in it moved.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence

from compress.compare.judge import TIME_METRIC
from compress.compare.rules import Options, machines
from compress.measure.fingerprint import isa_class
from compress.report.compare_table import Row, fmt
from compress.report.labels import header
from compress.report.style import VERDICT_WORDS, page, verdict
from compress.report.tables import table_of
from compress.verdict.resultfile import ResultFile
from compress.verdict.status import Pseudo, Status

SUMMARY = ("regression", "improved", "inconclusive", "not-comparable", "missing")
_COUNT_WORDS = {  # (one, several)
    "regression": ("regression", "regressions"),
    "improved": ("improvement", "improvements"),
    "inconclusive": ("inconclusive", "inconclusive"),
    "not-comparable": ("not comparable", "not comparable"),
    "missing": ("missing", "missing"),
}
# rows within a table, most urgent first
SEVERITY = ("regression", "missing", "inconclusive", "improved", "new", "not-comparable", "ok")
MOVED = frozenset({"regression", "missing", "inconclusive", "improved", "new"})
_PSEUDO = {Pseudo.BENCHMARK: "the case", Pseudo.OUTCOME: "the case", Pseudo.CASE: "the case"}
_PSEUDO |= {Pseudo.RESULT: "its typed result", TIME_METRIC: "median time (ms)"}


def _versions(fp: Mapping) -> dict[str, str]:
    return {k: str(v) for k, v in (fp.get("versions") or {}).items() if k != "python"}


def machine_sentence(baseline: ResultFile, candidate: ResultFile) -> str:
    """One sentence: the machine and versions both ran on, or what differs between them and
    what that means for the speed figures."""
    old, new = baseline.fingerprint, candidate.fingerprint
    where = machines(baseline, candidate)
    pairs = [
        ("CPU", old.get("cpu_model"), new.get("cpu_model")),
        ("int8 ISA class", isa_class(old.get("isa")), isa_class(new.get("isa"))),
        ("threads", old.get("threads"), new.get("threads")),
    ]
    a, b = _versions(old), _versions(new)
    pairs += [(k, a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b])]
    changed = [f"{what} {x or '?'} → {y or '?'}" for what, x, y in pairs if x != y]
    if not changed and not where.same:  # the same model name and class, other flags (avx_vnni)
        changed = list(where.differences) or ["the machine fingerprint"]
    if where.speed_note is not None:
        speed = f"speedups are shown but not gated ({where.speed_note})"
    else:
        speed = "speedups are gated" + ("" if where.same else "; absolute times are not")
    if not changed:
        cpu, isa = old.get("cpu_model", "?"), isa_class(old.get("isa")) or "unknown ISA"
        torch = a.get("torch", "?")
        return f"Same machine and versions ({cpu}, {isa}, torch {torch}): {speed}."
    return f"The runs differ in {'; '.join(changed)}: {speed}."


def _cells(r: Row, whole_name: bool) -> str:
    case = r.name if whole_name else table_of(r.benchmark)[1]
    figure = _PSEUDO.get(r.metric) or header(r.metric, r.unit)
    moved = f"{fmt(r.baseline, r.unit, r.baseline_ci)} → {fmt(r.candidate, r.unit, r.candidate_ci)}"
    if r.baseline is None and r.candidate is None:
        moved = ""
    v = verdict(r.status, r.regression)
    words = VERDICT_WORDS[v]
    why = r.verdict.reason
    reason = f"<br><small>{html.escape(why)}</small>" if why else ""
    return (
        f'<tr class="{v}" data-verdict="{v}"><td class="text">{html.escape(case)}</td>'
        f'<td class="text" title="{html.escape(r.metric)}">{html.escape(figure)}</td>'
        f"<td>{html.escape(moved)}</td><td>{html.escape(r.change)}</td>"
        f'<td class="text"><span class="verdict">{html.escape(words)}</span>{reason}</td></tr>'
    )


def rows_table(rows: Sequence[Row], css: str = "", whole_name: bool = False) -> str:
    """The rows as an HTML table, each coloured by its verdict; ``whole_name``: the case
    column names the benchmark function too (rows of several benchmarks)."""
    head = (
        '<tr><th>case</th><th class="text">figure</th><th>baseline → candidate</th>'
        '<th>change [95% CI]</th><th class="text">verdict</th></tr>'
    )
    body = "".join(_cells(r, whole_name) for r in by_severity(rows))
    table = f'<table class="{css}"><thead>{head}</thead><tbody>{body}</tbody></table>'
    return f'<div class="wide">{table}</div>'


def by_severity(rows: Sequence[Row]) -> list[Row]:
    """The rows, most urgent verdict first (SEVERITY), otherwise in their order."""
    rank = {v: i for i, v in enumerate(SEVERITY)}
    return sorted(rows, key=lambda r: rank.get(verdict(r.status, r.regression), len(rank)))


def counts(rows: Sequence[Row]) -> Counter:
    """How many rows of each verdict (compress.report.style.verdict)."""
    return Counter(verdict(r.status, r.regression) for r in rows)


def summary_line(rows: Sequence[Row]) -> str:
    """The counts of SUMMARY, each coloured, and whether the gate passes."""
    found = counts(rows)
    spans = [
        f'<span class="count {v}" data-verdict="{v}" data-count="{found[v]}">'
        f"{found[v]} {_COUNT_WORDS[v][found[v] != 1]}</span>"
        for v in SUMMARY
    ]
    failing = sum(r.regression for r in rows)
    gate = (
        f'<b class="count regression">the gate fails ({failing} rows below)</b>'
        if failing
        else '<b class="count improved">the gate passes</b>'
    )
    return f'<p class="summary">{" · ".join(spans)} — {gate}</p>'


def _groups(rows: Sequence[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for r in rows:
        out.setdefault(table_of(r.benchmark)[0], []).append(r)
    return out


def _rest(rows: Sequence[Row]) -> list[str]:
    parts = ["<h2 id='rest'>Everything else, by benchmark</h2>"]
    for bench, group in _groups(rows).items():
        found = counts(group)
        said = ", ".join(f"{n} {VERDICT_WORDS[v]}" for v, n in found.most_common())
        moved = not MOVED.isdisjoint(found)
        parts.append(
            f"<details{' open' if moved else ''}><summary><b>{html.escape(bench)}</b> — "
            f"{html.escape(said)}</summary>{rows_table(group)}</details>"
        )
    return parts


def compare_page(
    rows: Sequence[Row], baseline: ResultFile, candidate: ResultFile, options: Options, notes: str
) -> str:
    """The page (module docstring); ``notes`` are compress.compare.notes.summary's lines, or why
    nothing was compared when there are no rows (the candidate is the baseline itself)."""
    shown = [r for r in rows if options.show_info or r.status is not Status.INFO]
    failing = [r for r in shown if r.regression]
    title = f"What changed: {candidate.path.name} against {baseline.path.name}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="machines">{html.escape(machine_sentence(baseline, candidate))}</p>',
        summary_line(shown)
        if rows
        else f'<p class="summary count regression">{html.escape(notes)}</p>',
        "<h2 id='regressions'>Regressions, failed and missing cases</h2>",
        rows_table(failing, "regressions", whole_name=True) if failing else "<p>None.</p>",
        *_rest([r for r in shown if not r.regression]),
        "<h2>Notes</h2><pre>" + html.escape(notes) + "</pre>",
    ]
    return page(title, parts)
