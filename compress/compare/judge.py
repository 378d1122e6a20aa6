"""Compare two result files case by case: ``python -m compress.compare BASELINE CANDIDATE``.

Every figure is judged as the *baseline's* typed result declares it (compress.verdict.results: its
direction and tolerance, the smallest change that matters), so a change cannot loosen its own
gate; no metric name is read to guess what it means. Where both runs kept their evidence
(schema 2: per-round ratios, per-example predictions) the *change* gets its own CI
(compress.verdict.change): a REGRESSION is a change whose CI is wholly on the bad side of zero with
its point beyond the tolerance; beyond the tolerance with a CI that reaches zero it is
"inconclusive". Without evidence (a schema-1 file) a move beyond the tolerance is a
REGRESSION when the candidate's own CI lies wholly beyond it too (the old way, said once).

Strict by default: a benchmark, metric or typed result of the baseline that the candidate
lacks, and a case that failed, errored or was skipped, is a regression naming the case
(``--allow-missing`` lets a partial run through, never a failed case).

What is comparable between two files:
- quality figures and sizes: always (they depend on code, data and training, not on the CPU);
- speedups (unit "x"): between machines of the same int8 ISA class (compress.measure.fingerprint:
  AMX, AVX-512 VNNI, AVX-VNNI, AVX-512, AVX2, Arm dot-product); across classes, or when a
  class is unknown, they are shown side by side as "not comparable: ..." and never gated;
- absolute times (unit "s" and the rows' latency medians): shown; gated only with
  --gate-latency, and only on the same machine (same fingerprint);
- this CPU's int8 limit (machine_info), gated like a speedup: an int8 kernel regression must
  not lower its own floor.
Files of different profiles (training budgets) are not compared at all, nor are rows whose
data provenance names a different task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from compress.compare.rules import (
    Machines,
    Options,
    ProfileMismatch,
    absent_rows,
    is_regression,
    judge,
    judge_metric,
    kind_differences,
    machines,
    outcome_rows,
)
from compress.core.errors import InputError
from compress.report.compare_table import (
    IMPROVED,
    INCONCLUSIVE,
    INFO,
    MISSING,
    NEW,
    NOT_COMPARABLE,
    OK,
    REGRESSION,
    Row,
    kind,
    render,
)
from compress.verdict.change import NotComparable, change_of, resolves
from compress.verdict.resultfile import ResultFile, same_run
from compress.verdict.results import CaseResult, Metric

JUDGED = frozenset({OK, IMPROVED, REGRESSION, INCONCLUSIVE})
TIME_METRIC = "time median"
LIMIT_ROW = ("(machine)", "int8 limit")
# The calibrated int8 GEMM ratio moved 2.96-3.65x across six runs of one commit on one machine
# (docs/gate.md); losing VNNI halves it (3.9x -> 1.9x): 25% tells the two apart.
LIMIT_TOLERANCE = 0.25
EXIT_STATUS = (
    "exit status: 0 no regression (inconclusive and not-comparable rows do not change it); "
    "1 regression (a failed, skipped or missing case too, unless --allow-missing), or a "
    "candidate that is the baseline itself (the run saved nothing new); 2 bad input (a file "
    "that cannot be read, a row saved before the typed result schema, another schema version, "
    "a metric without a direction) or files of different "
    "profiles: one line on stderr names the file and the row, nothing is compared."
)


def _speed_status(metric: Metric, machine: Machines, options: Options) -> str | None:
    """The status a speed-dependent metric gets without judging, or None to judge it."""
    if metric.unit == "x":
        if machine.speed_note is None or options.gate_speed_anyway:
            return None
        return f"{NOT_COMPARABLE}: {machine.speed_note}"
    if metric.unit == "s":
        return None if machine.same else f"{NOT_COMPARABLE}: machines differ"
    return None


def _judged(full: str, name: str, key: str, pair, machine: Machines, o: Options) -> Row:
    """One metric present in both runs, judged by the evidence of both where they kept it."""
    (old, base), (new, cand) = pair
    status = _speed_status(base, machine, o)
    change = None
    if status is None:
        try:
            change = change_of(old, base, new, cand)
        except NotComparable as exc:
            status = f"{NOT_COMPARABLE}: {exc}"
    row = Row.of(full, name, key, base, cand, status or judge_metric(base, cand, change))
    if change is None:
        return row
    tol = base.tolerance if base.tolerance is not None else 0.0
    return replace(
        row,
        change_ci=change.ci,
        relative_change=change.relative,
        unresolved=row.status in JUDGED and not resolves(change, tol),
    )


# Figures that do not depend on which examples were scored: speed, sizes, counts, memory
DATA_FREE_UNITS = frozenset({"x", "s", "bytes", "ratio", "count"})


def _eval_data_note(old: CaseResult, new: CaseResult) -> str | None:
    """Why the two runs' quality figures are not comparable (another split or size), or None.
    A figure without per-example evidence would otherwise be judged as if scored alike."""
    a, b = ((r.data.get("split"), r.data.get("examples")) for r in (old, new))
    if a == b or None in (a[0], b[0]):
        return None
    return f"evaluation data differ ({a[0]}, {a[1]} examples vs {b[0]}, {b[1]})"


def _case_rows(
    full: str, name: str, old: CaseResult, new: CaseResult, machine: Machines, options: Options
) -> list[Row]:
    tasks = (old.data.get("task"), new.data.get("task"))
    if tasks[0] != tasks[1]:
        return [Row(full, name, "(case)", None, None, f"{NOT_COMPARABLE}: task {tasks}")]
    data_note = _eval_data_note(old, new)
    rows = []
    for key in [*old.metrics, *(k for k in new.metrics if k not in old.metrics)]:
        base, cand = old.metrics.get(key), new.metrics.get(key)
        unit = (cand or base).unit  # type: ignore[union-attr]
        if unit in ("x", "s") and not options.include_time:
            continue  # --no-time: only what does not depend on the CPU
        if base is None or cand is None:
            status = NEW if base is None else MISSING
            if base is not None and base.direction == "report":
                status = INFO  # a report-only figure (a training time: absent on a cache hit)
            rows.append(Row.of(full, name, key, base, cand, status))
            continue
        if data_note and unit not in DATA_FREE_UNITS:
            rows.append(Row.of(full, name, key, base, cand, f"{NOT_COMPARABLE}: {data_note}"))
            continue
        rows.append(_judged(full, name, key, ((old, base), (new, cand)), machine, options))
    return kind_differences(rows) if machine.other_kind else rows


def _time_row(full: str, name: str, old: Mapping, new: Mapping, machine: Machines, o: Options):
    a, b = (r.get("stats", {}).get("median") for r in (old, new))
    if not o.include_time or not all(isinstance(v, (int, float)) for v in (a, b)):
        return []
    if not machine.same:
        status = f"{NOT_COMPARABLE}: machines differ"
    else:
        status = judge("lower", o.time_tol, True, a, b) if o.gate_latency else INFO
    return [Row(full, name, TIME_METRIC, float(a), float(b), status, "s")]


def _limit_rows(baseline: ResultFile, candidate: ResultFile, machine: Machines, o: Options):
    """The int8 limit of both machines, judged like a speedup when both kept their rounds."""
    a, b = (f.machine_info.get("int8_limit") or {} for f in (baseline, candidate))
    if not o.include_time or "speedup" not in a or "speedup" not in b:
        return []
    base, cand = (
        Metric(
            d["speedup"],
            "x",
            "higher",
            LIMIT_TOLERANCE,
            relative=True,
            samples=tuple(d["samples"]) if len(d.get("samples") or ()) > 1 else None,
        )
        for d in (a, b)
    )
    empty = CaseResult("int8-limit", {}, {}, {"about": "int8 limit"}, {}, {}, "?")
    pair = ((empty, base), (empty, cand))
    return [_judged(*LIMIT_ROW, "speedup", pair, machine, o)]


def compare(
    baseline: ResultFile, candidate: ResultFile, options: Options | None = None
) -> list[Row]:
    """Rows for every benchmark of either file, matched by fullname, then the run's failed and
    skipped tests. Raise ProfileMismatch when the files were recorded with different profiles."""
    options = options or Options()
    if baseline.profile != candidate.profile:
        raise ProfileMismatch(baseline.profile, candidate.profile)
    machine = machines(baseline, candidate)
    old, new = baseline.rows(), candidate.rows()
    outcomes = outcome_rows(baseline, candidate, options)
    failed = {r.benchmark for r in outcomes}
    rows: list[Row] = _limit_rows(baseline, candidate, machine, options)
    for full in [*old, *(f for f in new if f not in old)]:
        if options.only is not None and options.only not in full:
            continue
        name = (old.get(full) or new[full]).get("name") or full
        if full not in new:
            rows += absent_rows(full, name, candidate)
            continue
        if full not in old:
            rows.append(Row(full, name, "(benchmark)", None, None, NEW))
            continue
        rows += _time_row(full, name, old[full], new[full], machine, options)
        a, b = baseline.cases[full], candidate.cases[full]
        if a is not None and b is not None:
            rows += _case_rows(full, name, a, b, machine, options)
        elif (a is not None or b is not None) and full not in failed:
            rows.append(Row(full, name, "(result)", None, None, MISSING if b is None else NEW))
    absent = {r.benchmark for r in rows if r.metric == "(benchmark)"}
    rows += [r for r in outcomes if r.benchmark not in absent]
    return [replace(row, regression=is_regression(row.status, options)) for row in rows]


def summary(rows: Sequence[Row], baseline: ResultFile, candidate: ResultFile, o: Options) -> str:
    """The lines under the table: machines, counts, and what the evidence could not decide."""
    lines = []
    machine = machines(baseline, candidate)
    if o.include_time and machine.speed_note:
        lines.append(f"speedups not gated: {machine.speed_note}")
    if o.include_time and machine.differences:
        lines.append("machines differ: " + "; ".join(machine.differences))
    old_way = [r for r in rows if r.status in JUDGED and r.change_ci is None and r.unit != "s"]
    old_way = [r for r in old_way if r.unit in ("x", "frac", "pts")]
    if old_way:
        lines.append(
            f"note: {len(old_way)} speed or quality metrics compared the old way (one run's CI "
            "against the tolerance): a file keeps no per-round or per-example evidence"
        )
    unresolved = sorted({f"{r.name} {r.metric}" for r in rows if r.unresolved})
    if unresolved:
        lines.append(
            f"cannot resolve the declared change ({len(unresolved)}): the change CI is wider "
            "than twice the tolerance: "
            + ", ".join(unresolved[:8])
            + (", ..." if len(unresolved) > 8 else "")
        )
    regressions = sum(r.regression for r in rows)
    compared = sum(kind(r.status) in JUDGED or r.regression for r in rows)
    lines.append(
        f"{regressions} regressions in {compared} compared metrics (profile {baseline.profile})"
    )
    inconclusive = sum(kind(r.status) == INCONCLUSIVE for r in rows)
    if inconclusive:
        lines.append(f"{inconclusive} inconclusive: beyond the tolerance, CI reaches no change")
    return "\n".join(lines)


def confirm(rows: list[Row], baseline: ResultFile, retest: ResultFile | str | None, o: Options):
    """Speed regressions stand where a retest of those cases (a fresh process, later) regresses
    too: a burst of noise on a shared 2-core machine moves one run's ratios (one of six A/A
    runs by 7.7%, docs/gate.md), a real slowdown moves both. Only a retest that measured the
    case and did not regress makes it inconclusive; a regression that could not be
    re-measured (``retest`` is None or says why there is no file, or lacks the case) stands,
    with that reason. Other rows are kept."""
    again = {}
    if isinstance(retest, ResultFile):
        again = {(r.benchmark, r.metric): r for r in compare(baseline, retest, o)}
    why = retest if isinstance(retest, str) else "the retest did not run"
    other = {r.benchmark for r in rows if r.regression and r.unit != "x"}  # not retested
    out = []
    for row in rows:
        if row.regression and row.unit == "x" and row.benchmark in other:
            row = replace(row, status=f"{REGRESSION} (not re-measured: the case regressed in "
                          "other figures too)")  # fmt: skip
        elif row.regression and row.unit == "x":
            second = again.get((row.benchmark, row.metric))
            if second is None:
                missed = why if not isinstance(retest, ResultFile) else "not in the retest's file"
                row = replace(row, status=f"{REGRESSION} (not re-measured: {missed})")
            elif second.status != REGRESSION:
                status = f"{INCONCLUSIVE}: a retest did not confirm it ({second.status} "
                row = replace(row, status=f"{status}{second.change})", regression=False)
            else:
                row = replace(row, status=f"{REGRESSION} (retest {second.change})")
        out.append(row)
    return out


def retest_ids(rows: Sequence[Row]) -> list[str]:
    """The benchmarks whose only regressions are speedups: what a retest re-measures."""
    speed = {r.benchmark for r in rows if r.regression and r.unit == "x"}
    other = {r.benchmark for r in rows if r.regression and r.unit != "x"}
    return sorted(speed - other - {LIMIT_ROW[0]})


def run(
    baseline: ResultFile, candidate: ResultFile, options: Options, retest=None
) -> tuple[int, str]:
    """(exit status, printed text) of one comparison; raises ProfileMismatch. ``retest``,
    given benchmark ids, re-runs them and returns their result file (or None): speed
    regressions then stand only when confirmed (``confirm``)."""
    return run_rows(baseline, candidate, options, retest)[:2]


def run_rows(
    baseline: ResultFile, candidate: ResultFile, options: Options, retest=None
) -> tuple[int, str, list[Row]]:
    """``run``, with the judged rows (what the HTML page draws; [] for a run compared with
    itself)."""
    for side in (baseline, candidate):
        if not side.fingerprint:  # never silently ungated
            raise InputError(side.path, "no machine fingerprint (machine_info.fingerprint): "
                             "speed and kinds cannot be judged; re-record it")  # fmt: skip
    if same_run(baseline, candidate):
        text = (
            f"compare: the candidate {candidate.path} is the baseline {baseline.path} itself: "
            "the run saved no new result"
        )
        return 1, text, []
    rows = compare(baseline, candidate, options)
    if retest is not None and any(r.regression and r.unit == "x" for r in rows):
        rows = confirm(rows, baseline, retest(retest_ids(rows)), options)
    shown = [r for r in rows if options.show_info or r.status != INFO]
    table = render(shown) if shown else "no benchmarks to compare"
    text = f"{table}\n\n{summary(rows, baseline, candidate, options)}"
    return (1 if any(r.regression for r in rows) else 0), text, rows
