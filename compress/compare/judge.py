"""Compare two result files case by case: ``python -m compress.compare BASELINE CANDIDATE``.

Every figure is judged as the *baseline's* typed result declares it (compress.verdict.results: its
direction and tolerance, the smallest change that matters, and what it depends on), so a change
cannot loosen its own gate; no metric name or unit is read to guess what it means. Where both
runs kept their evidence (schema 2: per-round ratios, per-example predictions) the *change* gets
its own CI (compress.verdict.change): a REGRESSION is a change whose CI is wholly on the bad side
of zero with its point beyond the tolerance; beyond the tolerance with a CI that reaches zero it
is "inconclusive". Without evidence (a schema-1 file) a move beyond the tolerance is a
REGRESSION when the candidate's own CI lies wholly beyond it too (the old way, said once).

Strict by default: a benchmark, metric or typed result of the baseline that the candidate
lacks, and a case that failed, errored or was skipped, is a regression naming the case
(``--allow-missing`` lets a partial run through, never a failed case).

What is comparable between two files is what each figure declares it depends on
(compress.verdict.depends; files saved before the declaration read it by the figure's name):
- nothing but code, model and data (quality figures, sizes): always;
- the evaluation data: only where both runs scored the same split and size;
- the CPU kind (speedups, throughputs, this CPU's int8 limit): between machines of one CPU kind,
  so of one int8 ISA class (compress.measure.fingerprint: AMX, AVX-512 VNNI, AVX-VNNI,
  AVX-512, AVX2, Arm dot-product); otherwise, or when a class is unknown, they are shown side by
  side as "not comparable: ..." and never gated;
- the machine (absolute times, the rows' latency medians): shown; gated only with
  --gate-latency, and only on the same machine (same fingerprint).
Files of different profiles (training budgets) are not compared at all, nor are rows whose
data provenance names a different task.

One pass over the rows, top to bottom below: comparability, then judgement, then the gate; a
speed regression then stands only where a retest regresses too (``confirm``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from compress.compare.kernel_path import kernel_rows
from compress.compare.notes import summary
from compress.compare.outcomes import absent_rows, outcome_rows
from compress.compare.rules import (
    CPU_FACETS,
    Machines,
    Options,
    ProfileMismatch,
    eval_data_note,
    is_speed,
    machines,
    unmet,
)
from compress.core.errors import InputError
from compress.report.compare_table import Row, render
from compress.verdict.change import NotComparable, change_of, judge_metric, judge_values, resolves
from compress.verdict.depends import SPEED, TIME, Facet
from compress.verdict.resultfile import ResultFile, same_run
from compress.verdict.results import CaseResult, Metric
from compress.verdict.status import JUDGED, Pseudo, Status, Verdict

TIME_METRIC = "time median"
LIMIT_ROW = (Pseudo.MACHINE, "int8 limit")
# The calibrated int8 GEMM ratio moved 2.96-3.65x across six runs of one commit on one machine
# (docs/gate.md); losing VNNI halves it (3.9x -> 1.9x): 25% tells the two apart.
LIMIT_TOLERANCE = 0.25
REFERENCE_SUFFIX = "_reference"  # the fp32 side of a case's quality figures (verdict.case)
Retest = Callable[[list[str]], ResultFile | str | None]  # benchmark ids -> their re-run
Side = tuple[CaseResult, Metric]  # one run's typed result and one figure of it


def run(
    baseline: ResultFile, candidate: ResultFile, options: Options, retest: Retest | None = None
) -> tuple[int, str]:
    """(exit status, printed text) of one comparison; raises ProfileMismatch. ``retest``,
    given benchmark ids, re-runs them and returns their result file (or why there is none):
    speed regressions then stand only when confirmed (``confirm``)."""
    return run_rows(baseline, candidate, options, retest)[:2]


def run_rows(
    baseline: ResultFile, candidate: ResultFile, options: Options, retest: Retest | None = None
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
    if retest is not None and any(r.regression and is_speed(r.depends_on) for r in rows):
        rows = confirm(rows, baseline, retest(retest_ids(rows)), options)
    shown = [r for r in rows if options.show_info or r.status is not Status.INFO]
    table = render(shown) if shown else "no benchmarks to compare"
    text = f"{table}\n\n{summary(rows, baseline, candidate, options)}"
    return (1 if any(r.regression for r in rows) else 0), text, rows


def compare(
    baseline: ResultFile, candidate: ResultFile, options: Options | None = None
) -> list[Row]:
    """Rows for every benchmark of either file, matched by fullname, then the run's failed and
    skipped tests, each flagged ``regression`` where it fails the gate. Raise ProfileMismatch
    when the files were recorded with different profiles."""
    o = options or Options()
    if baseline.profile != candidate.profile:
        raise ProfileMismatch(baseline.profile, candidate.profile)
    machine = machines(baseline, candidate)
    old, new = baseline.rows(), candidate.rows()
    outcomes = outcome_rows(baseline, candidate, o.only)
    failed = {r.benchmark for r in outcomes}
    rows: list[Row] = _limit_rows(baseline, candidate, machine, o)
    for full in [*old, *(f for f in new if f not in old)]:
        if o.only is not None and o.only not in full:
            continue
        name = (old.get(full) or new[full]).get("name") or full
        if full not in new:
            rows += absent_rows(full, name, candidate)
        elif full not in old:
            rows.append(Row(full, name, Pseudo.BENCHMARK, None, None, Verdict(Status.NEW)))
        else:
            rows += _time_rows(full, name, old[full], new[full], machine, o)
            pair = (baseline.cases[full], candidate.cases[full])
            rows += _case_rows(full, name, pair, machine, o, full in failed)
    absent = {r.benchmark for r in rows if r.metric == Pseudo.BENCHMARK}
    rows += [r for r in outcomes if r.benchmark not in absent]
    return [replace(row, regression=is_regression(row.verdict, o)) for row in rows]


def _case_rows(
    full: str,
    name: str,
    pair: tuple[CaseResult | None, CaseResult | None],
    machine: Machines,
    o: Options,
    failed: bool,
) -> list[Row]:
    """The typed results of one benchmark in both runs, metric by metric: is the figure
    comparable (``unmet``), then how it moved (``_metric_row``)."""
    old, new = pair
    if old is None or new is None:
        if (old is None) == (new is None) or failed:  # none on either side, or it failed
            return []
        status = Status.MISSING if new is None else Status.NEW
        return [Row(full, name, Pseudo.RESULT, None, None, Verdict(status))]
    tasks = (old.data.get("task"), new.data.get("task"))
    if tasks[0] != tasks[1]:
        verdict = Verdict(Status.NOT_COMPARABLE, f"task {tasks}")
        return [Row(full, name, Pseudo.CASE, None, None, verdict)]
    data_note = eval_data_note(old, new)
    rows = []
    for key in [*old.metrics, *(k for k in new.metrics if k not in old.metrics)]:
        base, cand = old.metrics.get(key), new.metrics.get(key)
        depends = (base or cand).depends_on or frozenset()  # type: ignore[union-attr]
        if not o.include_time and not CPU_FACETS.isdisjoint(depends):
            continue  # --no-time: only what does not depend on the CPU
        if base is None or cand is None:
            rows.append(Row.of(full, name, key, base, cand, _one_side(base)))
        else:
            why = unmet(depends, machine, data_note, o)
            rows.append(_metric_row(full, name, key, ((old, base), (new, cand)), why))
    if o.include_time:  # the kernel path depends on the CPU kind
        rows += kernel_rows(full, name, old, new, machine)
    return kind_differences(rows) if machine.other_kind else rows


def _one_side(base: Metric | None) -> Verdict:
    """A figure of one run only: new, missing, or a report-only figure the candidate did not
    produce (a training time: absent on a cache hit)."""
    if base is None:
        return Verdict(Status.NEW)
    return Verdict(Status.INFO if base.direction == "report" else Status.MISSING)


def _metric_row(full: str, name: str, key: str, pair: tuple[Side, Side], why: str | None) -> Row:
    """One figure present in both runs: not comparable (``why``), or judged by the evidence of
    both where they kept it."""
    (old, base), (new, cand) = pair
    if why is not None:
        return Row.of(full, name, key, base, cand, Verdict(Status.NOT_COMPARABLE, why))
    try:
        change = change_of(old, base, new, cand)
    except NotComparable as exc:
        return Row.of(full, name, key, base, cand, Verdict(Status.NOT_COMPARABLE, str(exc)))
    row = Row.of(full, name, key, base, cand, Verdict(judge_metric(base, cand, change)))
    if change is None:
        return row
    tol = base.tolerance if base.tolerance is not None else 0.0
    return replace(
        row,
        change_ci=change.ci,
        relative_change=change.relative,
        unresolved=row.status in JUDGED and not resolves(change, tol),
    )


def _time_rows(
    full: str, name: str, old: Mapping, new: Mapping, machine: Machines, o: Options
) -> list[Row]:
    """The benchmark rows' latency medians: absolute times, of one machine only."""
    a, b = (r.get("stats", {}).get("median") for r in (old, new))
    if not o.include_time or not all(isinstance(v, (int, float)) for v in (a, b)):
        return []
    why = unmet(TIME, machine, None, o)
    if why is not None:
        verdict = Verdict(Status.NOT_COMPARABLE, why)
    elif o.gate_latency:
        verdict = Verdict(judge_values("lower", o.time_tol, True, a, b))
    else:
        verdict = Verdict(Status.INFO)
    return [Row(full, name, TIME_METRIC, float(a), float(b), verdict, "s", depends_on=TIME)]


