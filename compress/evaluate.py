"""Classification quality: predictions with a progress bar, scored with scikit-learn."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn
from tqdm.auto import tqdm

from compress.train import seeded


def classification_metrics(y_true: list[int], y_pred: list[int]) -> dict[str, float]:
    """Accuracy, weighted F1 and, for two classes, binary F1 of the positive class (label 1)."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("cannot score an empty set of predictions")
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_weighted": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }
    if set(y_true) | set(y_pred) <= {0, 1}:
        metrics["f1"] = float(f1_score(y_true, y_pred, average="binary", zero_division=0))
    return metrics


@dataclass(frozen=True)
class EvalResult:
    """Scores and wall-clock cost of one pass over an evaluation set."""

    metrics: dict[str, float]
    seconds: float  # wall-clock time of the whole pass (forward passes only)
    examples: int
    predictions: tuple[int, ...]


def logits_of(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits for a batch dict (``labels`` ignored); works for HF models and plain modules."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    out = model(**inputs)
    return out.logits if hasattr(out, "logits") else out


def forward_fn(
    model: Callable[..., object], batch: Mapping[str, torch.Tensor]
) -> Callable[[], object]:
    """A zero-argument callable computing ``model``'s logits on ``batch`` (for timing)."""
    return lambda: logits_of(model, batch)  # type: ignore[arg-type]


def evaluate_classifier(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    desc: str = "eval",
    seed: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Predict every batch (each has ``labels``) in eval mode and score the predictions
    (under ``seed``, restoring the caller's random state afterwards)."""
    was_training = model.training
    model.eval()
    y_true: list[int] = []
    y_pred: list[int] = []
    seconds = 0.0
    try:
        with seeded(seed), torch.inference_mode():
            for batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
                start = time.perf_counter()
                logits = logits_of(model, batch)
                seconds += time.perf_counter() - start
                y_pred.extend(logits.argmax(dim=-1).tolist())
                y_true.extend(batch["labels"].tolist())
    finally:
        model.train(was_training)
    return EvalResult(classification_metrics(y_true, y_pred), seconds, len(y_true), tuple(y_pred))
