"""The common skeleton most cases are (``run_compression``): time the compressed model as the
benchmark row, pair it with its reference for the speedup, score both on the same examples,
weigh both, then record and check the case (compress.verdict.case.Case)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from compress.measure.kernels import Expect, record_kernels
from compress.measure.meters import Speedup, pinned_threads
from compress.verdict.case import Case
from compress.verdict.gates import SPEED_TOLERANCE
from compress.verdict.kernels import record_into


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
    expect: Expect | None = None,
) -> Speedup:
    """Time ``compressed`` as the benchmark row and record its paired speedup over
    ``reference`` (gated at ``floor``; ``tolerance`` and ``resolve`` as in Case.speedup),
    both on ``threads`` threads; then, where ``expect`` says what its label promises, the
    kernels one more forward of it ran (compress.verdict.kernels), outside the timed rounds."""
    with pinned_threads(threads), torch.inference_mode():
        benchmark.pedantic(compressed, rounds=rounds, warmup_rounds=warmup)
    speed = case.speedup(
        reference,
        compressed,
        floor=floor,
        rounds=rounds,
        warmup=warmup,
        threads=threads,
        tolerance=tolerance,
        resolve=resolve,
    )
    if expect is not None:
        record = record_kernels(compressed, opaque=expect.opaque, threads=threads)
        record_into(case, record, expect)
    return speed


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
    expect: Expect | None = None,
) -> Mapping[str, str]:
    """The common skeleton: time ``compressed`` as the benchmark row, pair it with
    ``reference`` for the speedup (gated at ``floor``), check its kernels against ``expect``,
    score both on ``scored``, weigh both (``size_bytes`` = (reference, compressed)), record
    and check. Returns the verdicts."""
    timed = {"reference": reference, "compressed": compressed, "rounds": rounds}
    timed_speedup(case, benchmark, **timed, floor=floor, warmup=warmup, tolerance=tolerance,
                  resolve=resolve, expect=expect)  # fmt: skip
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