def _limit_rows(
    baseline: ResultFile, candidate: ResultFile, machine: Machines, o: Options
) -> list[Row]:
    """The int8 limit of both machines, judged like a speedup when both kept their rounds."""
    a, b = (f.machine_info.get("int8_limit") or {} for f in (baseline, candidate))
    if not o.include_time or "speedup" not in a or "speedup" not in b:
        return []
    base, cand = (
        Metric(d["speedup"], "x", "higher", LIMIT_TOLERANCE, relative=True, depends_on=SPEED,
               samples=tuple(d["samples"]) if len(d.get("samples") or ()) > 1 else None)
        for d in (a, b)
    )  # fmt: skip
    empty = CaseResult("int8-limit", {}, {}, {"about": "int8 limit"}, {}, {}, "?")
    why = unmet(SPEED, machine, None, o)
    return [_metric_row(*LIMIT_ROW, "speedup", ((empty, base), (empty, cand)), why)]


def kind_differences(rows: list[Row]) -> list[Row]:
    """Between two CPU kinds, a case whose fp32 reference figures are identical and whose
    compressed answers moved has met another kind's int8 kernels, not a regression of the
    suite (an AMX Xeon agreed with fp32 on 0.913 of the held-out MRPC pairs where the EPYC
    baseline agreed on 0.923, same model): those moves are reported as kind differences."""
    reference = [r for r in rows if r.metric.endswith(REFERENCE_SUFFIX)]
    if not reference or any(r.baseline != r.candidate for r in reference):
        return rows
    out = []
    for row in rows:
        moved = row.status in (Status.REGRESSION, Status.INCONCLUSIVE)
        answer = Facet.ANSWERS in row.depends_on and not row.metric.endswith(REFERENCE_SUFFIX)
        if moved and answer:
            verdict = Verdict(Status.KIND_DIFFERENCE, f"{row.verdict} (fp32 identical)")
            row = replace(row, verdict=verdict)
        out.append(row)
    return out


