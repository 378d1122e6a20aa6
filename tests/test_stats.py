"""compress.core.stats: intervals, order-statistic, bootstrap CIs (scipy), seed summaries, verdicts.

Synthetic data with known answers: baseline = 2 x candidate (+ noise) for speedups; B = A with
k predictions flipped for paired metric deltas, whose exact delta is worked out by hand.
"""

from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from compress.core.stats import (
    Interval,
    accuracy,
    f1_binary,
    f1_weighted,
    median_ci,
    paired_metric_delta_ci,
    seed_summary,
    speedup_ci,
    verdict,
)


def _times(n: int, seed: int = 1, noise: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """n rounds of a candidate at ~50 ms and a baseline 2x slower, with multiplicative noise."""
    rng = np.random.default_rng(seed)
    cand = 0.05 * rng.uniform(0.9, 1.1, n)
    return 2.0 * cand * rng.normal(1.0, noise, n), cand


# --- Interval ---------------------------------------------------------------------------------


def test_interval_round_trip_contains_and_width() -> None:
    ci = Interval(1.5, 2.5, 0.95, 10, "percentile")
    assert Interval.from_dict(ci.to_dict()) == ci
    assert ci.contains(1.5) and ci.contains(2.0) and ci.contains(2.5)
    assert not ci.contains(1.49) and not ci.contains(2.51)
    assert ci.width == 1.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((2.0, 1.0, 0.95, 5, "t"), "low 2.0 > high 1.0"),
        ((0.0, 1.0, 0.0, 5, "t"), "level"),
        ((0.0, 1.0, 1.0, 5, "t"), "level"),
        ((0.0, 1.0, 0.95, 0, "t"), "n must be"),
        ((0.0, 1.0, 0.95, 2.5, "t"), "n must be"),
        ((math.nan, 1.0, 0.95, 5, "t"), "finite"),
        ((0.0, math.inf, 0.95, 5, "t"), "finite"),
        ((0.0, 1.0, 0.95, 5, ""), "method"),
    ],
)
def test_interval_validation(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Interval(*args)


# --- median_ci --------------------------------------------------------------------------------


def _shuffled(n: int, seed: int = 0) -> np.ndarray:
    """0.0 .. n-1 in a random order: the bounds of the interval name its ranks."""
    return np.random.default_rng(seed).permutation(n).astype(float)


@pytest.mark.parametrize(("n", "coverage"), [(2, 0.5), (3, 0.75), (5, 0.9375)])
def test_median_ci_too_few_values_is_min_max_at_its_true_coverage(n: int, coverage: float) -> None:
    """Below 6 values no order statistics reach 95%: [min, max] covers the median with
    probability 1 - 2 / 2**n (0.75 for 3 rounds), and that is the level it says, not 0.95."""
    ci = median_ci(_shuffled(n))
    assert (ci.low, ci.high) == (0.0, n - 1.0)
    assert ci.level == coverage == 1 - 2 / 2**n
    assert ci.level < 0.95 and (ci.n, ci.method) == (n, "order")


def test_median_ci_n16_by_hand() -> None:
    """n = 16: P(Binomial(16, 1/2) <= 3) = (1 + 16 + 120 + 560) / 2**16 = 697 / 65536, so
    [x(4), x(13)] covers with 1 - 2 * 697/65536 = 0.9787; one rank in (k = 5) it would be
    1 - 2 * (697 + 1820)/65536 = 0.9232 < 0.95."""
    assert stats.binom.cdf(3, 16, 0.5) == pytest.approx(697 / 65536)
    assert stats.binom.cdf(4, 16, 0.5) == pytest.approx(2517 / 65536)
    ci = median_ci(_shuffled(16))
    assert (ci.low, ci.high) == (3.0, 12.0)  # x(4), x(13): 0-based 3 and 12
    assert ci.level == pytest.approx(1 - 2 * 697 / 65536)
    assert (ci.n, ci.method) == (16, "order")


@pytest.mark.parametrize("n", [6, 7, 8, 9, 10, 15, 16, 20, 31, 40, 64, 101])
def test_median_ci_is_the_narrowest_order_interval_at_95(n: int) -> None:
    """From 6 values on: [x(k), x(n+1-k)] with the largest k whose binomial coverage is still
    >= 0.95 (scipy.stats.binom), and the level it reports is that coverage."""
    ci = median_ci(_shuffled(n, seed=n))
    k = int(ci.low) + 1  # ranks are 1-based; value i is rank i + 1
    assert ci.high == n - k  # x(n+1-k), 0-based n - k: symmetric
    coverage = 1 - 2 * stats.binom.cdf(k - 1, n, 0.5)
    assert ci.level == pytest.approx(coverage) and ci.level >= 0.95
    narrower = 1 - 2 * stats.binom.cdf(k, n, 0.5)  # [x(k+1), x(n-k)]
    assert narrower < 0.95 or k + 1 > n // 2


def test_median_ci_other_level() -> None:
    """At 90% the same n = 16 gives one rank narrower: k = 5, coverage 0.9232 >= 0.90."""
    ci = median_ci(_shuffled(16), level=0.90)
    assert (ci.low, ci.high) == (4.0, 11.0)
    assert ci.level == pytest.approx(1 - 2 * 2517 / 65536)


def test_median_ci_covers_the_true_median_in_simulation() -> None:
    """400 seeded samples of 16 lognormal values (skewed, like timing ratios): the interval
    holds the true median exp(mu) in at least 93% of them (nominal 97.9%; observed 98.3%)."""
    mu, rng = 0.3, np.random.default_rng(0)
    hits = [median_ci(rng.lognormal(mu, 1.0, 16)).contains(math.exp(mu)) for _ in range(400)]
    assert np.mean(hits) >= 0.93


def test_median_ci_does_not_depend_on_order() -> None:
    x = np.random.default_rng(3).lognormal(0.0, 0.2, 25)
    assert median_ci(x) == median_ci(x[::-1]) == median_ci(np.sort(x))


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        ([1.0], {}, "at least 2 values"),
        ([], {}, "at least 2 values"),
        ([[1.0, 2.0], [3.0, 4.0]], {}, "1-D"),
        ([1.0, 2.0, 3.0], {"level": 1.0}, "level"),
        ([1.0, 2.0, 3.0], {"level": 0.0}, "level"),
    ],
)
def test_median_ci_rejects_bad_input(values: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        median_ci(values, **kwargs)


# --- speedup_ci -------------------------------------------------------------------------------


def test_speedup_ci_contains_true_ratio_and_is_narrow() -> None:
    base, cand = _times(40)
    point, ci = speedup_ci(base, cand)
    assert point == pytest.approx(2.0, abs=0.02)
    assert ci.contains(2.0) and ci.contains(point)
    assert ci.width < 0.06  # 3 % noise per round, 40 rounds: observed ~0.042
    assert (ci.n, ci.method) == (40, "order") and ci.level >= 0.95


def test_speedup_ci_is_median_ci_of_the_per_round_ratios() -> None:
    """Round i of the baseline is paired with round i of the candidate."""
    base, cand = _times(12)
    assert speedup_ci(base, cand) == (float(np.median(base / cand)), median_ci(base / cand))
    order = np.random.default_rng(5).permutation(12)
    assert speedup_ci(base[order], cand[order]) == speedup_ci(base, cand)  # pairs kept
    assert speedup_ci(base, cand[order]) != speedup_ci(base, cand)  # pairs broken


def test_speedup_ci_narrows_with_more_rounds() -> None:
    _, few = speedup_ci(*_times(10))
    _, many = speedup_ci(*_times(160))
    assert many.contains(2.0)
    assert many.width < 0.6 * few.width  # observed ~0.020 vs ~0.077


def test_speedup_point_is_the_median_ratio() -> None:
    """One disturbed round (candidate 10x slow) moves a mean, not the median: ratios 2,2,2,2,0.2.
    Five rounds are too few for 95%: the interval is [min, max] at its true 93.75%."""
    point, ci = speedup_ci([2.0] * 5, [1.0, 1.0, 1.0, 1.0, 10.0])
    assert point == 2.0
    assert (ci.low, ci.high, ci.level) == (0.2, 2.0, 0.9375)


def test_speedup_ci_all_equal_ratios_gives_zero_width() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        point, ci = speedup_ci([0.2] * 5, [0.1] * 5)
    assert point == 2.0
    assert (ci.low, ci.high, ci.method) == (2.0, 2.0, "order")


@pytest.mark.parametrize(
    ("base", "cand", "kwargs", "match"),
    [
        ([1.0, 1.0, 1.0], [1.0, 1.0], {}, "differ in length"),
        ([1.0, 1.0], [1.0, 1.0], {}, "at least 3 rounds"),
        ([1.0, 0.0, 1.0], [1.0, 1.0, 1.0], {}, "baseline_s must hold finite times > 0"),
        ([1.0, 1.0, 1.0], [1.0, -1.0, 1.0], {}, "candidate_s must hold finite times > 0"),
        ([1.0, math.nan, 1.0], [1.0, 1.0, 1.0], {}, "baseline_s must hold finite"),
        ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], {"level": 1.0}, "level"),
    ],
)
def test_speedup_ci_rejects_bad_input(base: list, cand: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        speedup_ci(base, cand, **kwargs)


# --- metrics and paired_metric_delta_ci --------------------------------------------------------


def test_ready_metrics_by_hand() -> None:
    y, p = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    # class 1: P = 2/3, R = 1 -> F1 = 0.8; class 0: P = 1, R = 1/2 -> F1 = 2/3; support 2 and 2
    assert f1_binary(y, p) == pytest.approx(0.8)
    assert f1_weighted(y, p) == pytest.approx((0.8 + 2 / 3) / 2)
    assert accuracy(y, p) == 0.75
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no UndefinedMetricWarning
        assert f1_binary(np.zeros(4, int), np.zeros(4, int)) == 0.0


def test_paired_f1_delta_exact_point_and_ci() -> None:
    """A is perfect on 100 positives + 100 negatives; B misses k = 5 positives.

    F1(A) = 1; B: TP = 95, FN = 5, FP = 0 -> F1 = 190 / 195; drop = 5 / 195.
    """
    y = np.array([1] * 100 + [0] * 100)
    a = y.copy()
    b = y.copy()
    b[[3, 17, 42, 66, 90]] = 0
    point, ci = paired_metric_delta_ci(y, a, b, f1_binary, n_resamples=300)
    assert point == pytest.approx(5 / 195, abs=1e-12)
    assert ci.contains(point)
    assert ci.low >= 0.0  # B is never better on any example, so no resample can favour it
    assert ci.width < 0.05  # observed ~0.038
    assert (ci.n, ci.method) == (200, "percentile")


def test_paired_accuracy_delta_with_errors_in_both() -> None:
    """A errs on 30 of 300; B = A with k = 6 more (correct) predictions flipped: drop = 6/300."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    a = y.copy()
    a[:30] ^= 1
    b = a.copy()
    b[rng.choice(np.arange(30, 300), 6, replace=False)] ^= 1
    point, ci = paired_metric_delta_ci(y, a, b, accuracy, n_resamples=400)
    assert point == pytest.approx(6 / 300, abs=1e-12)
    assert ci.contains(point) and ci.low >= 0.0
    assert ci.width < 0.04  # observed ~0.027


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_paired_delta_of_identical_predictions_is_zero(method: str) -> None:
    """Only a paired bootstrap gives exactly [0, 0] here: resampling A and B apart would not."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    p = np.where(rng.random(100) < 0.8, y, 1 - y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        point, ci = paired_metric_delta_ci(y, p, p.copy(), accuracy, n_resamples=50, method=method)
    assert point == 0.0
    assert (ci.low, ci.high) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("y", "a", "b", "match"),
    [
        ([0, 1, 1], [0, 1], [0, 1, 1], "lengths differ: y_true 3, pred_a 2, pred_b 3"),
        ([0, 1], [0, 1], [0], "lengths differ"),
        ([1], [1], [1], "at least 2 examples"),
    ],
)
def test_paired_delta_rejects_bad_input(y: list, a: list, b: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        paired_metric_delta_ci(y, a, b, accuracy, n_resamples=10)


# --- seed_summary -----------------------------------------------------------------------------


def test_seed_summary_t_interval_by_hand() -> None:
    mean, std, ci = seed_summary([1.0, 2.0, 3.0])
    assert (mean, std) == (2.0, 1.0)
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * s / sqrt(n)
    assert ci is not None
    assert (ci.low, ci.high) == (pytest.approx(2.0 - half), pytest.approx(2.0 + half))
    assert (ci.n, ci.level, ci.method) == (3, 0.95, "t")
    _, _, ci90 = seed_summary([1.0, 2.0, 3.0], level=0.9)
    assert ci90 is not None and ci90.width < ci.width


def test_seed_summary_single_seed_and_equal_seeds() -> None:
    assert seed_summary([0.7]) == (0.7, 0.0, None)
    mean, std, ci = seed_summary([0.5, 0.5])
    assert (mean, std) == (0.5, 0.0)
    assert ci is not None and (ci.low, ci.high) == (0.5, 0.5)


@pytest.mark.parametrize("values", [[], [1.0, math.nan], [[1.0, 2.0]]])
def test_seed_summary_rejects_bad_input(values: list) -> None:
    with pytest.raises(ValueError):
        seed_summary(values)


# --- verdict ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "threshold", "direction", "expected"),
    [
        (1.2, 1.5, 1.0, "higher", "pass"),
        (1.0, 1.5, 1.0, "higher", "pass"),  # low == threshold: still >= threshold
        (0.5, 0.9, 1.0, "higher", "fail"),
        (0.9, 1.1, 1.0, "higher", "inconclusive"),
        (0.5, 1.0, 1.0, "higher", "inconclusive"),  # high == threshold: not below it
        (0.1, 0.4, 0.5, "lower", "pass"),
        (0.1, 0.5, 0.5, "lower", "pass"),  # high == threshold: still <= threshold
        (0.6, 0.9, 0.5, "lower", "fail"),
        (0.4, 0.6, 0.5, "lower", "inconclusive"),
        (0.5, 0.9, 0.5, "lower", "inconclusive"),  # low == threshold: not above it
    ],
)
def test_verdict_truth_table(
    low: float, high: float, threshold: float, direction: str, expected: str
) -> None:
    assert verdict(Interval(low, high, 0.95, 10, "percentile"), threshold, direction) == expected


