"""Confidence intervals and gate verdicts for benchmark figures, computed with scipy.

Every interval comes from a maintained implementation (``scipy.stats.bootstrap``,
``scipy.stats.t``, ``scipy.stats.binom`` for the order-statistic CI of a median speedup);
nothing here hand-writes a resampler. Randomness comes from a local
``numpy.random.Generator`` seeded by the caller: the global numpy (and torch) RNG state is
never read or changed.

A median speedup's CI comes from order statistics (``median_ci``): exact coverage for any
continuous distribution, and an honest level where there are too few rounds for 95%. The
bootstrap default is the percentile method. The statistic bootstrapped here is a difference of
classification metrics over a finite set of examples: it has a discrete, tie-heavy bootstrap
distribution, on which BCa's bias correction is unstable and its
jackknife acceleration is unreliable (the jackknife is inconsistent for the median), and BCa
needs n extra metric evaluations per arm. ``method="BCa"`` is available; when its interval
cannot be computed (degenerate data, e.g. all ratios equal) the same bootstrap distribution is
reused for a percentile interval instead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score

from compress.core.scores import pearson

METHODS = ("percentile", "BCa")
DIRECTIONS = ("higher", "lower")
PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval: [low, high] at `level`, from `n` observations."""

    low: float
    high: float
    level: float  # confidence level, e.g. 0.95
    n: int  # observations behind it: rounds, evaluation examples or seeds
    method: str  # "percentile" | "BCa" | "t"

    def __post_init__(self) -> None:
        for name in ("low", "high", "level"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"interval bounds must be finite, got [{self.low}, {self.high}]")
        if self.low > self.high:
            raise ValueError(f"interval low {self.low} > high {self.high}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"confidence level must be in (0, 1), got {self.level}")
        if isinstance(self.n, bool) or int(self.n) != self.n or self.n < 1:
            raise ValueError(f"interval n must be an integer >= 1, got {self.n!r}")
        object.__setattr__(self, "n", int(self.n))
        if not isinstance(self.method, str) or not self.method:
            raise ValueError(f"interval method must be a non-empty string, got {self.method!r}")

    @property
    def width(self) -> float:
        """high - low."""
        return self.high - self.low

    def contains(self, x: float) -> bool:
        """True when low <= x <= high."""
        return self.low <= x <= self.high

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; Interval.from_dict inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interval:
        """Inverse of to_dict."""
        return cls(low=d["low"], high=d["high"], level=d["level"], n=d["n"], method=d["method"])


def _check_level(level: float, n_resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")


def bootstrap_ci(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., Any],
    *,
    paired: bool,
    vectorized: bool,
    level: float,
    n_resamples: int,
    seed: int,
    method: str,
) -> Interval:
    """scipy.stats.bootstrap with a local Generator; a degenerate BCa falls back to percentile."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    kwargs = dict(paired=paired, vectorized=vectorized, confidence_level=level)
    with warnings.catch_warnings():
        # BCa on degenerate data warns and returns NaN; that case is handled just below.
        warnings.filterwarnings("ignore", category=stats.DegenerateDataWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        res = stats.bootstrap(
            data,
            statistic,
            n_resamples=n_resamples,
            method=method,
            rng=np.random.default_rng(seed),
            **kwargs,
        )
    low, high = res.confidence_interval
    if method == "BCa" and not (np.isfinite(low) and np.isfinite(high)):
        method = "percentile"  # reuse the same resamples: no second draw
        res = stats.bootstrap(
            data,
            statistic,
            n_resamples=0,
            method=method,
            bootstrap_result=res,
            rng=np.random.default_rng(seed),
            **kwargs,
        )
        low, high = res.confidence_interval
    return Interval(float(low), float(high), level, len(data[0]), method)


def median_ci(values: Sequence[float], *, level: float = 0.95) -> Interval:
    """Distribution-free CI of a median from order statistics (binomial, via scipy).

    [x(k), x(n+1-k)] covers the median with probability 1 - 2 P(Binomial(n, 1/2) <= k - 1);
    k is the largest rank that keeps that at or above ``level``. With too few values for
    ``level`` (fewer than 6 at 95%) the interval is [min, max] and its ``level`` is the
    coverage it really has (0.75 for 3 rounds), never the one asked for.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if x.ndim != 1 or n < 2:
        raise ValueError(f"median_ci needs a 1-D sequence of at least 2 values, got {n}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"median_ci values must be finite, got {x.tolist()}")
    _check_level(level, 1)
    k = 1
    while k < n // 2 and 2 * stats.binom.cdf(k, n, 0.5) <= 1 - level:
        k += 1
    coverage = float(1 - 2 * stats.binom.cdf(k - 1, n, 0.5))
    return Interval(float(x[k - 1]), float(x[n - k]), min(coverage, 0.9999), n, "order")


def speedup_ci(
    baseline_s: Sequence[float], candidate_s: Sequence[float], *, level: float = 0.95
) -> tuple[float, Interval]:
    """Median of the per-round ratios baseline/candidate, and its order-statistic CI
    (``median_ci``).

    Round i of the baseline is paired with round i of the candidate (same length, >= 3 rounds,
    every time finite and > 0).
    """
    base = np.asarray(baseline_s, dtype=float)
    cand = np.asarray(candidate_s, dtype=float)
    if base.ndim != 1 or cand.ndim != 1:
        raise ValueError("baseline_s and candidate_s must be 1-D sequences of seconds")
    if len(base) != len(cand):
        raise ValueError(
            f"baseline_s and candidate_s differ in length ({len(base)} vs {len(cand)} rounds); "
            "ratios are paired per round"
        )
    if len(base) < 3:
        raise ValueError(f"speedup_ci needs at least 3 rounds, got {len(base)}")
    for name, times in (("baseline_s", base), ("candidate_s", cand)):
        if not np.all(np.isfinite(times)) or np.any(times <= 0):
            raise ValueError(f"{name} must hold finite times > 0, got {times.tolist()}")
    ratios = base / cand
    return float(np.median(ratios)), median_ci(ratios, level=level)


def f1_binary(y: np.ndarray, p: np.ndarray, axis: int = -1) -> Any:
    """F1 of the positive class 1 (0.0 where undefined: no positives true or predicted).

    Vectorized along ``axis`` (one F1 per resample when given stacked resamples), with the
    same result as scikit-learn's ``f1_score(..., zero_division=0.0)``."""
    y, p = np.asarray(y) == 1, np.asarray(p) == 1
    tp = np.sum(y & p, axis=axis)
    wrong = np.sum(y != p, axis=axis)  # false positives + false negatives
    denominator = 2 * tp + wrong
    f1 = np.divide(2 * tp, denominator, out=np.zeros(np.shape(tp)), where=denominator > 0)
    return float(f1) if np.ndim(f1) == 0 else f1


def f1_weighted(y: np.ndarray, p: np.ndarray) -> float:
    """Support-weighted mean of the per-class F1 (0.0 for a class where undefined)."""
    return float(f1_score(y, p, average="weighted", zero_division=0.0))


def f1_macro(y: np.ndarray, p: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 over the classes in ``y`` or ``p``."""
    return float(f1_score(y, p, average="macro", zero_division=0.0))


def accuracy(y: np.ndarray, p: np.ndarray, axis: int = -1) -> Any:
    """Fraction of predictions equal to the label (vectorized along ``axis``)."""
    acc = np.mean(np.asarray(y) == np.asarray(p), axis=axis)
    return float(acc) if np.ndim(acc) == 0 else acc


VECTORIZED = (f1_binary, accuracy, pearson)  # metrics that score stacked resamples in one call


def scorer(metric: Callable[..., Any]) -> tuple[Callable[..., Any], bool]:
    """(score(y, p, axis=-1), vectorized): the metric in the form scipy's bootstrap calls."""
    if metric in VECTORIZED:
        return metric, True
    return (lambda y, p, axis=-1: float(metric(y, p))), False


def paired_metric_delta_ci(
    y_true: Sequence[Any],
    pred_a: Sequence[Any],
    pred_b: Sequence[Any],
    metric: Callable[[np.ndarray, np.ndarray], float],
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    method: str = "percentile",
) -> tuple[float, Interval]:
    """metric(y, a) - metric(y, b), and a paired bootstrap CI over the evaluation examples.

    Each resample draws example indices once and applies them to y_true, pred_a and pred_b
    together (scipy's ``paired=True``), so the CI reflects the two models on the same examples.
    With a = fp32 and b = int8 predictions, the point is the quality drop.
    """
    y, a, b = (np.asarray(x) for x in (y_true, pred_a, pred_b))
    if y.ndim != 1 or a.ndim != 1 or b.ndim != 1:
        raise ValueError("y_true, pred_a and pred_b must be 1-D")
    if not len(y) == len(a) == len(b):
        raise ValueError(
            f"lengths differ: y_true {len(y)}, pred_a {len(a)}, pred_b {len(b)}; "
            "predictions must be paired with the labels example by example"
        )
    if len(y) < 2:
        raise ValueError(f"paired_metric_delta_ci needs at least 2 examples, got {len(y)}")
    _check_level(level, n_resamples)

    score, vectorized = scorer(metric)

    def delta(yy: np.ndarray, aa: np.ndarray, bb: np.ndarray, axis: int = -1) -> Any:
        return score(yy, aa, axis=axis) - score(yy, bb, axis=axis)

    ci = bootstrap_ci(
        (y, a, b),
        delta,
        paired=True,
        vectorized=vectorized,
        level=level,
        n_resamples=n_resamples,
        seed=seed,
        method=method,
    )
    return float(delta(y, a, b)), ci


def metric_ci(
    y_true: Sequence[Any],
    pred: Sequence[Any],
    metric: Callable[[np.ndarray, np.ndarray], float],
    *,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, Interval]:
    """metric(y, pred) and a percentile bootstrap CI over the evaluation examples: how much
    the score could differ on another sample of the same size from the same distribution."""
    y, p = np.asarray(y_true), np.asarray(pred)
    if y.ndim != 1 or p.shape != y.shape or len(y) < 2:
        raise ValueError(
            f"y_true and pred must be 1-D, equal length >= 2; got {y.shape}, {p.shape}"
        )
    _check_level(level, n_resamples)

    score, vectorized = scorer(metric)
    ci = bootstrap_ci(
        (y, p),
        score,
        paired=True,
        vectorized=vectorized,
        level=level,
        n_resamples=n_resamples,
        seed=seed,
        method="percentile",
    )
    return float(score(y, p)), ci


def seed_summary(
    values: Sequence[float], *, level: float = 0.95
) -> tuple[float, float, Interval | None]:
    """Mean, sample std (ddof=1; 0.0 for one seed) and a Student-t CI of the mean over seeds.

    The interval is None for a single seed: one value says nothing about the spread.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("seed_summary needs a non-empty 1-D sequence of values")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"seed_summary values must be finite, got {x.tolist()}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = len(x)
    mean = float(np.mean(x))
    if n == 1:
        return mean, 0.0, None
    std = float(np.std(x, ddof=1))
    half = float(stats.t.ppf((1.0 + level) / 2.0, df=n - 1)) * std / math.sqrt(n)
    return mean, std, Interval(mean - half, mean + half, level, n, "t")


def verdict(ci: Interval, threshold: float, direction: str) -> str:
    """Gate a figure by its CI: "pass", "fail" or "inconclusive" (the CI straddles threshold).

    direction "higher": the value must be >= threshold; "lower": it must be <= threshold.
    """
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if direction == "higher":
        if ci.low >= threshold:
            return PASS
        return FAIL if ci.high < threshold else INCONCLUSIVE
    if direction == "lower":
        if ci.high <= threshold:
            return PASS
        return FAIL if ci.low > threshold else INCONCLUSIVE
    raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
