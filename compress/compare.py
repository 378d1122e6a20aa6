"""Compare two pytest-benchmark JSON result files on time and on extra_info metrics.

Both files must come from the same profile (machine_info["profile"]: "quick", "full", or
unrecorded in files saved before profiles existed): the profiles' training budgets differ, so
nothing is judged across them.

A benchmark row that carries a typed result (compress.results.CaseResult, in
extra_info["compress_bench"]) in both files is judged by the directions and tolerances its
metrics declare (the candidate's declarations), not by metric-name rules, and its loose numeric
extra_info keys are not judged; --quality-tol and --speedup-tol apply to name-rule rows only.
A metric that moved beyond its tolerance while the candidate's CI still reaches the allowed band
is "inconclusive": shown and counted, never a regression.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from compress.errors import InputError
from compress.fingerprint import fingerprint_diff

if TYPE_CHECKING:  # compress.results imports scipy and sklearn: loaded only for rows that need it
    from compress.results import CaseResult, Metric
    from compress.stats import Interval

OK, IMPROVED, REGRESSION = "ok", "improved", "REGRESSION"
NOT_COMPARABLE, MISSING, NEW, INFO = "not comparable", "missing", "new", "info"
INCONCLUSIVE = "inconclusive"  # beyond the tolerance, but the candidate's CI reaches the band
JUDGED = frozenset({OK, IMPROVED, REGRESSION, INCONCLUSIVE})
DEFAULT_TASK = "mrpc"  # results saved before --task existed ran on MRPC
UNRECORDED = "unrecorded"  # how a result saved before --profile existed shows its profile
RESULT_KEY = "compress_bench"  # compress.results.EXTRA_INFO_KEY, without importing it
SPEED_UNITS = frozenset({"s", "x"})  # units of machine-dependent schema metrics
EXIT_STATUS = (
    "exit status: 0 no regression (inconclusive rows do not change it); 1 regression; "
    "2 bad input, or the two files were recorded with different profiles (nothing is compared "
    'then). Bad input includes a typed result (extra_info["compress_bench"]) that cannot be '
    "read: another schema version, or a metric without a direction; the one line on stderr "
    "names the file and the benchmark."
)


@dataclass(frozen=True)
class Rule:
    """How a numeric metric is matched, displayed and gated."""

    pattern: str  # fnmatch glob over the metric name: "speedup", "f1_*", "*_bytes"
    better: str | None = None  # "higher" | "lower"; None: report only, never gated
    tol: float = 0.0  # allowed move in the worse direction before it counts as a regression
    relative: bool = False  # tol is a fraction of the baseline (True) or an absolute amount
    unit: str = ""  # "s" | "bytes" | "x" | "frac" | "pts" | "ratio" | "": display only
    tol_option: str | None = None  # Options field that overrides tol (CLI-tunable)
    machine_dependent: bool = False  # gated only when fingerprints match, like time

    def matches(self, key: str) -> bool:
        """True when this rule applies to metric `key`."""
        return fnmatch.fnmatchcase(key, self.pattern)


# First match wins: keep specific rules above the general ones they would shadow.
RULES: tuple[Rule, ...] = (
    Rule("speedup*_q[13]", unit="x", machine_dependent=True),  # speedup quartiles: report only
    # Latency ratios that promise "no change" (masks buy no speed): timing, report only.
    Rule("latency_ratio*", unit="x", machine_dependent=True),
    Rule("*_std", unit="frac"),  # spread over seeds: reported, never gated (above "f1*")
    Rule("*_drop_pts", "lower", 0.5, unit="pts"),  # above "f1*", which would match f1_drop_pts
    Rule("f1*", "higher", 0.01, unit="frac", tol_option="quality_tol"),  # f1, f1_int8, f1_mean
    Rule("accuracy*", "higher", 0.01, unit="frac", tol_option="quality_tol"),
    # int8 speedups depend on the ISA (VNNI, AVX-512) and engine: gate them like time.
    # Back-to-back runs on a shared 2-core VM moved speedups by up to 12%: tolerate 20%.
    Rule(
        "speedup*",
        "higher",
        0.20,
        relative=True,
        unit="x",
        tol_option="speedup_tol",
        machine_dependent=True,
    ),
    Rule("*_bytes", "lower", 0.01, relative=True, unit="bytes"),
    Rule("loss_delta", "lower", 0.01),  # language-model loss change int8 - fp32, nats/token
    Rule("loss*", "lower", 0.02),  # language-model loss (loss, loss_fp32, …), nats/token
    Rule("*sqnr_db", "higher", 0.1, unit="dB"),  # quantization error of compress.qmath
    Rule("mse", "lower", 0.01, relative=True),
    Rule("max_abs_err", "lower", 0.05, relative=True),
    Rule("*_ratio", "lower", 0.005, unit="ratio"),
)
UNKNOWN_RULE = Rule("*")  # numeric keys no rule matches: shown as info, never gated
TIME_METRIC = "time median"
TIME_RULE = Rule(TIME_METRIC, "lower", 0.15, relative=True, unit="s", tol_option="time_tol")


@dataclass(frozen=True)
class Options:
    """Knobs for compare(); defaults match the CLI defaults."""

    time_tol: float = 0.15  # allowed relative slowdown of stats.median
    quality_tol: float = 0.01  # allowed absolute drop of f1_* / accuracy_* fractions
    speedup_tol: float = 0.20  # allowed relative drop of speedup* ratios
    include_time: bool = True  # False: no time or speedup rows at all (--no-time)
    gate_time_anyway: bool = False  # gate time even when fingerprints differ
    # Absolute latency medians drift far more between runs than same-process paired speedups
    # (README, "Results"): they are shown, and gated only on request.
    gate_latency: bool = False
    only: str | None = None  # keep benchmarks whose fullname contains this substring
    strict: bool = False  # a benchmark or metric missing from the candidate is a regression
    show_info: bool = False  # also list ungated metrics (counts, timings in extra_info)


@dataclass(frozen=True)
class Row:
    """One compared metric of one benchmark."""

    benchmark: str  # fullname, the matching key
    name: str  # short name for display
    metric: str
    baseline: float | None
    candidate: float | None
    status: str
    unit: str = ""
    regression: bool = False
    baseline_ci: Interval | None = None  # typed results only: shown next to the value
    candidate_ci: Interval | None = None

    @property
    def change(self) -> str:
        """Relative % for times/sizes/speedups, absolute difference for fractions/points."""
        if self.baseline is None or self.candidate is None:
            return ""
        delta = self.candidate - self.baseline
        if self.unit in ("frac", "ratio"):
            return f"{delta:+.3f}"
        if self.unit == "pts":
            return f"{delta:+.2f}"
        if self.baseline == 0:
            return "n/a"
        return f"{100 * delta / abs(self.baseline):+.1f}%"


def rule_for(key: str, rules: Iterable[Rule] = RULES) -> Rule:
    """The first rule matching metric `key`, or an ungated rule for unknown keys."""
    return next((rule for rule in rules if rule.matches(key)), UNKNOWN_RULE)


def judge(rule: Rule, baseline: float, candidate: float, options: Options = Options()) -> str:
    """Status of one metric: ok, improved, REGRESSION, or info for ungated rules."""
    if rule.better is None:
        return INFO
    if not (math.isfinite(baseline) and math.isfinite(candidate)):
        return REGRESSION if math.isfinite(baseline) else INFO
    tol = getattr(options, rule.tol_option) if rule.tol_option else rule.tol
    margin = tol * abs(baseline) if rule.relative else tol
    sign = 1 if rule.better == "higher" else -1
    gain = sign * (candidate - baseline)  # > 0 means better
    if math.isclose(abs(gain), margin, rel_tol=1e-9, abs_tol=1e-12):
        return OK
    if gain < -margin:
        return REGRESSION
    return IMPROVED if gain > margin else OK


def judge_metric(base: Metric, cand: Metric) -> str:
    """Status of a typed metric, gated as the *baseline* declares it (direction, tolerance),
    so that a change cannot loosen its own gate; the candidate's CI decides doubtful moves.

    "report" metrics and metrics without a tolerance are info. A move in the worse direction
    beyond the tolerance is a REGRESSION only when the candidate's CI (if it has one) lies
    wholly beyond it too; when the CI still reaches the allowed band it is inconclusive.
    """
    if base.direction == "report" or base.tolerance is None:
        return INFO
    rule = Rule("*", base.direction, base.tolerance, base.relative, base.unit)
    status = judge(rule, base.value, cand.value)
    if status != REGRESSION or cand.ci is None:
        return status
    best = cand.ci.high if base.direction == "higher" else cand.ci.low  # CI's most favourable end
    return REGRESSION if judge(rule, base.value, best) == REGRESSION else INCONCLUSIVE


class ProfileMismatch(ValueError):
    """The two result files were recorded with different profiles: nothing is comparable."""

    def __init__(self, baseline: str | None, candidate: str | None) -> None:
        self.baseline, self.candidate = baseline, candidate
        super().__init__(f"profile {_label(baseline)} vs {_label(candidate)}")


def profile_of(doc: Mapping) -> str | None:
    """The profile a result file was recorded with; None for files saved before profiles."""
    profile = _mapping(doc, "machine_info").get("profile")
    return profile if isinstance(profile, str) else None


def _label(profile: object) -> str:
    return repr(profile) if isinstance(profile, str) else UNRECORDED


def check_profiles(baseline: Mapping, candidate: Mapping) -> str | None:
    """The files' common profile (None: both unrecorded); raise ProfileMismatch if they differ."""
    old, new = profile_of(baseline), profile_of(candidate)
    if old != new:
        raise ProfileMismatch(old, new)
    return old


