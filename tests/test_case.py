"""compress.verdict.case: one way to measure, record and gate a case."""

from __future__ import annotations

import statistics
import warnings

import pytest
import torch

from compress.core.stats import Interval, accuracy
from compress.measure.meters import Speedup, Timing
from compress.verdict.case import Case
from compress.verdict.gates import GateFailed
from compress.verdict.results import EXTRA_INFO_KEY, read
from compress.verdict.runner import Scored, run_compression


def _case() -> Case:
    return Case("t[x]", "quick", {"isa": ["avx2"]}, {"m": 1}, {"about": "tiny"}, {"split": "dev"})


def _fake_speed(ratio: float):
    """paired_speedup stand-in: every round's candidate is `ratio` times faster."""

    def fake(baseline, candidate, *, rounds: int, warmup: int, threads: int) -> Speedup:
        base = [1.0 + 0.01 * i for i in range(rounds)]
        cand = [b / ratio for b in base]
        t_base, t_cand = Timing.of(base), Timing.of(cand)
        return Speedup(ratio, ratio, ratio, t_base, t_cand, tuple(base), tuple(cand))

    return fake


def _fake_rounds(ratios: tuple[float, ...]):
    """paired_speedup stand-in whose round i has ratio ``ratios[i]`` (rounds must match)."""

    def fake(baseline, candidate, *, rounds: int, warmup: int, threads: int) -> Speedup:
        assert rounds == len(ratios)
        base = [1.0 + 0.01 * i for i in range(rounds)]
        cand = [b / r for b, r in zip(base, ratios, strict=True)]
        q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
        return Speedup(median, q1, q3, Timing.of(base), Timing.of(cand), tuple(base), tuple(cand))

    return fake


class _Bench:
    def __init__(self) -> None:
        self.extra_info: dict = {}
        self.calls = 0

    def pedantic(self, fn, rounds: int, warmup_rounds: int) -> None:
        self.calls += 1
        fn()


def test_finish_records_then_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    ratios = (1.9, 2.3, 2.0, 2.2, 1.7, 2.1, 2.4, 1.8)  # round by round; median 2.05
    monkeypatch.setattr("compress.verdict.gates.paired_speedup", _fake_rounds(ratios))
    c = _case()
    c.speedup(lambda: None, lambda: None, floor=None, rounds=8)
    c.sizes(400, 100, max_ratio=0.3)
    c.report("eval_s", 1.5, "s")
    extra: dict = {}
    assert c.finish(extra) == {"size_ratio": "pass"}
    result = read(extra)
    assert result is not None and result.case == "t[x]" and result.profile == "quick"
    speedup = result.metrics["speedup"]
    assert speedup.budget is None  # floor None: recorded, not asserted
    assert speedup.value == pytest.approx(2.05)  # median of the per-round ratios
    assert speedup.samples == ratios  # each round's own ratio, in round order
    # 8 rounds: no narrower order interval reaches 95%, so [min, max] at 1 - 2/2**8
    assert speedup.ci == Interval(1.7, 2.4, 1 - 2 / 2**8, 8, "order")
    assert (speedup.unit, speedup.direction, speedup.relative) == ("x", "higher", True)
    assert result.metrics["speedup_baseline_s"].value == pytest.approx(1.035)  # median round
    assert result.metrics["size_ratio"].value == 0.25
    assert result.metrics["eval_s"].direction == "report"


def test_every_failure_is_named_after_recording() -> None:
    c = _case()
    c.metric("a", 5.0, "pts", "lower", 1.0, budget=1.0)
    c.metric("b", 0.5, "frac", "higher", 0.01, budget=0.9)
    c.metric("c", 0.95, "frac", "higher", 0.01, budget=0.9)
    extra: dict = {}
    with pytest.raises(GateFailed, match=r"t\[x\]: a 5 pts.*; t\[x\]: b 0.5 frac"):
        c.finish(extra)
    assert EXTRA_INFO_KEY in extra  # the figures of a failing case are still recorded


def test_a_metric_is_recorded_once() -> None:
    c = _case()
    c.report("x", 1.0, "s")
    with pytest.raises(ValueError, match="'x' recorded twice"):
        c.report("x", 2.0, "s")


