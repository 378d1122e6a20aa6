"""Rows of a comparison and how they are printed (used by compress.compare)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tabulate import tabulate

from compress.core.stats import Interval
from compress.verdict.depends import NOTHING, DependsOn
from compress.verdict.results import Metric
from compress.verdict.status import Status, Verdict


@dataclass(frozen=True)
class Row:
    """One compared metric of one benchmark."""

    benchmark: str  # fullname, the matching key
    name: str  # short name for display
    metric: str  # a figure's name, or a compress.verdict.status.Pseudo for the whole case
    baseline: float | None
    candidate: float | None
    verdict: Verdict
    unit: str = ""  # display only
    regression: bool = False
    baseline_ci: Interval | None = None
    candidate_ci: Interval | None = None
    change_ci: Interval | None = None  # CI of the change itself (verdict.change), if judged so
    relative_change: bool = False  # change_ci is a fraction of the baseline (speedups)
    unresolved: bool = False  # change_ci is too wide to resolve the declared change
    depends_on: DependsOn = NOTHING  # the figure's declaration (compress.verdict.depends)

    @classmethod
    def of(
        cls, full: str, name: str, key: str, base: Metric | None, cand: Metric | None, v: Verdict
    ) -> Row:
        """A row for a typed metric present on one side or both, with its CIs; it depends on
        what the baseline declares (the candidate's for a new figure)."""
        shown, declared = (cand or base), (base or cand)  # a Metric is never falsy
        return cls(
            full,
            name,
            key,
            None if base is None else base.value,
            None if cand is None else cand.value,
            v,
            "" if shown is None else shown.unit,
            baseline_ci=None if base is None else base.ci,
            candidate_ci=None if cand is None else cand.ci,
            depends_on=(declared and declared.depends_on) or NOTHING,
        )

    @property
    def status(self) -> Status:
        """The verdict's status."""
        return self.verdict.status

    @property
    def change(self) -> str:
        """Relative % for times/sizes/speedups, absolute difference for fractions/points."""
        if self.baseline is None or self.candidate is None:
            return ""
        if self.change_ci is not None:
            return self._change_with_ci()
        delta = self.candidate - self.baseline
        if self.unit in ("frac", "ratio"):
            return f"{delta:+.3f}"
        if self.unit in ("pts", "nats", "dB", "flag"):
            return f"{delta:+.2f}"
        if self.baseline == 0:
            return "n/a"
        return f"{100 * delta / abs(self.baseline):+.1f}%"

    def _change_with_ci(self) -> str:
        ci = self.change_ci
        assert ci is not None and self.baseline is not None and self.candidate is not None
        if self.relative_change:
            point = self.candidate / self.baseline - 1 if self.baseline else 0.0
            return f"{100 * point:+.1f}% [{100 * ci.low:+.1f}, {100 * ci.high:+.1f}]"
        digits = 3 if self.unit == "frac" else 2
        point = self.candidate - self.baseline
        return f"{point:+.{digits}f} [{ci.low:+.{digits}f}, {ci.high:+.{digits}f}]"


_SUFFIX = {"s": " ms", "bytes": " MiB", "x": "x"}


def _number(value: float, unit: str) -> str:
    if unit == "flag":
        return "yes" if value else "no"
    if unit == "s":
        return f"{value * 1e3:#.4g}"
    if unit == "bytes":
        return f"{value / 2**20:,.2f}"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:.4g}"


def fmt(value: float | None, unit: str, ci: Interval | None = None) -> str:
    """`value` in its display unit, then its CI when it has one: 2.41x [2.30, 2.55]."""
    if value is None:
        return ""
    text = _number(value, unit) + _SUFFIX.get(unit, "")
    return text if ci is None else f"{text} [{_number(ci.low, unit)}, {_number(ci.high, unit)}]"


def render(rows: Sequence[Row]) -> str:
    """The rows as a GitHub-flavoured table."""
    table = [
        (
            r.name,
            r.metric,
            fmt(r.baseline, r.unit, r.baseline_ci),
            fmt(r.candidate, r.unit, r.candidate_ci),
            r.change,
            f"{Status.REGRESSION} ({r.verdict})"
            if r.regression and r.status is not Status.REGRESSION
            else str(r.verdict),
        )
        for r in rows
    ]
    headers = ("benchmark", "metric", "baseline", "candidate", "change", "status")
    align = ("left", "left", "right", "right", "right", "left")
    return tabulate(table, headers, tablefmt="github", colalign=align, disable_numparse=True)
