"""Compare two result files case by case: ``python -m compress.compare BASELINE CANDIDATE``.

Every figure is judged as the *baseline's* typed result declares it (compress.results: its
direction and tolerance), so a change cannot loosen its own gate; no metric name is read to
guess what it means. A move in the worse direction beyond the tolerance is a REGRESSION only
when the candidate's confidence interval lies wholly beyond it too; when the CI still reaches
the allowed band the row is "inconclusive" (shown and counted, not a regression).

What is comparable between two files:
- quality figures and sizes: always (they depend on code, data and training, not on the CPU);
- speedups (unit "x"): between machines of the same int8 ISA class (compress.fingerprint:
  AMX, AVX-512 VNNI, AVX-VNNI, AVX-512, AVX2, Arm dot-product); across classes, or when a
  class is unknown, they are shown side by side as "not comparable: ..." and never gated;
- absolute times (unit "s" and the rows' latency medians): shown; gated only with
  --gate-latency, and only on the same machine (same fingerprint).
Files of different profiles (training budgets) are not compared at all, nor are rows whose
data provenance names a different task.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from compress.compare_table import (
    IMPROVED,
    INCONCLUSIVE,
    INFO,
    MISSING,
    NEW,
    NOT_COMPARABLE,
    OK,
    REGRESSION,
    Row,
    render,
)
from compress.errors import InputError
from compress.fingerprint import fingerprint_diff, isa_class
from compress.resultfile import ResultFile, load
from compress.results import CaseResult, Metric

JUDGED = frozenset({OK, IMPROVED, REGRESSION, INCONCLUSIVE})
TIME_METRIC = "time median"
EXIT_STATUS = (
    "exit status: 0 no regression (inconclusive and not-comparable rows do not change it); "
    "1 regression; 2 bad input (a file that cannot be read, a row saved before the typed result "
    "schema, another schema version, a metric without a direction) or files of different "
    "profiles: one line on stderr names the file and the row, nothing is compared."
)


@dataclass(frozen=True)
class Options:
    """Knobs for compare(); defaults match the CLI defaults."""

    time_tol: float = 0.15  # allowed relative slowdown of a latency median (--gate-latency)
    include_time: bool = True  # False: no speedup or time rows at all (--no-time)
    gate_latency: bool = False  # also gate absolute latency medians (same machine only)
    gate_speed_anyway: bool = False  # gate speedups even across ISA classes
    only: str | None = None  # keep benchmarks whose fullname contains this substring
    strict: bool = False  # a benchmark or metric missing from the candidate is a regression
    show_info: bool = False  # also list ungated metrics


class ProfileMismatch(ValueError):
    """The two result files were recorded with different profiles: nothing is comparable."""

    def __init__(self, baseline: str | None, candidate: str | None) -> None:
        self.baseline, self.candidate = baseline, candidate
        super().__init__(f"profile {_label(baseline)} vs {_label(candidate)}")


def _label(profile: object) -> str:
    return repr(profile) if isinstance(profile, str) else "unrecorded"


@dataclass(frozen=True)
class Machines:
    """How comparable the two files' machines are for speed."""

    same: bool  # identical timing-relevant fingerprint: absolute times comparable
    speed_note: str | None  # why speedups are not comparable; None when they are
    differences: tuple[str, ...]  # fingerprint_diff lines