def is_regression(verdict: Verdict, options: Options) -> bool:
    """REGRESSION and a failed case always; a missing or skipped one unless --allow-missing."""
    if verdict.status in (Status.REGRESSION, Status.FAILED):
        return True
    return verdict.status is Status.MISSING and not options.allow_missing


def confirm(
    rows: list[Row], baseline: ResultFile, retest: ResultFile | str | None, o: Options
) -> list[Row]:
    """Speed regressions stand where a retest of those cases (a fresh process, later) regresses
    too: a burst of noise on a shared 2-core machine moves one run's ratios (one of six A/A
    runs by 7.7%, docs/gate.md), a real slowdown moves both. Only a retest that measured the
    case and did not regress makes it inconclusive; a regression that could not be
    re-measured (``retest`` is None or says why there is no file, or lacks the case) stands,
    with that reason. Other rows are kept."""
    again = {}
    if isinstance(retest, ResultFile):
        again = {(r.benchmark, r.metric): r for r in compare(baseline, retest, o)}
        missed = "not in the retest's file"
    else:
        missed = retest if isinstance(retest, str) else "the retest did not run"
    other = {r.benchmark for r in rows if r.regression and not is_speed(r.depends_on)}
    out = []
    for row in rows:
        if not (row.regression and is_speed(row.depends_on)):
            out.append(row)
            continue
        second = again.get((row.benchmark, row.metric))
        if row.benchmark in other:  # not retested
            why = "not re-measured: the case regressed in other figures too"
            row = replace(row, verdict=Verdict(Status.REGRESSION, why))
        elif second is None:
            row = replace(row, verdict=Verdict(Status.REGRESSION, f"not re-measured: {missed}"))
        elif second.status is not Status.REGRESSION:
            why = f"a retest did not confirm it ({second.verdict} {second.change})"
            row = replace(row, verdict=Verdict(Status.INCONCLUSIVE, why), regression=False)
        else:
            row = replace(row, verdict=Verdict(Status.REGRESSION, f"retest {second.change}"))
        out.append(row)
    return out


def retest_ids(rows: Sequence[Row]) -> list[str]:
    """The benchmarks whose only regressions are speed figures: what a retest re-measures."""
    speed = {r.benchmark for r in rows if r.regression and is_speed(r.depends_on)}
    other = {r.benchmark for r in rows if r.regression and not is_speed(r.depends_on)}
    return sorted(speed - other - {LIMIT_ROW[0]})
