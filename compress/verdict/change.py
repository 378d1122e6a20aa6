"""How much a figure changed between two runs, with a CI of the change itself, and the
status that change earns (``judge_metric``: the one judgement compress.compare makes).

compress.compare judges a change by the evidence of *both* runs, not by one run's interval
against a wide band:
- a speedup by its per-round paired ratios (``Metric.samples``): the relative change of the
  median ratio, with a two-sample bootstrap CI (each run's rounds resampled on their own);
- a quality figure by its per-example predictions (``CaseResult.predictions``): the change of
  the score *on the same examples*, with a paired bootstrap CI (one draw of example indices
  applied to both runs' predictions), so a run that newly gets a dozen of the same pairs
  wrong is seen as the regression it is.

A change is a regression when its CI lies wholly on the bad side of zero and its point is
beyond the metric's declared smallest change that matters (its tolerance); beyond the
tolerance with a CI that still reaches zero it is inconclusive (``judge_change``). Without
the evidence of both runs the move is judged the old way (``judge_metric``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compress.core.scores import mcc, pearson, spearman
from compress.core.stats import (
    Interval,
    accuracy,
    bootstrap_ci,
    f1_binary,
    f1_macro,
    f1_weighted,
    scorer,
)
from compress.verdict.results import CaseResult, Metric, decode_labels
from compress.verdict.status import Status

SCORES: dict[str, Callable[..., Any]] = {
    "f1_binary": f1_binary,
    "accuracy": accuracy,
    "f1_weighted": f1_weighted,
    "f1_macro": f1_macro,
    "mcc": mcc,
    "pearson": pearson,  # a regression head's outputs (num_labels = 1) against gold scores
    "spearman": spearman,
}
REGRESSION = frozenset({"pearson", "spearman"})  # the SCORES of a regression head
RESAMPLES = 2000
SEED = 0


class NotComparable(ValueError):
    """The two runs' evidence cannot be paired (for example different evaluation data)."""


@dataclass(frozen=True)
class Change:
    """candidate - baseline (relative for speedups: candidate / baseline - 1) and its CI."""

    point: float
    ci: Interval
    relative: bool


def speed_change(base: Metric, cand: Metric, *, level: float = 0.95) -> Change:
    """Relative change of the median per-round ratio, two-sample bootstrap CI."""
    a, b = np.asarray(base.samples, float), np.asarray(cand.samples, float)

    def rel(x: np.ndarray, y: np.ndarray, axis: int = -1) -> Any:
        return np.median(y, axis=axis) / np.median(x, axis=axis) - 1.0

    ci = bootstrap_ci(
        (a, b),
        rel,
        paired=False,
        vectorized=True,
        level=level,
        n_resamples=RESAMPLES,
        seed=SEED,
        method="percentile",
    )
    return Change(float(rel(a, b)), ci, True)


def _arrays(result: CaseResult, key: str) -> dict[str, np.ndarray]:
    return {k: np.asarray(decode_labels(v)) for k, v in result.predictions[key].items()}


def _figure(arm: str, score: Callable[..., Any], y, ref, comp, axis: int = -1) -> Any:
    if arm == "reference":
        return score(y, ref, axis=axis)
    if arm == "compressed":
        return score(y, comp, axis=axis)
    return score(y, ref, axis=axis) - score(y, comp, axis=axis)


