"""Classification quality: predictions with a progress bar, scored with scikit-learn."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn
from tqdm.auto import tqdm

from compress.train.loop import seeded


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
    predictions: tuple[int, ...]  # in the examples' own order (see evaluate_classifier)
    logits: torch.Tensor | None = None  # (examples, classes) float32, same order

    def head(self, labels: list[int]) -> EvalResult:
        """The result on the first ``len(labels)`` examples, scored on ``labels`` (a split
        evaluated as the head of a larger pool); ``seconds`` stays the whole pass's."""
        count = len(labels)
        if not 0 < count <= self.examples:
            raise ValueError(f"cannot take {count} of {self.examples} predictions")
        preds = self.predictions[:count]
        logits = None if self.logits is None else self.logits[:count]
        return EvalResult(classification_metrics(labels, list(preds)), self.seconds, count,
                          preds, logits)  # fmt: skip


def logits_of(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits for a batch dict (``labels`` and ``index`` ignored); works for HF models and plain
    modules."""
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "index")}
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
    (under ``seed``, restoring the caller's random state afterwards).

    Batches that carry an ``index`` (each row's position in the split, as length-sorted
    batches do) have their predictions and logits put back in that order."""
    was_training = model.training
    model.eval()
    y_true: list[int] = []
    y_pred: list[int] = []
    rows: list[torch.Tensor] = []
    order: list[int] = []
    seconds = 0.0
    try:
        with seeded(seed), torch.inference_mode():
            for batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
                start = time.perf_counter()
                logits = logits_of(model, batch)
                seconds += time.perf_counter() - start
                y_pred.extend(logits.argmax(dim=-1).tolist())
                y_true.extend(batch["labels"].tolist())
                rows.append(logits.float())
                order.extend(batch["index"].tolist() if "index" in batch else ())
    finally:
        model.train(was_training)
    all_logits = torch.cat(rows) if rows else torch.empty(0, 0)
    if order:
        if sorted(order) != list(range(len(y_true))):
            raise ValueError("batch indices are not a permutation of the examples")
        back = torch.empty(len(order), dtype=torch.long)
        back[torch.tensor(order)] = torch.arange(len(order))
        y_true = [y_true[i] for i in back.tolist()]
        y_pred = [y_pred[i] for i in back.tolist()]
        all_logits = all_logits[back]
    metrics = classification_metrics(y_true, y_pred)
    return EvalResult(metrics, seconds, len(y_true), tuple(y_pred), all_logits)