def test_quality_drop_records_both_scores_and_the_paired_ci() -> None:
    c = _case()
    y = [0, 1] * 50
    ref = list(y)
    comp = [1 - v if i < 10 else v for i, v in enumerate(y)]  # 10 of 100 flipped
    m = c.quality_drop("accuracy_drop_pts", y, ref, comp, accuracy, budget_pts=2.0)
    assert m.value == pytest.approx(10.0) and m.ci is not None and m.ci.low > 2.0
    assert c.metrics["accuracy_reference"].value == 1.0
    assert c.metrics["accuracy_compressed"].value == pytest.approx(0.9)
    with pytest.raises(GateFailed, match="accuracy_drop_pts"):
        c.finish({})


@pytest.mark.parametrize(("ratio", "outcome"), [(2.0, "pass"), (1.1, "fail")])
def test_run_compression_times_scores_weighs_and_gates(
    monkeypatch: pytest.MonkeyPatch, ratio: float, outcome: str
) -> None:
    monkeypatch.setattr("compress.verdict.gates.paired_speedup", _fake_speed(ratio))
    bench, c = _Bench(), _case()
    y = [0, 1] * 50
    kwargs = dict(
        reference=lambda: None,
        compressed=lambda: None,
        rounds=8,
        floor=1.5,
        scored=Scored(y, y, y, accuracy, "accuracy_drop_pts", 1.0),
        size_bytes=(400, 120),
        max_size_ratio=0.5,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a decided gate never warns
        if outcome == "pass":
            verdicts = run_compression(c, bench, **kwargs)
            assert verdicts == {
                "speedup": "pass",
                "accuracy_drop_pts": "pass",
                "size_ratio": "pass",
            }
        else:
            with pytest.raises(GateFailed, match=r"speedup 1\.1 x"):
                run_compression(c, bench, **kwargs)
    assert bench.calls == 1 and EXTRA_INFO_KEY in bench.extra_info


def test_a_collapsed_model_is_flagged_beside_its_floor() -> None:
    y = [1] * 60 + [0] * 40
    c = _case()
    c.quality_drop("accuracy_drop_pts", y, y, [1] * 100, accuracy, budget_pts=None)
    assert c.metrics["accuracy_majority"].value == pytest.approx(0.6)
    assert c.metrics["collapsed"].value == 1.0  # one class: the drop is no "40 points lost"
    healthy = _case()
    comp = [1 - v if i < 5 else v for i, v in enumerate(y)]
    healthy.quality_drop("accuracy_drop_pts", y, y, comp, accuracy, budget_pts=None)
    assert healthy.metrics["collapsed"].value == 0.0


def test_fidelity_is_kept_as_evidence_paired_by_input() -> None:
    ref = torch.tensor([[1.0, 0.0]] * 30 + [[0.0, 1.0]] * 30)
    comp = ref.clone()
    comp[:3] = torch.tensor([0.0, 1.0])  # 3 of 60 flipped
    c = _case()
    c.fidelity(ref, comp, inputs="60 pairs", min_agreement=0.5)
    agreement = c.metrics["agreement"]
    assert agreement.value == pytest.approx(57 / 60) and agreement.by_example is not None
    held = c.predictions[agreement.by_example["set"]]
    assert held["labels"] == held["reference"] != held["compressed"]
    assert c.metrics["kl_mean"].value > 0 and c.data["fidelity_inputs"] == "60 pairs"
    assert c.finish({}) == {"agreement": "pass"}


def _undecided(strict: bool) -> Case:
    c = _case()
    c.strict_quality = strict
    y = [0, 1] * 50
    comp = [1 - v if i < 2 else v for i, v in enumerate(y)]  # 2 of 100 flipped: 2 [0, 5] pt
    c.quality_drop("accuracy_drop_pts", y, y, comp, accuracy, budget_pts=3.0)
    return c


def test_an_undecided_quality_gate_says_how_many_examples_would_decide_it() -> None:
    c = _undecided(strict=False)
    with pytest.warns(UserWarning, match=r"inconclusive: .*needs ≈ \d+ examples"):
        assert c.finish({}) == {"accuracy_drop_pts": "inconclusive"}
    needed = c.metrics["accuracy_drop_pts_needs_examples"].value
    assert needed > 100  # more than it had; how many depends on the resampled CI


def test_strict_quality_fails_an_undecided_quality_gate() -> None:
    c = _undecided(strict=True)
    with pytest.warns(UserWarning), pytest.raises(GateFailed, match="undecided"):
        c.finish({})
    assert c.verdicts == {"accuracy_drop_pts": "fail"}