def time_comparability(baseline: Mapping, candidate: Mapping) -> list[str]:
    """Reasons the two result files' timings are not comparable; empty when they are."""
    old, new = (
        _mapping(_mapping(doc, "machine_info"), "fingerprint") for doc in (baseline, candidate)
    )
    missing = [who for who, fp in (("baseline", old), ("candidate", new)) if not fp]
    if missing:
        return [f"no machine_info.fingerprint in {who}" for who in missing]
    return fingerprint_diff(old, new)


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _mapping(doc: Mapping, key: str) -> Mapping:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def _metrics(bench: Mapping) -> dict[str, float]:
    return {k: float(v) for k, v in _mapping(bench, "extra_info").items() if _numeric(v)}


def _median(bench: Mapping) -> float | None:
    value = _mapping(bench, "stats").get("median")
    return float(value) if _numeric(value) else None


def case_result(bench: Mapping) -> CaseResult | None:
    """The row's typed result (compress.results), or None for a row saved without one.

    Raise compress.results.SchemaError, naming the benchmark, when it cannot be read.
    """
    extra = _mapping(bench, "extra_info")
    if RESULT_KEY not in extra:
        return None
    from compress import results  # deferred: scipy/sklearn are loaded only when a row needs them

    try:
        return results.read(extra)
    except results.SchemaError as exc:
        raise results.SchemaError(f"benchmark {bench.get('fullname')}: {exc}") from exc


