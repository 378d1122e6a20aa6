"""Series of one metric across runs and machines, and their change points.

``series`` groups the history's metrics (compress.history.db) into series, one per (benchmark,
metric, profile, int8 ISA class), ordered by run time; ``changes`` finds change points in each
with ruptures' PELT on its rank cost (a nonparametric two-sample statistic on the ranks of the
values, so the unit and scale of the metric do not matter and outliers weigh little): segments
of at least MIN_SEGMENT runs, a penalty of PENALTY x log(runs). A persistent shift becomes a
change point; one noisy night does not (it cannot fill a segment). A change is a regression
when the segment mean moved in the metric's worse direction by more than half the metric's
tolerance: that tolerance is sized for the noise of one run against another, and a mean over
at least three runs is at least sqrt(3) times less noisy.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from compress.history.db import metrics, runs
from compress.verdict.status import Status

DEFAULT_DB = Path("results/history.sqlite")
MIN_SEGMENT = 3  # runs: a shift must persist this long to be a change
# x log(n): the smallest penalty that kept drop-free synthetic nightly series free of change
# points while finding a 15% drop under +-10% noise (tests/test_history.py, docs/findings.md)
PENALTY = 4.0
HISTORY_TOLERANCE = 0.5  # x the metric's two-run tolerance (see the module docstring)


@dataclass(frozen=True)
class Point:
    """One run's value of a series."""

    datetime: str
    commit: str | None
    value: float
    path: str | None = None  # the result file, as ingested (the history page links it)


@dataclass(frozen=True)
class Series:
    """One (benchmark, metric, profile, ISA class) over time, with how the metric is judged."""

    benchmark: str
    metric: str
    profile: str | None
    isa_class: str
    unit: str
    direction: str
    tolerance: float | None
    relative: bool
    points: tuple[Point, ...]


def series(engine: sa.Engine, metric: str | None = None) -> list[Series]:
    """Every series in the database (optionally of one metric), points in run-time order."""
    m, r = metrics.c, runs.c
    query = (
        sa.select(m.benchmark, m.metric, r.profile, r.isa_class, m.unit, m.direction,
                  m.tolerance, m.relative, r.datetime, r.commit_id, m.value, r.path)
        .join_from(metrics, runs, m.sha256 == r.sha256)
        .order_by(m.benchmark, m.metric, r.profile, r.isa_class, r.datetime, r.sha256)
    )  # fmt: skip
    if metric:
        query = query.where(m.metric == metric)
    grouped: dict[tuple, list] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            grouped.setdefault(tuple(row[:4]), []).append(tuple(row))
    out = []
    for key, rows in grouped.items():
        unit, direction, tol, rel = rows[-1][4:8]  # the latest run's declaration
        points = tuple(Point(*r[8:12]) for r in rows)
        out.append(Series(*key, unit, direction, tol, bool(rel), points))
    return out


def change_points(values: Sequence[float]) -> list[int]:
    """Indices where a new segment starts (PELT on the rank cost; see the module docstring)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2 * MIN_SEGMENT or np.ptp(x) == 0:
        return []
    import ruptures

    algo = ruptures.Pelt(model="rank", min_size=MIN_SEGMENT, jump=1).fit(x.reshape(-1, 1))
    ends = algo.predict(pen=PENALTY * np.log(len(x)))
    return [int(i) for i in ends[:-1]]  # the last "end" is len(x)


@dataclass(frozen=True)
class Change:
    """A change point of a series: the segment means on either side of it."""

    series: Series
    index: int
    before: float
    after: float

    def _moved(self) -> int:
        """1: worse by more than half the metric's tolerance; -1: better by as much; else 0."""
        s = self.series
        if s.direction not in ("higher", "lower") or s.tolerance is None:
            return 0
        margin = HISTORY_TOLERANCE * (s.tolerance * abs(self.before) if s.relative else s.tolerance)
        worse = self.before - self.after if s.direction == "higher" else self.after - self.before
        return 1 if worse > margin else -1 if -worse > margin else 0

    @property
    def regression(self) -> bool:
        """Moved in the worse direction by more than half the metric's tolerance."""
        return self._moved() == 1

    @property
    def improvement(self) -> bool:
        """Moved in the better direction by more than half the metric's tolerance."""
        return self._moved() == -1


def changes(all_series: Iterable[Series]) -> list[Change]:
    """Every change point of every series, with the means of the segments around it."""
    found = []
    for s in all_series:
        values = [p.value for p in s.points]
        cuts = change_points(values)
        bounds = [0, *cuts, len(values)]
        for k, cut in enumerate(cuts):
            before = statistics.mean(values[bounds[k] : cut])
            after = statistics.mean(values[cut : bounds[k + 2]])
            found.append(Change(s, cut, before, after))
    return found


def _row(c: Change) -> tuple[str, ...]:
    s, point = c.series, c.series.points[c.index]
    moved = f"{100 * (c.after - c.before) / abs(c.before):+.1f}%" if c.before else ""
    name = s.benchmark.rsplit("::", 1)[-1]
    verdict = Status.REGRESSION.value if c.regression else "change"
    when = (point.datetime or "")[:10]
    commit = (point.commit or "")[:10]
    return (
        name,
        s.metric,
        s.isa_class,
        when,
        commit,
        f"{c.before:.4g}",
        f"{c.after:.4g}",
        moved,
        verdict,
    )


def render(found: Sequence[Change]) -> str:
    """A table of the change points (regressions first)."""
    from tabulate import tabulate

    rows = [_row(c) for c in sorted(found, key=lambda c: not c.regression)]
    headers = ("benchmark", "metric", "isa", "from run", "commit", "before", "after", "change", "")
    return tabulate(rows, headers, tablefmt="github", disable_numparse=True)
