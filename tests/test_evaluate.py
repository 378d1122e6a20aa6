"""Classification metrics and the evaluation loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.train.evaluate import classification_metrics, evaluate_classifier


def test_metrics_match_hand_computed_values() -> None:
    # tp=2 fp=1 fn=1 tn=1 -> precision 2/3, recall 2/3, F1 2/3, accuracy 3/5
    m = classification_metrics([1, 1, 1, 0, 0], [1, 1, 0, 1, 0])
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["f1"] == pytest.approx(2 / 3)
    assert "f1_weighted" in m


def test_multiclass_has_no_binary_f1() -> None:
    m = classification_metrics([0, 1, 2, 2], [0, 1, 2, 1])
    assert "f1" not in m and m["accuracy"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [([], [], "empty"), ([0, 1], [0], "2 labels but 1 predictions")],
    ids=["empty", "lengths"],
)
def test_bad_inputs(y_true: list, y_pred: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(y_true, y_pred)


class Echo(nn.Module):
    """Logits that predict the first feature's sign; dropout to prove eval mode is used."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(x)
        return torch.stack([-x[:, 0], x[:, 0]], dim=1)


def test_evaluate_classifier_is_deterministic_and_restores_mode() -> None:
    x = torch.tensor([[1.0], [-1.0], [2.0], [-3.0]])
    batches = [
        {"x": x[:2], "labels": torch.tensor([1, 0])},
        {"x": x[2:], "labels": torch.tensor([1, 1])},
    ]
    model = Echo().train()
    result = evaluate_classifier(model, batches, progress=False)
    assert model.training
    assert result.predictions == (1, 0, 1, 0)
    assert result.metrics["accuracy"] == pytest.approx(0.75)
    assert result.examples == 4 and result.seconds > 0


def test_indexed_batches_come_back_in_the_split_order() -> None:
    x = torch.tensor([[1.0], [-1.0], [2.0], [-3.0]])
    labels = torch.tensor([1, 0, 0, 0])
    order = [torch.tensor([3, 1]), torch.tensor([0, 2])]  # as length-sorted batches would be
    batches = [{"x": x[i], "labels": labels[i], "index": i} for i in order]
    result = evaluate_classifier(Echo().eval(), batches, progress=False)
    assert result.predictions == (1, 0, 1, 0)  # the rows' own order, not the batches'
    assert result.logits is not None and result.logits[:, 1].tolist() == [1.0, -1.0, 2.0, -3.0]
    assert result.metrics["accuracy"] == pytest.approx(0.75)
    head = result.head([1, 0])
    assert head.predictions == (1, 0) and head.metrics["accuracy"] == 1.0 and head.examples == 2


def test_indices_that_are_not_a_permutation_are_refused() -> None:
    x = torch.tensor([[1.0], [-1.0]])
    batches = [{"x": x, "labels": torch.tensor([1, 0]), "index": torch.tensor([0, 0])}]
    with pytest.raises(ValueError, match="not a permutation"):
        evaluate_classifier(Echo().eval(), batches, progress=False)
