"""What a quality figure needs beside it to decide anything.

- the constant predictor's score on the same labels (``majority_score``): a model whose
  accuracy comes down to it has collapsed (``collapsed``), which is no "drop of a few points";
- the evaluation size at which an undecided budget would decide (``examples_needed``);
- fidelity to the reference model over inputs that need no labels (``fidelity``): how often
  the compressed model predicts what the reference predicts, and the mean KL divergence of
  its output distribution from the reference's, each with a bootstrap CI. Both move with
  quantization damage long before a labelled score can tell it from sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from compress.core.stats import Interval, accuracy, bootstrap_ci, metric_ci


def majority_score(y_true: Sequence[int], score: Callable[..., float]) -> float:
    """``score`` of the constant predictor of the most frequent label (ties: the larger id)."""
    y = np.asarray(y_true)
    labels, counts = np.unique(y, return_counts=True)
    top = labels[counts == counts.max()].max()
    return float(score(y, np.full_like(y, top)))


def collapsed(predictions: Sequence[int], ci: Interval, floor: float) -> bool:
    """A model collapsed: it predicts a single class, or its score's CI (accuracy, in
    verdict.case) reaches the constant predictor's ``floor``: it cannot be told from answering
    the majority class every time, or does worse."""
    return len(set(predictions)) <= 1 or ci.low <= floor


def examples_needed(value: float, ci: Interval, budget: float) -> int | None:
    """Evaluation examples at which ``ci`` would no longer straddle ``budget`` at the observed
    ``value``, scaling its half-width as 1/sqrt(n) from its ``ci.n`` examples; None when the
    value sits on the budget (no size decides it)."""
    margin = abs(budget - value)
    if margin == 0 or ci.n < 1:
        return None
    half = max(ci.high - value, value - ci.low)
    return max(ci.n, math.ceil(ci.n * (half / margin) ** 2))


@dataclass(frozen=True)
class Fidelity:
    """Agreement of the compressed model's predictions with the reference's, and the mean
    KL(reference || compressed) of their softmax outputs, over the same inputs."""

    reference: tuple[int, ...] | None  # the reference's predicted class per input (evidence)
    compressed: tuple[int, ...] | None  # None: too many inputs to keep (a token stream)
    agreement: float
    agreement_ci: Interval
    kl: float  # nats
    kl_ci: Interval


def fidelity(
    reference_logits: torch.Tensor,
    compressed_logits: torch.Tensor,
    *,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Fidelity:
    """Agreement and mean KL of two models' logits on the same inputs (rows), bootstrap CIs."""
    ref, comp = reference_logits.double(), compressed_logits.double()
    if ref.ndim != 2 or ref.shape != comp.shape or len(ref) < 2:
        raise ValueError(
            f"logits must be 2-D, same shape, >= 2 rows; got {tuple(ref.shape)}, "
            f"{tuple(comp.shape)}"
        )
    per_input = _kl_rows(ref, comp).numpy()
    a, b = ref.argmax(-1).numpy(), comp.argmax(-1).numpy()
    agree, agree_ci = metric_ci(a, b, accuracy, level=level, n_resamples=n_resamples, seed=seed)
    kl_ci = bootstrap_ci(
        (per_input,),
        np.mean,
        paired=False,
        vectorized=True,
        level=level,
        n_resamples=n_resamples,
        seed=seed,
        method="percentile",
    )
    return Fidelity(
        tuple(a.tolist()), tuple(b.tolist()), agree, agree_ci, float(per_input.mean()), kl_ci
    )


def _kl_rows(ref: torch.Tensor, comp: torch.Tensor) -> torch.Tensor:
    """KL(softmax(ref) || softmax(comp)) per row, in nats (float64)."""
    log_p, log_q = ref.double().log_softmax(-1), comp.double().log_softmax(-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).clamp_min(0)


def stream_fidelity(
    windows: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Fidelity:
    """Agreement of the top-1 predictions and mean KL over every row of every window (a
    language model's next-token outputs, window by window), with CIs from a bootstrap over
    windows: the rows of one window share a carried state, so the window is the unit."""
    agree, kl, rows = [], [], []
    for ref, comp in windows:
        agree.append(float((ref.argmax(-1) == comp.argmax(-1)).sum()))
        kl.append(float(_kl_rows(ref, comp).sum()))
        rows.append(float(len(ref)))
    if len(rows) < 2:
        raise ValueError(f"stream_fidelity needs at least 2 windows, got {len(rows)}")
    data = tuple(np.asarray(x) for x in (agree, kl, rows))

    def ratio(index: int) -> Interval:
        def stat(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.sum(arrays[index], axis=axis) / np.sum(arrays[2], axis=axis)

        return bootstrap_ci(data, stat, paired=True, vectorized=True, level=level,
                            n_resamples=n_resamples, seed=seed, method="percentile")  # fmt: skip

    total = data[2].sum()
    return Fidelity(None, None, data[0].sum() / total, ratio(0), data[1].sum() / total, ratio(1))
