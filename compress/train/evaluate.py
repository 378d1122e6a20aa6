"""Classification quality: predictions with a progress bar, scored with scikit-learn; a
regression head's (one output per input) with SciPy's correlations."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch
from sklearn.metrics import accuracy_score, f1_score
from torch import nn
from tqdm.auto import tqdm

from compress.core.scores import pearson, spearman
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


def regression_metrics(y_true: list[float], y_pred: list[float]) -> dict[str, float]:
    """Pearson's and Spearman's correlation of a regression head's outputs with the scores."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} scores but {len(y_pred)} outputs")
    if len(y_true) < 2:
        raise ValueError("a correlation needs at least two outputs")
    return {"pearson": pearson(y_true, y_pred), "spearman": spearman(y_true, y_pred)}


def _metrics(y_true: list, y_pred: list, regression: bool) -> dict[str, float]:
    return (regression_metrics if regression else classification_metrics)(y_true, y_pred)


def answers(logits: torch.Tensor) -> list:
    """Each row's answer: the class of the largest logit, or a regression head's one output."""
    if logits.shape[-1] == 1:
        return logits[:, 0].tolist()
    return logits.argmax(dim=-1).tolist()


@dataclass(frozen=True)
class EvalResult:
    """Scores and wall-clock cost of one pass over an evaluation set."""

    metrics: dict[str, float]
    seconds: float  # wall-clock time of the whole pass (forward passes only)
    examples: int
    # in the examples' own order (see evaluate_classifier): classes, or a regression head's
    # outputs (floats) where the model has one output per input
    predictions: tuple[int, ...] | tuple[float, ...]
    logits: torch.Tensor | None = None  # (examples, classes) float32, same order

    @property
    def regression(self) -> bool:
        """The model has one output per input (num_labels = 1): its answers are numbers."""
        return self.logits is not None and self.logits.ndim == 2 and self.logits.shape[1] == 1

    def head(self, labels: list[int]) -> EvalResult:
        """The result on the first ``len(labels)`` examples, scored on ``labels`` (a split
        evaluated as the head of a larger pool); ``seconds`` stays the whole pass's."""
        count = len(labels)
        if not 0 < count <= self.examples:
            raise ValueError(f"cannot take {count} of {self.examples} predictions")
        preds = self.predictions[:count]
        logits = None if self.logits is None else self.logits[:count]
        return EvalResult(_metrics(labels, list(preds), self.regression), self.seconds, count,
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
    y_true: list = []
    y_pred: list = []
    rows: list[torch.Tensor] = []
    order: list[int] = []
    seconds = 0.0
    try:
        with seeded(seed), torch.inference_mode():
            for batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
                start = time.perf_counter()
                logits = logits_of(model, batch)
                seconds += time.perf_counter() - start
                y_pred.extend(answers(logits))
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
    regression = all_logits.ndim == 2 and all_logits.shape[1] == 1
    metrics = _metrics(y_true, y_pred, regression)
    return EvalResult(metrics, seconds, len(y_true), tuple(y_pred), all_logits)