def quality_change(
    base_case: CaseResult, base: Metric, cand_case: CaseResult, cand: Metric, *, level=0.95
) -> Change:
    """Change of a quality figure between two runs, paired by example (same labels needed).

    Raise NotComparable when the evaluation data differ (length or labels) or the two runs
    scored the figure differently."""
    ref_a, ref_b = base.by_example, cand.by_example
    assert ref_a is not None and ref_b is not None
    if (ref_a["score"], ref_a["arm"]) != (ref_b["score"], ref_b["arm"]):
        raise NotComparable(f"scored differently ({ref_a} vs {ref_b})")
    a, b = _arrays(base_case, ref_a["set"]), _arrays(cand_case, ref_b["set"])
    if len(a["labels"]) != len(b["labels"]):
        raise NotComparable(
            f"evaluation data differ ({len(a['labels'])} vs {len(b['labels'])} examples)"
        )
    if not np.array_equal(a["labels"], b["labels"]):
        raise NotComparable("evaluation data differ (same size, other labels)")
    if ref_a["score"] not in SCORES:
        raise NotComparable(f"unknown score {ref_a['score']!r}")
    scale = 100.0 if base.unit == "pts" else 1.0
    score, vectorized = scorer(SCORES[ref_a["score"]])
    arm = ref_a["arm"]

    def delta(y, r0, c0, r1, c1, axis: int = -1) -> Any:
        new = _figure(arm, score, y, r1, c1, axis)
        return scale * (new - _figure(arm, score, y, r0, c0, axis))

    data = (a["labels"], a["reference"], a["compressed"], b["reference"], b["compressed"])
    point = float(delta(*data))
    if all(np.array_equal(a[k], b[k]) for k in ("reference", "compressed")):
        return Change(point, Interval(point, point, level, len(data[0]), "identical"), False)
    ci = bootstrap_ci(
        data,
        delta,
        paired=True,
        vectorized=vectorized,
        level=level,
        n_resamples=RESAMPLES if vectorized else RESAMPLES // 4,
        seed=SEED,
        method="percentile",
    )
    return Change(point, ci, False)


def change_of(
    base_case: CaseResult, base: Metric, cand_case: CaseResult, cand: Metric
) -> Change | None:
    """The evidence-based change of one metric, or None when either run lacks the evidence
    (a version-1 result, or a figure with none kept): compare then judges it the old way."""
    if base.samples is not None and cand.samples is not None:
        return speed_change(base, cand)
    if base.by_example is not None and cand.by_example is not None:
        return quality_change(base_case, base, cand_case, cand)
    return None


def judge_metric(base: Metric, cand: Metric, change: Change | None = None) -> Status:
    """Status of a typed metric as the baseline declares it: by the CI of ``change`` when the
    runs kept evidence (``change_of``), else the old way: the candidate's CI decides doubtful
    moves (its most favourable end must be beyond the tolerance too for a REGRESSION). A
    tolerance the candidate's code declares wider than the baseline's applies at once (a
    figure found noisier between runs than declared stops crying wolf before the baselines
    are re-recorded); a narrower one waits for the re-record."""
    if base.direction == "report" or base.tolerance is None:
        return Status.INFO
    tolerance = base.tolerance
    if cand.tolerance is not None and cand.direction == base.direction:
        tolerance = max(tolerance, cand.tolerance)
    if change is not None:
        return judge_change(base.direction, tolerance, change)
    args = (base.direction, tolerance, base.relative, base.value)
    status = judge_values(*args, cand.value)
    if status is not Status.REGRESSION or cand.ci is None:
        return status
    best = cand.ci.high if base.direction == "higher" else cand.ci.low
    worst = judge_values(*args, best)  # the candidate's most favourable end
    return Status.REGRESSION if worst is Status.REGRESSION else Status.INCONCLUSIVE


def judge_values(
    direction: str, tolerance: float, relative: bool, old: float, new: float
) -> Status:
    """ok / improved / REGRESSION for one value pair, ``tolerance`` in the worse direction."""
    if not math.isfinite(new):
        return Status.REGRESSION
    margin = tolerance * abs(old) if relative else tolerance
    gain = (new - old) if direction == "higher" else (old - new)  # > 0 means better
    if math.isclose(abs(gain), margin, rel_tol=1e-9, abs_tol=1e-12):
        return Status.OK
    if gain < -margin:
        return Status.REGRESSION
    return Status.IMPROVED if gain > margin else Status.OK


def judge_change(direction: str, tolerance: float, change: Change) -> Status:
    """REGRESSION / inconclusive / improved / ok for a change (see the module docstring).

    ``tolerance`` is in the change's units: a fraction for relative changes, else the
    metric's own unit."""
    sign = 1.0 if direction == "higher" else -1.0
    gain = sign * change.point
    lo, hi = sorted((sign * change.ci.low, sign * change.ci.high))
    beyond = gain < -tolerance - 1e-12  # exactly at the tolerance is still within it
    if beyond:
        return Status.REGRESSION if hi < 0 else Status.INCONCLUSIVE
    if gain > tolerance and lo > 0:
        return Status.IMPROVED
    return Status.OK


def resolves(change: Change, tolerance: float) -> bool:
    """Whether the change CI is narrow enough to tell a change of ``tolerance`` from none."""
    return change.ci.width <= 2 * tolerance