def check_results(doc: Mapping, path: str | Path) -> None:
    """Raise InputError naming `path` and the benchmark if a row's typed result is unreadable."""
    for bench in doc["benchmarks"]:
        try:
            case_result(bench)
        except ValueError as exc:  # compress.results.SchemaError, imported only when needed
            raise InputError(path, str(exc)) from None


def _mismatch(base: Mapping, cand: Mapping, profile: str | None) -> str | None:
    """Why two runs of one benchmark are not comparable at all (other data or budgets), if so."""
    tasks = [_mapping(b, "extra_info").get("task", DEFAULT_TASK) for b in (base, cand)]
    if tasks[0] != tasks[1]:  # same test, different data (--task)
        return f"(task {tasks[0]} vs {tasks[1]})"
    old, new = (_mapping(b, "extra_info").get("profile", profile) for b in (base, cand))
    if old != new:  # the row's own profile wins over its file's
        return f"(profile {_label(old)} vs {_label(new)})"
    if old != profile:  # both rows agree with each other but not with their files
        return f"(profile {_label(old)} in extra_info vs {_label(profile)} in machine_info)"
    return None


def _compare_bench(
    base: Mapping,
    cand: Mapping,
    options: Options,
    rules: Sequence[Rule],
    gate_time: bool,
    profile: str | None = None,
) -> list[Row]:
    full, name = base["fullname"], base.get("name") or base["fullname"]
    mismatch = _mismatch(base, cand, profile)
    if mismatch:  # same test, different data or training budgets: nothing is comparable
        return [Row(full, name, mismatch, None, None, NOT_COMPARABLE)]
    rows: list[Row] = []
    old_time, new_time = _median(base), _median(cand)
    if options.include_time and old_time is not None and new_time is not None:
        status = (
            NOT_COMPARABLE
            if not gate_time
            else judge(TIME_RULE, old_time, new_time, options)
            if options.gate_latency
            else INFO
        )
        rows.append(Row(full, name, TIME_METRIC, old_time, new_time, status, "s"))
    old_case, new_case = case_result(base), case_result(cand)
    if old_case is not None and new_case is not None:  # the schema decides; names are not read
        return rows + _compare_cases(full, name, old_case, new_case, options, gate_time)
    old, new = _metrics(base), _metrics(cand)
    for key in [*old, *(k for k in new if k not in old)]:
        rule = rule_for(key, rules)
        if rule.machine_dependent and not options.include_time:
            continue  # --no-time: only deterministic metrics (quality, sizes) are compared
        if key not in new:
            rows.append(Row(full, name, key, old[key], None, MISSING, rule.unit))
        elif key not in old:
            rows.append(Row(full, name, key, None, new[key], NEW, rule.unit))
        else:
            status = (
                NOT_COMPARABLE
                if rule.machine_dependent and not gate_time
                else judge(rule, old[key], new[key], options)
            )
            rows.append(Row(full, name, key, old[key], new[key], status, rule.unit))
    return rows