def machines(baseline: ResultFile, candidate: ResultFile) -> Machines:
    """Compare the fingerprints: same machine, same ISA class, or not comparable (and why)."""
    old, new = baseline.fingerprint, candidate.fingerprint
    if not old or not new:
        which = " and ".join(w for w, fp in (("baseline", old), ("candidate", new)) if not fp)
        return Machines(False, f"no machine fingerprint in {which}", ())
    diff = tuple(fingerprint_diff(old, new))
    a, b = isa_class(old.get("isa")), isa_class(new.get("isa"))
    if a is None or b is None:
        flags = old.get("isa") if a is None else new.get("isa")
        return Machines(not diff, f"unknown ISA class (flags {flags!r})", diff)
    if a != b:
        old_isa, new_isa = set(old.get("isa") or ()), set(new.get("isa") or ())
        flags = [f"+{f}" for f in sorted(new_isa - old_isa)]
        flags += [f"-{f}" for f in sorted(old_isa - new_isa)]
        return Machines(False, f"ISA class {a} vs {b} (candidate {' '.join(flags)})", diff)
    return Machines(not diff, None, diff)


def judge(direction: str, tolerance: float, relative: bool, old: float, new: float) -> str:
    """ok / improved / REGRESSION for one value pair, with ``tolerance`` in the worse direction."""
    if not math.isfinite(new):
        return REGRESSION
    margin = tolerance * abs(old) if relative else tolerance
    gain = (new - old) if direction == "higher" else (old - new)  # > 0 means better
    if math.isclose(abs(gain), margin, rel_tol=1e-9, abs_tol=1e-12):
        return OK
    if gain < -margin:
        return REGRESSION
    return IMPROVED if gain > margin else OK


def judge_metric(base: Metric, cand: Metric) -> str:
    """Status of a typed metric as the baseline declares it; the candidate's CI decides doubtful
    moves (its most favourable end must be beyond the tolerance too for a REGRESSION)."""
    if base.direction == "report" or base.tolerance is None:
        return INFO
    args = (base.direction, base.tolerance, base.relative, base.value)
    status = judge(*args, cand.value)
    if status != REGRESSION or cand.ci is None:
        return status
    best = cand.ci.high if base.direction == "higher" else cand.ci.low
    return REGRESSION if judge(*args, best) == REGRESSION else INCONCLUSIVE


def _speed_status(metric: Metric, machine: Machines, options: Options) -> str | None:
    """The status a speed-dependent metric gets without judging, or None to judge it."""
    if metric.unit == "x":
        if machine.speed_note is None or options.gate_speed_anyway:
            return None
        return f"{NOT_COMPARABLE}: {machine.speed_note}"
    if metric.unit == "s":
        return None if machine.same else f"{NOT_COMPARABLE}: machines differ"
    return None


def _case_rows(
    full: str, name: str, old: CaseResult, new: CaseResult, machine: Machines, options: Options
) -> list[Row]:
    tasks = (old.data.get("task"), new.data.get("task"))
    if tasks[0] != tasks[1]:
        return [Row(full, name, "(case)", None, None, f"{NOT_COMPARABLE}: task {tasks}")]
    rows = []
    for key in [*old.metrics, *(k for k in new.metrics if k not in old.metrics)]:
        base, cand = old.metrics.get(key), new.metrics.get(key)
        unit = (cand or base).unit  # type: ignore[union-attr]
        if unit in ("x", "s") and not options.include_time:
            continue  # --no-time: only what does not depend on the CPU
        if base is None or cand is None:
            status = MISSING if cand is None else NEW
        else:
            status = _speed_status(base, machine, options) or judge_metric(base, cand)
        rows.append(Row.of(full, name, key, base, cand, status))
    return rows


def _time_row(full: str, name: str, old: Mapping, new: Mapping, machine: Machines, o: Options):
    a, b = (r.get("stats", {}).get("median") for r in (old, new))
    if not o.include_time or not all(isinstance(v, (int, float)) for v in (a, b)):
        return []
    if not machine.same:
        status = f"{NOT_COMPARABLE}: machines differ"
    else:
        status = judge("lower", o.time_tol, True, a, b) if o.gate_latency else INFO
    return [Row(full, name, TIME_METRIC, float(a), float(b), status, "s")]


