"""compress.verdict.gates: CI-based speed and quality gates, re-measuring of a straddling CI."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from compress.core.stats import Interval, f1_binary
from compress.measure.meters import Speedup, Timing
from compress.verdict import gates
from compress.verdict.results import Metric


def _speedup(ratios: list[float]) -> Speedup:
    base = [r * 0.01 for r in ratios]
    cand = [0.01] * len(ratios)
    median = sorted(ratios)[len(ratios) // 2]
    return Speedup(median, 0, 0, Timing.of(base), Timing.of(cand), tuple(base), tuple(cand))


def _metric(value: float, low: float, high: float, budget: float, direction: str) -> Metric:
    return Metric(value, "x", direction, budget=budget, ci=Interval(low, high, 0.95, 10, "p"))


def test_check_pass_fail_inconclusive() -> None:
    assert gates.check("s", _metric(2.0, 1.9, 2.1, 1.5, "higher")) == "pass"
    with pytest.raises(gates.GateFailed, match=r"required >= 1.5"):
        gates.check("s", _metric(1.2, 1.1, 1.3, 1.5, "higher"))
    with pytest.warns(UserWarning, match="inconclusive: s 1.4"):
        assert gates.check("s", _metric(1.4, 1.2, 1.6, 1.5, "higher")) == "inconclusive"
    with pytest.raises(gates.GateFailed, match=r"required <= 1"):
        gates.check("d", _metric(2.0, 1.5, 2.5, 1.0, "lower"))
    with pytest.raises(ValueError, match="no budget"):
        gates.check("r", Metric(1.0, "x", "report"))


def test_measure_speedup_remeasures_a_straddling_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    straddling = [1.0, 2.0, 1.2, 1.9, 1.1, 2.1]
    clear = [2.0, 2.02, 1.98, 2.01, 1.99, 2.0] * 2

    def fake(baseline, candidate, *, rounds, warmup, threads):
        calls.append(rounds)
        return _speedup(straddling if len(calls) == 1 else clear)

    monkeypatch.setattr(gates, "paired_speedup", fake)
    _, metric = gates.measure_speedup(lambda: None, lambda: None, floor=1.5, rounds=6)
    assert calls == [6, 12] and metric.ci is not None and metric.ci.low >= 1.5


def test_measure_speedup_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake(baseline, candidate, *, rounds, warmup, threads):
        calls.append(rounds)
        return _speedup([1.0, 2.0, 1.2, 1.9, 1.1, 2.1])

    monkeypatch.setattr(gates, "paired_speedup", fake)
    _, metric = gates.measure_speedup(lambda: None, lambda: None, floor=1.5, rounds=6)
    assert calls == [6, 12, 24]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert gates.check("s", metric) == "inconclusive"
    assert seen


def test_quality_drop_metric_in_points() -> None:
    y = [1] * 50 + [0] * 50
    ref = list(y)
    new = [0] * 5 + y[5:]  # five positives missed
    metric = gates.quality_drop_metric(y, ref, new, f1_binary, budget_pts=1.0, n_resamples=200)
    exact = 100 * (1.0 - f1_binary(np.array(y), np.array(new)))
    assert metric.value == pytest.approx(exact) and metric.unit == "pts"
    assert metric.direction == "lower" and metric.budget == 1.0
    assert metric.ci is not None and metric.ci.low <= metric.value <= metric.ci.high
    with pytest.raises(gates.GateFailed):
        gates.check("drop", metric)  # 2.6 pt lost on 100 examples, CI above 1 pt