def _compare_cases(
    full: str, name: str, old: CaseResult, new: CaseResult, options: Options, gate_time: bool
) -> list[Row]:
    """Rows for the metrics of two typed results of one benchmark, judged as they declare."""
    rows: list[Row] = []
    for key in [*old.metrics, *(k for k in new.metrics if k not in old.metrics)]:
        base, cand = old.metrics.get(key), new.metrics.get(key)
        speed = any(m is not None and m.unit in SPEED_UNITS for m in (base, cand))
        if speed and not options.include_time:
            continue  # --no-time: only deterministic metrics (quality, sizes) are compared
        if base is None or cand is None:
            status = MISSING if cand is None else NEW
        elif speed and not gate_time:
            status = NOT_COMPARABLE
        else:
            status = judge_metric(base, cand)
        rows.append(_metric_row(full, name, key, base, cand, status))
    return rows


def _metric_row(
    full: str, name: str, key: str, base: Metric | None, cand: Metric | None, status: str
) -> Row:
    """A Row for a typed metric present on one side or both, with its CIs."""
    return Row(
        full,
        name,
        key,
        None if base is None else base.value,
        None if cand is None else cand.value,
        status,
        (cand or base).unit,
        baseline_ci=None if base is None else base.ci,
        candidate_ci=None if cand is None else cand.ci,
    )


def compare(
    baseline: Mapping,
    candidate: Mapping,
    options: Options = Options(),
    rules: Sequence[Rule] = RULES,
) -> list[Row]:
    """Compare two loaded pytest-benchmark result documents, matching benchmarks by fullname.

    Raise ProfileMismatch when the files were recorded with different profiles, and
    compress.results.SchemaError when a compared row's typed result cannot be read.
    """
    profile = check_profiles(baseline, candidate)
    gate_time = options.gate_time_anyway or not time_comparability(baseline, candidate)
    old = {b["fullname"]: b for b in baseline["benchmarks"]}
    new = {b["fullname"]: b for b in candidate["benchmarks"]}
    rows: list[Row] = []
    for full in [*old, *(f for f in new if f not in old)]:
        if options.only is not None and options.only not in full:
            continue
        if full in old and full in new:
            rows += _compare_bench(old[full], new[full], options, rules, gate_time, profile)
            continue
        bench = old.get(full) or new[full]
        status = MISSING if full in old else NEW
        rows.append(Row(full, bench.get("name") or full, "(benchmark)", None, None, status))
    strict = {REGRESSION, MISSING} if options.strict else {REGRESSION}
    return [replace(row, regression=row.status in strict) for row in rows]