def compare(baseline: ResultFile, candidate: ResultFile, options: Options = Options()) -> list[Row]:
    """Rows for every benchmark of either file, matched by fullname.

    Raise ProfileMismatch when the files were recorded with different profiles."""
    if baseline.profile != candidate.profile:
        raise ProfileMismatch(baseline.profile, candidate.profile)
    machine = machines(baseline, candidate)
    old, new = baseline.rows(), candidate.rows()
    rows: list[Row] = []
    for full in [*old, *(f for f in new if f not in old)]:
        if options.only is not None and options.only not in full:
            continue
        name = (old.get(full) or new[full]).get("name") or full
        if full not in old or full not in new:
            status = MISSING if full in old else NEW
            rows.append(Row(full, name, "(benchmark)", None, None, status))
            continue
        rows += _time_row(full, name, old[full], new[full], machine, options)
        a, b = baseline.cases[full], candidate.cases[full]
        if a is not None and b is not None:
            rows += _case_rows(full, name, a, b, machine, options)
        elif a is not None or b is not None:
            rows.append(Row(full, name, "(result)", None, None, MISSING if b is None else NEW))
    strict = {REGRESSION, MISSING} if options.strict else {REGRESSION}
    return [replace(row, regression=row.status in strict) for row in rows]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compress.compare",
        description=__doc__,
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("baseline", help="baseline result JSON (pytest-benchmark, typed results)")
    p.add_argument("candidate", help="candidate result JSON")
    p.add_argument("--no-time", action="store_true", help="skip speedups and times entirely")
    p.add_argument("--gate-latency", action="store_true", help="gate latency medians too")
    p.add_argument("--time-tol", type=float, default=0.15, help="with --gate-latency (0.15)")
    p.add_argument(
        "--gate-speed-anyway", action="store_true", help="gate speedups across ISA classes"
    )
    p.add_argument("--only", metavar="SUBSTRING", help="only benchmarks whose fullname has it")
    p.add_argument("--strict", action="store_true", help="anything missing is a regression")
    p.add_argument("--show-info", action="store_true", help="also list ungated metrics")
    return p


def _profile_message(exc: ProfileMismatch, baseline: str, candidate: str) -> str:
    other = exc.candidate if exc.candidate is not None else exc.baseline
    return (
        f"compare: not comparable: profile {_label(exc.baseline)} (baseline {baseline}) vs "
        f"{_label(exc.candidate)} (candidate {candidate}); compare runs of one profile "
        f"(re-record with --profile {other})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: print the comparison and return the exit status EXIT_STATUS states."""
    args = _parser().parse_args(argv)
    options = Options(
        time_tol=args.time_tol,
        include_time=not args.no_time,
        gate_latency=args.gate_latency,
        gate_speed_anyway=args.gate_speed_anyway,
        only=args.only,
        strict=args.strict,
        show_info=args.show_info,
    )
    try:
        baseline, candidate = load(args.baseline), load(args.candidate)
        rows = compare(baseline, candidate, options)
    except InputError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2
    except ProfileMismatch as exc:
        print(_profile_message(exc, args.baseline, args.candidate), file=sys.stderr)
        return 2
    shown = [r for r in rows if options.show_info or r.status != INFO]
    print(render(shown) if shown else "no benchmarks to compare")
    machine = machines(baseline, candidate)
    if options.include_time and machine.speed_note:
        print(f"\nspeedups not gated: {machine.speed_note}")
    if options.include_time and machine.differences:
        print("machines differ: " + "; ".join(machine.differences))
    regressions = sum(r.regression for r in rows)
    compared = sum(r.status in JUDGED or r.regression for r in rows)
    print(
        f"\n{regressions} regressions in {compared} compared metrics (profile {baseline.profile})"
    )
    inconclusive = sum(r.status == INCONCLUSIVE for r in rows)
    if inconclusive:
        print(f"{inconclusive} inconclusive: beyond the tolerance, but the CI still reaches it")
    return 1 if regressions else 0


if __name__ == "__main__":
    raise SystemExit(main())
