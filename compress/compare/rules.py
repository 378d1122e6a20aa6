"""What makes two runs comparable, how one figure's move is judged, and what counts against
a run that is incomplete (compress.compare)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from compress.measure.fingerprint import fingerprint_diff, isa_class, kind_of
from compress.report.compare_table import (
    FAILED,
    IMPROVED,
    INCONCLUSIVE,
    INFO,
    KIND_DIFFERENCE,
    MISSING,
    OK,
    REGRESSION,
    Row,
    kind,
)
from compress.verdict.change import Change, judge_change
from compress.verdict.resultfile import ResultFile
from compress.verdict.results import Metric


class ProfileMismatch(ValueError):
    """The two result files were recorded with different profiles: nothing is comparable."""

    def __init__(self, baseline: str | None, candidate: str | None) -> None:
        self.baseline, self.candidate = baseline, candidate
        super().__init__(f"profile {profile_label(baseline)} vs {profile_label(candidate)}")


def profile_label(profile: object) -> str:
    return repr(profile) if isinstance(profile, str) else "unrecorded"


@dataclass(frozen=True)
class Machines:
    """How comparable the two files' machines are for speed."""

    same: bool  # identical timing-relevant fingerprint: absolute times comparable
    speed_note: str | None  # why speedups are not comparable; None when they are
    differences: tuple[str, ...]  # fingerprint_diff lines
    kinds: tuple[str | None, str | None] = (None, None)  # CPU kinds (baseline, candidate)

    @property
    def same_kind(self) -> bool:
        """One CPU kind (model and flags) on both sides: int8 answers are comparable too."""
        return self.kinds[0] is not None and self.kinds[0] == self.kinds[1]

    @property
    def other_kind(self) -> bool:
        """Two known, different CPU kinds."""
        return None not in self.kinds and self.kinds[0] != self.kinds[1]


def machines(baseline: ResultFile, candidate: ResultFile) -> Machines:
    """Compare the fingerprints: same machine, same CPU kind, or not comparable for speed (and
    why). Speedups are gated within one CPU kind only: two kinds of one ISA class differed
    1.7x in int8 limit (an EPYC with AVX-VNNI and one without)."""
    old, new = baseline.fingerprint, candidate.fingerprint
    if not old or not new:
        which = " and ".join(w for w, fp in (("baseline", old), ("candidate", new)) if not fp)
        return Machines(False, f"no machine fingerprint in {which}", ())
    kinds = (kind_of(old), kind_of(new))
    diff = tuple(fingerprint_diff(old, new))
    a, b = isa_class(old.get("isa")), isa_class(new.get("isa"))
    if a is None or b is None:
        flags = old.get("isa") if a is None else new.get("isa")
        return Machines(not diff, f"unknown ISA class (flags {flags!r})", diff, kinds)
    old_isa, new_isa = set(old.get("isa") or ()), set(new.get("isa") or ())
    flags = [f"+{f}" for f in sorted(new_isa - old_isa)]
    flags += [f"-{f}" for f in sorted(old_isa - new_isa)]
    if a != b:
        note = f"ISA class {a} vs {b} (candidate {' '.join(flags)})"
        return Machines(False, note, diff, kinds)
    if kinds[0] != kinds[1]:
        moved = f" (candidate {' '.join(flags)})" if flags else ""
        return Machines(False, f"CPU kind {kinds[0]} vs {kinds[1]}{moved}", diff, kinds)
    return Machines(not diff, None, diff, kinds)


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


def judge_metric(base: Metric, cand: Metric, change: Change | None = None) -> str:
    """Status of a typed metric as the baseline declares it: by the CI of ``change`` when the
    runs kept evidence (verdict.change), else the old way: the candidate's CI decides doubtful
    moves (its most favourable end must be beyond the tolerance too for a REGRESSION)."""
    if base.direction == "report" or base.tolerance is None:
        return INFO
    if change is not None:
        return judge_change(base.direction, base.tolerance, change)
    args = (base.direction, base.tolerance, base.relative, base.value)
    status = judge(*args, cand.value)
    if status != REGRESSION or cand.ci is None:
        return status
    best = cand.ci.high if base.direction == "higher" else cand.ci.low
    return REGRESSION if judge(*args, best) == REGRESSION else INCONCLUSIVE


@dataclass(frozen=True)
class Options:
    """Knobs for compare(); defaults match the CLI defaults."""

    time_tol: float = 0.15  # allowed relative slowdown of a latency median (--gate-latency)
    include_time: bool = True  # False: no speedup or time rows at all (--no-time)
    gate_latency: bool = False  # also gate absolute latency medians (same machine only)
    gate_speed_anyway: bool = False  # gate speedups even across ISA classes
    only: str | None = None  # keep benchmarks whose fullname contains this substring
    allow_missing: bool = False  # a partial run: missing and skipped cases are not regressions
    show_info: bool = False  # also list ungated metrics


def absent_rows(full: str, name: str, candidate: ResultFile) -> list[Row]:
    """A baseline benchmark the candidate has no row for: failed, skipped or not run."""
    outcome = candidate.outcomes.get(full)
    if outcome is not None and not outcome.startswith("passed"):
        status = FAILED if outcome.startswith(("failed", "error")) else MISSING
        return [Row(full, name, "(benchmark)", None, None, f"{status}: {outcome}")]
    return [Row(full, name, "(benchmark)", None, None, f"{MISSING}: not run")]


def outcome_rows(baseline: ResultFile, candidate: ResultFile, o: Options) -> list[Row]:
    """Tests of the run that failed or were skipped where the baseline's passed, whether or not
    they time anything (a case that errors after timing still saves its row)."""
    rows = []
    for test, outcome in candidate.outcomes.items():
        if o.only is not None and o.only not in test:
            continue
        was = baseline.outcomes.get(test, "passed")
        if outcome.startswith(("failed", "error")):
            rows.append(
                Row(test, test.rsplit("::", 1)[-1], "(outcome)", None, None, f"{FAILED}: {outcome}")
            )
        elif outcome.startswith("skipped") and was.startswith("passed"):
            name = test.rsplit("::", 1)[-1]
            rows.append(Row(test, name, "(outcome)", None, None, f"{MISSING}: {outcome}"))
    return rows


def is_regression(status: str, options: Options) -> bool:
    """REGRESSION and a failed case always; a missing or skipped one unless --allow-missing."""
    if status == REGRESSION or status.startswith(FAILED):
        return True
    return status.startswith(MISSING) and not options.allow_missing


REFERENCE_SUFFIX = "_reference"  # the fp32 side of a case's quality figures (verdict.quality)
ANSWER_UNITS = frozenset({"frac", "pts", "nats"})  # figures of the compressed model's answers


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
        moved = kind(row.status) in (REGRESSION, INCONCLUSIVE)
        if moved and row.unit in ANSWER_UNITS and not row.metric.endswith(REFERENCE_SUFFIX):
            row = replace(row, status=f"{KIND_DIFFERENCE}: {row.status} (fp32 identical)")
        out.append(row)
    return out