def load_results(path: str | Path) -> dict:
    """Load a pytest-benchmark JSON file; raise InputError naming the file and the problem."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise InputError(path, 'not a pytest-benchmark result: no "benchmarks" list')
    for i, bench in enumerate(doc["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("fullname"), str):
            raise InputError(path, f'benchmarks[{i}] is not an object with a "fullname" string')
    return doc


_SUFFIX = {"s": " ms", "bytes": " MiB", "x": "x"}


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1e3:#.4g}"
    if unit == "bytes":
        return f"{value / 2**20:,.2f}"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:.4g}"


def _fmt(value: float | None, unit: str, ci: Interval | None = None) -> str:
    """`value` in its display unit, followed by its CI when it has one: 2.41x [2.30, 2.55]."""
    if value is None:
        return ""
    text = _number(value, unit) + _SUFFIX.get(unit, "")
    return text if ci is None else f"{text} [{_number(ci.low, unit)}, {_number(ci.high, unit)}]"


def render(rows: Sequence[Row]) -> str:
    """The rows as a tabulate table."""
    table = [
        (
            r.name,
            r.metric,
            _fmt(r.baseline, r.unit, r.baseline_ci),
            _fmt(r.candidate, r.unit, r.candidate_ci),
            r.change,
            f"{REGRESSION} ({r.status})" if r.regression and r.status != REGRESSION else r.status,
        )
        for r in rows
    ]
    headers = ("benchmark", "metric", "baseline", "candidate", "change", "status")
    align = ("left", "left", "right", "right", "right", "left")
    return tabulate(table, headers, tablefmt="github", colalign=align, disable_numparse=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compress.compare", description=__doc__, epilog=EXIT_STATUS
    )
    parser.add_argument("baseline", help="baseline pytest-benchmark JSON")
    parser.add_argument("candidate", help="candidate pytest-benchmark JSON")
    parser.add_argument(
        "--time-tol", type=float, default=0.15, help="allowed relative slowdown (--gate-latency)"
    )
    parser.add_argument(
        "--gate-latency",
        action="store_true",
        help="also gate absolute latency medians (default: shown only; the paired speedups, "
        "with their CIs, are the gated speed figures)",
    )
    parser.add_argument("--quality-tol", type=float, default=0.01, help="allowed F1/accuracy drop")
    parser.add_argument(
        "--speedup-tol", type=float, default=0.20, help="allowed relative speedup drop"
    )
    parser.add_argument(
        "--no-time",
        action="store_true",
        help="skip time and speedup rows (compare quality and sizes only)",
    )
    parser.add_argument(
        "--gate-time-anyway", action="store_true", help="gate time even if machines differ"
    )
    parser.add_argument("--only", metavar="SUBSTRING", help="only benchmarks whose fullname has it")
    parser.add_argument("--strict", action="store_true", help="anything missing is a regression")
    parser.add_argument("--show-info", action="store_true", help="also list ungated metrics")
    return parser


def _not_comparable(exc: ProfileMismatch, baseline: str, candidate: str) -> str:
    """The one-line explanation main() prints when the files' profiles differ."""
    if exc.candidate is not None:
        fix = f"re-record the baseline with --profile {exc.candidate}"
    else:
        fix = f"re-record the candidate with --profile {exc.baseline}"
    return (
        f"compare: not comparable: profile {_label(exc.baseline)} (baseline {baseline}) vs "
        f"{_label(exc.candidate)} (candidate {candidate}); compare runs of the same profile "
        f"({fix})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: print the comparison; return 0, 1 or 2 as EXIT_STATUS says.

    Files of different profiles, or a typed result that cannot be read: one line on stderr,
    nothing on stdout, 2.
    """
    args = _parser().parse_args(argv)
    try:
        baseline, candidate = load_results(args.baseline), load_results(args.candidate)
        check_results(baseline, args.baseline)
        check_results(candidate, args.candidate)
        profile = check_profiles(baseline, candidate)
    except InputError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2
    except ProfileMismatch as exc:
        print(_not_comparable(exc, args.baseline, args.candidate), file=sys.stderr)
        return 2
    options = Options(
        time_tol=args.time_tol,
        quality_tol=args.quality_tol,
        speedup_tol=args.speedup_tol,
        include_time=not args.no_time,
        gate_time_anyway=args.gate_time_anyway,
        gate_latency=args.gate_latency,
        only=args.only,
        strict=args.strict,
        show_info=args.show_info,
    )
    rows = compare(baseline, candidate, options)
    shown = [r for r in rows if options.show_info or r.status != INFO]
    print(render(shown) if shown else "no benchmarks to compare")
    reasons = time_comparability(baseline, candidate) if options.include_time else []
    if reasons:
        verdict = "gated anyway" if options.gate_time_anyway else "not gated"
        print(f"\ntime and speedups {verdict}, machines differ: " + "; ".join(reasons))
    regressions = sum(r.regression for r in rows)
    compared = sum(r.status in JUDGED or r.regression for r in rows)
    where = f" (profile {profile})" if profile is not None else ""
    print(f"\n{regressions} regressions in {compared} compared metrics{where}")
    inconclusive = sum(r.status == INCONCLUSIVE for r in rows)
    if inconclusive:
        print(
            f"{inconclusive} inconclusive: moved beyond the tolerance, but the candidate's CI "
            "still reaches the allowed band (not a regression; more rounds would decide)"
        )
    return 1 if regressions else 0


if __name__ == "__main__":
    raise SystemExit(main())
