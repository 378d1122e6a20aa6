"""The case runner: one way to measure, record and gate a benchmark case.

A benchmark opens a ``Case`` (its id, profile and provenance), measures into it with
``speedup``, ``quality_drop``, ``sizes`` and ``metric``/``report``, then calls ``finish``:
the typed result (compress.results) is recorded first, so a failing case still shows its
figures, and then every gated metric is checked against its budget (compress.gates.check).
All failures of a case are reported together; an inconclusive gate warns, never passes
silently. ``run_compression`` is the common skeleton most cases are: time the compressed
model, pair it with its reference, score both on the same examples, weigh both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from compress.change import SCORES
from compress.gates import (
    SPEED_TOLERANCE,
    GateFailed,
    check,
    measure_speedup,
    quality_drop_metric,
)
from compress.measure import Speedup, pinned_threads
from compress.results import CaseResult, Direction, Metric, encode_labels, record
from compress.stats import metric_ci

# compare: a checkpoint may grow 0.1% between runs (torch.save of one architecture is the same
# size to the byte; the slack is for pickled metadata), so a 1% growth is a regression
SIZE_TOLERANCE = 0.001
FRACTION_TOLERANCE = 0.005  # compare: an accuracy/F1 fraction may fall 0.5 pt (paired by example)


@dataclass
class Case:
    """A case being measured: its provenance and the typed metrics collected so far."""

    id: str
    profile: str
    fingerprint: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)  # the method's config, to_dict()
    model: dict[str, Any] = field(default_factory=lambda: {"about": "?"})
    data: dict[str, Any] = field(default_factory=dict)  # split, source, examples
    metrics: dict[str, Metric] = field(default_factory=dict)
    predictions: dict[str, dict[str, object]] = field(default_factory=dict)

    def add(self, name: str, metric: Metric) -> Metric:
        """Add one metric; a name is measured once per case."""
        if name in self.metrics:
            raise ValueError(f"case {self.id}: metric {name!r} recorded twice")
        self.metrics[name] = metric
        return metric

    def metric(
        self,
        name: str,
        value: float,
        unit: str,
        direction: Direction,
        tolerance: float | None = None,
        *,
        relative: bool = False,
        budget: float | None = None,
    ) -> Metric:
        """Add a gated (or, with direction "report", shown-only) figure."""
        return self.add(name, Metric(value, unit, direction, tolerance, relative, budget))

    def report(self, name: str, value: float, unit: str) -> Metric:
        """Add a figure that is shown, never gated (timings in seconds, counts)."""
        return self.add(name, Metric(value, unit, "report"))

    def speedup(
        self,
        baseline: Callable[[], object],
        candidate: Callable[[], object],
        *,
        floor: float | None,
        rounds: int,
        warmup: int = 3,
        name: str = "speedup",
        threads: int = 1,
        tolerance: float = SPEED_TOLERANCE,
        resolve: bool = False,
    ) -> Speedup:
        """Paired, interleaved speedup (on one thread unless told) with its CI and per-round
        ratios; ``tolerance`` is the smallest change between runs that matters for it.

        With a ``floor`` the CI is gated against it (re-measured while it straddles); with
        None the speedup is recorded and compared between runs but not asserted here. With
        ``resolve`` it is re-measured while its CI is too wide to resolve ``tolerance``."""
        speed, metric = measure_speedup(
            baseline,
            candidate,
            floor=floor,
            rounds=rounds,
            warmup=warmup,
            threads=threads,
            tolerance=tolerance,
            resolve=resolve,
        )
        self.add(name, metric)
        self.report(f"{name}_baseline_s", speed.baseline.median, "s")
        self.report(f"{name}_candidate_s", speed.candidate.median, "s")
        return speed

    def quality_drop(
        self,
        name: str,
        y_true: Sequence[int],
        reference: Sequence[int],
        compressed: Sequence[int],
        score: Callable[[np.ndarray, np.ndarray], float],
        *,
        budget_pts: float | None,
        reference_floor: float | None = None,
    ) -> Metric:
        """score(reference) - score(compressed) in points, paired bootstrap CI, gated at
        ``budget_pts`` (None: recorded, not asserted). Both scores are recorded as fractions
        too (``<base>_reference`` / ``<base>_compressed``), the reference's gated at
        ``reference_floor`` when given (a model that did not learn makes any drop meaningless)."""
        ref, comp = np.asarray(reference), np.asarray(compressed)
        y = np.asarray(y_true)
        base = name.removesuffix("_drop_pts")
        key = self._keep_predictions(y, ref, comp)
        scored = next((k for k, fn in SCORES.items() if fn is score), None)

        def evidence(arm: str) -> dict[str, str] | None:
            return None if scored is None else {"set": key, "score": scored, "arm": arm}

        for arm, pred, floor in (("reference", ref, reference_floor), ("compressed", comp, None)):
            value, ci = metric_ci(y, pred, score)
            self.add(
                f"{base}_{arm}",
                Metric(
                    value,
                    "frac",
                    "higher",
                    FRACTION_TOLERANCE,
                    budget=floor,
                    ci=ci,
                    by_example=evidence(arm),
                ),
            )
        drop = quality_drop_metric(
            y, ref, comp, score, budget_pts=budget_pts, by_example=evidence("drop")
        )
        return self.add(name, drop)

    def _keep_predictions(self, y: np.ndarray, ref: np.ndarray, comp: np.ndarray) -> str:
        """Keep one prediction set as evidence (once per distinct set); return its key."""
        arrays = {
            k: encode_labels(v)
            for k, v in (("labels", y), ("reference", ref), ("compressed", comp))
        }
        for key, held in self.predictions.items():
            if held == arrays:
                return key
        key = f"p{len(self.predictions)}"
        self.predictions[key] = arrays
        return key

    def sizes(
        self, reference_bytes: int, compressed_bytes: int, *, max_ratio: float | None = None
    ) -> None:
        """Checkpoint bytes of both models and their ratio (gated at ``max_ratio`` if given)."""
        self.report("size_reference_bytes", reference_bytes, "bytes")
        self.metric("size_bytes", compressed_bytes, "bytes", "lower", SIZE_TOLERANCE, relative=True)
        self.metric(
            "size_ratio",
            compressed_bytes / reference_bytes,
            "ratio",
            "lower",
            SIZE_TOLERANCE,
            relative=True,
            budget=max_ratio,
        )

    def result(self) -> CaseResult:
        """The typed result of what was measured so far."""
        return CaseResult(
            self.id,
            self.metrics,
            self.config,
            self.model,
            self.data,
            self.fingerprint,
            self.profile,
            predictions=self.predictions,
        )

    def finish(self, extra_info: MutableMapping[str, Any]) -> dict[str, str]:
        """Record the result in ``extra_info``, then check every metric that has a budget.

        Returns {metric: "pass" | "inconclusive"}; raises GateFailed naming every failure."""
        record(extra_info, self.result())  # type: ignore[arg-type]
        verdicts: dict[str, str] = {}
        failures: list[str] = []
        for name, metric in self.metrics.items():
            if metric.budget is None:
                continue
            try:
                verdicts[name] = check(f"{self.id}: {name}", metric)
            except GateFailed as exc:
                failures.append(str(exc))
        if failures:
            raise GateFailed("; ".join(failures))
        return verdicts


@dataclass(frozen=True)
class Scored:
    """Predictions of the reference and the compressed model on the same labelled examples."""

    labels: Sequence[int]
    reference: Sequence[int]
    compressed: Sequence[int]
    score: Callable[[np.ndarray, np.ndarray], float]
    name: str = "f1_drop_pts"  # "<metric>_drop_pts"
    budget_pts: float = 1.0


def timed_speedup(
    case: Case,
    benchmark: Any,
    *,
    reference: Callable[[], object],
    compressed: Callable[[], object],
    rounds: int,
    floor: float | None,
    warmup: int = 3,
    threads: int = 1,
    tolerance: float = SPEED_TOLERANCE,
    resolve: bool = False,
) -> Speedup:
    """Time ``compressed`` as the benchmark row and record its paired speedup over
    ``reference`` (gated at ``floor``; ``tolerance`` and ``resolve`` as in Case.speedup),
    both on ``threads`` threads."""
    with pinned_threads(threads), torch.inference_mode():
        benchmark.pedantic(compressed, rounds=rounds, warmup_rounds=warmup)
    return case.speedup(
        reference,
        compressed,
        floor=floor,
        rounds=rounds,
        warmup=warmup,
        threads=threads,
        tolerance=tolerance,
        resolve=resolve,
    )


def run_compression(
    case: Case,
    benchmark: Any,
    *,
    reference: Callable[[], object],
    compressed: Callable[[], object],
    rounds: int,
    floor: float | None,
    scored: Scored | None = None,
    size_bytes: tuple[int, int] | None = None,
    max_size_ratio: float | None = None,
    warmup: int = 3,
    tolerance: float = SPEED_TOLERANCE,
    resolve: bool = False,
) -> Mapping[str, str]:
    """The common skeleton: time ``compressed`` as the benchmark row, pair it with
    ``reference`` for the speedup (gated at ``floor``), score both on ``scored``, weigh both
    (``size_bytes`` = (reference, compressed)), record and check. Returns the verdicts."""
    timed = {"reference": reference, "compressed": compressed, "rounds": rounds}
    timed_speedup(
        case, benchmark, **timed, floor=floor, warmup=warmup, tolerance=tolerance, resolve=resolve
    )
    if scored is not None:
        case.quality_drop(
            scored.name,
            scored.labels,
            scored.reference,
            scored.compressed,
            scored.score,
            budget_pts=scored.budget_pts,
        )
    if size_bytes is not None:
        case.sizes(*size_bytes, max_ratio=max_size_ratio)
    return case.finish(benchmark.extra_info)
