"""The case runner: one way to measure, record and gate a benchmark case.

A benchmark opens a ``Case`` (its id, profile and provenance), measures into it with
``speedup``, ``quality_drop``, ``sizes`` and ``metric``/``report``, then calls ``finish``:
the typed result (compress.verdict.results) is recorded first, so a failing case still shows its
figures, and then every gated metric is checked against its budget (compress.verdict.gates.check).
All failures of a case are reported together; an inconclusive gate warns, never passes
silently. ``compress.verdict.runner.run_compression`` is the common skeleton most cases are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from compress.core.stats import accuracy, metric_ci, verdict
from compress.measure.meters import Speedup
from compress.verdict.change import SCORES
from compress.verdict.depends import ANSWER, SCORE, facets
from compress.verdict.gates import (
    SPEED_TOLERANCE,
    GateFailed,
    check,
    measure_speedup,
    quality_drop_metric,
)
from compress.verdict.quality import Fidelity, collapsed, examples_needed, fidelity, majority_score
from compress.verdict.results import CaseResult, Direction, Metric, encode_labels, record

# compare: a checkpoint may grow 0.1% between runs (torch.save of one architecture is the same
# size to the byte; the slack is for pickled metadata), so a 1% growth is a regression
SIZE_TOLERANCE = 0.001
FRACTION_TOLERANCE = 0.005  # compare: an accuracy/F1 fraction may fall 0.5 pt (paired by example)
KL_TOLERANCE = 0.25  # compare: the mean KL to the reference may grow 25%
QUALITY_UNITS = ("pts", "frac")  # the figures --strict-quality holds to a decided verdict


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
    strict_quality: bool = False  # an undecided quality budget fails (--strict-quality)
    verdicts: dict[str, str] = field(default_factory=dict)  # filled by finish
    kernels: dict[str, Any] = field(default_factory=dict)  # compress.measure.kernels record
    problems: list[str] = field(default_factory=list)  # in-run failures without a budget

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
        depends_on: Iterable[str] | None = None,
    ) -> Metric:
        """Add a gated (or, with direction "report", shown-only) figure; ``depends_on``
        (compress.verdict.depends facets) says between which runs it compares, None: by name."""
        declared = None if depends_on is None else facets(depends_on)
        metric = Metric(value, unit, direction, tolerance, relative, budget, depends_on=declared)
        return self.add(name, metric)

    def report(
        self, name: str, value: float, unit: str, *, depends_on: Iterable[str] | None = None
    ) -> Metric:
        """Add a figure that is shown, never gated (timings in seconds, counts); ``depends_on``
        as in ``metric``."""
        return self.metric(name, value, unit, "report", depends_on=depends_on)

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
        regression: bool = False,
    ) -> Metric:
        """score(reference) - score(compressed) in points, paired bootstrap CI, gated at
        ``budget_pts`` (None: recorded, not asserted). Both scores are recorded as fractions
        too (``<base>_reference`` / ``<base>_compressed``), the reference's gated at
        ``reference_floor`` when given (a model that did not learn makes any drop meaningless).
        ``regression``: the predictions are a regression head's outputs (no majority class)."""
        ref, comp = np.asarray(reference), np.asarray(compressed)
        y = np.asarray(y_true)
        base = name.removesuffix("_drop_pts")
        key = self.keep_predictions(y, ref, comp)
        scored = next((k for k, fn in SCORES.items() if fn is score), None)

        def evidence(arm: str) -> dict[str, str] | None:
            return None if scored is None else {"set": key, "score": scored, "arm": arm}

        if regression:  # no constant class to compare with: collapsed is one output for all
            self._flag_collapse(len(np.unique(comp)) <= 1)
        else:
            self.report(f"{base}_majority", majority_score(y, score), "frac", depends_on=SCORE)
            # collapse is judged on accuracy whatever the score: F1 of always answering the
            # majority class is high (0.80 on MRPC test), so a sound model's F1 CI can reach it
            _, acc_ci = metric_ci(y, comp, accuracy)
            self._flag_collapse(collapsed(comp.tolist(), acc_ci, majority_score(y, accuracy)))
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
                    depends_on=ANSWER,  # whatever the score is called
                ),
            )
        drop = quality_drop_metric(
            y, ref, comp, score, budget_pts=budget_pts, by_example=evidence("drop")
        )
        return self.add(name, drop)

    def _flag_collapse(self, flag: bool) -> None:
        """``collapsed`` (1/0, compared between runs: a model that newly collapses regresses):
        set when any scored figure of the case comes down to the constant predictor's."""
        held = self.metrics.pop("collapsed", None)
        value = max(float(flag), held.value if held is not None else 0.0)
        self.metric("collapsed", value, "flag", "lower", 0.0)

    def fidelity(
        self,
        reference_logits: torch.Tensor,
        compressed_logits: torch.Tensor,
        *,
        inputs: str,
        min_agreement: float | None = None,
    ) -> None:
        """Agreement with the reference's predictions and mean KL to its outputs over the same
        ``inputs`` (described in the case's data; no labels needed), with bootstrap CIs;
        agreement is gated at ``min_agreement`` when given and compared between runs paired
        by input."""
        fid = fidelity(reference_logits, compressed_logits)
        self.record_fidelity(fid, inputs=inputs, min_agreement=min_agreement)

    def record_fidelity(
        self, fid: Fidelity, *, inputs: str, min_agreement: float | None = None
    ) -> None:
        """``agreement`` and ``kl_mean`` of a computed Fidelity (compress.verdict.quality); its
        per-input predictions, where it has them, are kept as the evidence compare pairs."""
        evidence = None
        if fid.reference is not None and fid.compressed is not None:
            ref = np.asarray(fid.reference)
            key = self.keep_predictions(ref, ref, np.asarray(fid.compressed))
            evidence = {"set": key, "score": "accuracy", "arm": "compressed"}
        agreement = Metric(
            fid.agreement,
            "frac",
            "higher",
            FRACTION_TOLERANCE,
            budget=min_agreement,
            ci=fid.agreement_ci,
            by_example=evidence,
        )
        self.add("agreement", agreement)
        kl = Metric(fid.kl, "nats", "lower", KL_TOLERANCE, relative=True, ci=fid.kl_ci)
        self.add("kl_mean", kl)
        self.data["fidelity_inputs"] = inputs

    def keep_predictions(self, y: np.ndarray, ref: np.ndarray, comp: np.ndarray) -> str:
        """Keep one prediction set as evidence (once per distinct set); return its key (the
        ``set`` of a metric's ``by_example``)."""
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
            kernels=self.kernels,
        )

    def finish(self, extra_info: MutableMapping[str, Any]) -> dict[str, str]:
        """Record the result in ``extra_info``, then check every metric that has a budget.

        An undecided quality budget records the evaluation size that would decide it
        (``<metric>_needs_examples``) and, with ``strict_quality``, fails. Returns {metric:
        "pass" | "inconclusive"} (also kept in ``verdicts``, with "fail" where one failed);
        raises GateFailed naming every failure."""
        self._add_sample_sizes()
        record(extra_info, self.result())  # type: ignore[arg-type]
        failures: list[str] = list(self.problems)
        for name, metric in list(self.metrics.items()):
            if metric.budget is None:
                continue
            try:
                self.verdicts[name] = check(f"{self.id}: {name}", metric)
            except GateFailed as exc:
                self.verdicts[name] = "fail"
                failures.append(str(exc))
                continue
            if self.verdicts[name] == "inconclusive" and self._strict(metric):
                self.verdicts[name] = "fail"
                failures.append(f"{self.id}: {name} undecided (--strict-quality)")
        if failures:
            raise GateFailed("; ".join(failures))
        return dict(self.verdicts)

    def _strict(self, metric: Metric) -> bool:
        return self.strict_quality and metric.unit in QUALITY_UNITS

    def _add_sample_sizes(self) -> None:
        """``<name>_needs_examples`` for each quality budget its CI does not decide."""
        for name, metric in list(self.metrics.items()):
            ci, budget = metric.ci, metric.budget
            if budget is None or ci is None or metric.unit not in QUALITY_UNITS:
                continue
            if verdict(ci, budget, metric.direction) != "inconclusive":
                continue
            needed = examples_needed(metric.value, ci, budget)
            if needed is not None and f"{name}_needs_examples" not in self.metrics:
                self.report(f"{name}_needs_examples", needed, "examples")
