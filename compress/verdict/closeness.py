"""A regression head's fidelity to its reference (num_labels = 1: one number per input).

A classifier's fidelity (compress.verdict.quality.fidelity) is the share of answers equal to
the reference's and the mean KL of the output distributions; a single output has neither a
class nor a distribution. Its counterparts here: ``agreement``, the share of inputs whose
compressed output lies within a declared ``tolerance`` of the reference's, and
``mean_abs_diff``, the mean absolute difference of the two outputs, each with a bootstrap CI.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from compress.core.stats import Interval, bootstrap_ci
from compress.verdict.case import FRACTION_TOLERANCE, KL_TOLERANCE, Case
from compress.verdict.depends import ANSWER
from compress.verdict.results import Metric

OUTPUT_UNIT = "output"  # the head's own units (a similarity score of 0-5, say): display only
MAD_TOLERANCE = KL_TOLERANCE  # compare: it may grow 25% between runs, as the mean KL may


@dataclass(frozen=True)
class Closeness:
    """How close the compressed outputs are to the reference's, over the same inputs."""

    within: tuple[int, ...]  # 1 where |compressed - reference| <= tolerance, per input
    tolerance: float
    agreement: float
    agreement_ci: Interval
    mean_abs_diff: float
    mean_abs_diff_ci: Interval


def closeness(
    reference: Sequence[float],
    compressed: Sequence[float],
    tolerance: float,
    *,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Closeness:
    """Agreement within ``tolerance`` and the mean absolute difference of two models' outputs
    on the same inputs, with percentile bootstrap CIs over the inputs."""
    ref, comp = np.asarray(reference, float), np.asarray(compressed, float)
    if ref.ndim != 1 or ref.shape != comp.shape or len(ref) < 2:
        raise ValueError(
            f"outputs must be 1-D, same length, >= 2 inputs; got {ref.shape}, {comp.shape}"
        )
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
    diff = np.abs(comp - ref)
    within = (diff <= tolerance).astype(int)

    def ci(values: np.ndarray) -> Interval:
        return bootstrap_ci((values,), np.mean, paired=False, vectorized=True, level=level,
                            n_resamples=n_resamples, seed=seed, method="percentile")  # fmt: skip

    return Closeness(tuple(within.tolist()), float(tolerance), float(within.mean()), ci(within),
                     float(diff.mean()), ci(diff))  # fmt: skip


def record_closeness(
    case: Case, close: Closeness, *, inputs: str, min_agreement: float | None = None
) -> None:
    """``agreement`` (gated at ``min_agreement`` when given) and ``mean_abs_diff`` into
    ``case``, as ``Case.record_fidelity`` records a classifier's agreement and ``kl_mean``."""
    # the evidence compare pairs by input: "within" scored for accuracy against all-1 labels
    # is the agreement, so a run that newly strays on the same inputs is seen as such
    ones = np.ones(len(close.within), dtype=int)
    key = case.keep_predictions(ones, ones, np.asarray(close.within))
    agreement = Metric(
        close.agreement,
        "frac",
        "higher",
        FRACTION_TOLERANCE,
        budget=min_agreement,
        ci=close.agreement_ci,
        by_example={"set": key, "score": "accuracy", "arm": "compressed"},
    )
    case.add("agreement", agreement)
    mad = Metric(close.mean_abs_diff, OUTPUT_UNIT, "lower", MAD_TOLERANCE, relative=True,
                 ci=close.mean_abs_diff_ci, depends_on=ANSWER)  # fmt: skip
    case.add("mean_abs_diff", mad)
    case.data["fidelity_inputs"] = inputs
    case.data["agreement_tolerance"] = close.tolerance