@pytest.mark.parametrize(
    ("threshold", "direction"), [(1.0, "report"), (1.0, "up"), (math.nan, "higher")]
)
def test_verdict_rejects_bad_input(threshold: float, direction: str) -> None:
    with pytest.raises(ValueError):
        verdict(Interval(0.0, 1.0, 0.95, 10, "t"), threshold, direction)


# --- global RNG state -------------------------------------------------------------------------


def test_global_rng_state_untouched() -> None:
    np_state, py_state, torch_state = (
        np.random.get_state(),
        random.getstate(),
        torch.get_rng_state(),
    )
    speedup_ci(*_times(10))
    median_ci([1.0, 2.0, 3.0])
    y = np.array([0, 1] * 20)
    paired_metric_delta_ci(y, y, 1 - y, accuracy, n_resamples=20, method="BCa")
    seed_summary([1.0, 2.0])
    after = np.random.get_state()
    assert all(np.array_equal(x, z) for x, z in zip(np_state, after, strict=True))
    assert random.getstate() == py_state
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_metric_ci_brackets_the_score_and_narrows_with_n() -> None:
    from compress.core.stats import metric_ci

    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 1600):
        y = rng.integers(0, 2, n)
        p = np.where(rng.random(n) < 0.8, y, 1 - y)  # 80% right
        value, ci = metric_ci(y, p, accuracy, n_resamples=400)
        assert ci.low <= value <= ci.high and ci.n == n
        widths.append(ci.width)
    assert widths[1] < widths[0] / 2  # ~1/sqrt(n)
    with pytest.raises(ValueError, match="equal length"):
        metric_ci([0, 1, 1], [0, 1], accuracy)
