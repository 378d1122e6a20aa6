"""Distillation losses (compress.distill.losses): bad input, and values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from compress.distill.losses import (
    cosine_hidden_loss,
    feature_adapter,
    mse_feature_loss,
    soft_target_loss,
)

# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.0, -2.0])
def test_soft_target_loss_rejects_bad_temperature(temperature: float) -> None:
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="temperature"):
        soft_target_loss(logits, logits, temperature)


# --- losses, hand-computed -------------------------------------------------------------


def test_soft_target_loss_by_hand() -> None:
    teacher = torch.tensor([[math.log(3.0), 0.0], [1.0, -1.0]])
    student = torch.tensor([[0.0, 0.0], [1.0, -1.0]])  # row 2 equals the teacher: KL 0
    # T = 1: p_t = (3/4, 1/4), p_s = (1/2, 1/2); KL = 3/4 ln(3/2) + 1/4 ln(1/2); batch mean /2
    kl1 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert soft_target_loss(student, teacher, 1.0).item() == pytest.approx(kl1 / 2, rel=1e-5)
    # T = 2: p_t = (√3, 1)/(√3 + 1), p_s uniform; scaled by T² = 4
    r = math.sqrt(3.0)
    p = (r / (r + 1), 1 / (r + 1))
    kl2 = sum(pi * math.log(pi / 0.5) for pi in p)
    assert soft_target_loss(student, teacher, 2.0).item() == pytest.approx(4 * kl2 / 2, rel=1e-5)


def test_soft_target_loss_matches_the_tutorial_formula() -> None:
    g = torch.Generator().manual_seed(0)
    s, t, temp = torch.randn(5, 10, generator=g), torch.randn(5, 10, generator=g), 3.0
    soft = F.softmax(t / temp, dim=-1)
    tutorial = (soft * (soft.log() - F.log_softmax(s / temp, -1))).sum() / 5 * temp**2
    assert soft_target_loss(s, t, temp).item() == pytest.approx(tutorial.item(), rel=1e-5)


def test_cosine_loss_by_hand_and_mask() -> None:
    s = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [5.0, 5.0]]])  # (1, 3, 2); token 3 is padding
    t = torch.tensor([[[0.0, 2.0], [2.0, 2.0], [-1.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    # token 1 orthogonal (1 - 0), token 2 parallel (1 - 1): mean 0.5; padding ignored
    assert cosine_hidden_loss(s, t, mask).item() == pytest.approx(0.5)
    # unmasked, token 3 is (5,5)·(-1,0): cos -1/√2
    expected = (1 + 0 + 1 + 1 / math.sqrt(2)) / 3
    assert cosine_hidden_loss(s, t).item() == pytest.approx(expected, rel=1e-6)
    assert cosine_hidden_loss(t, -t).item() == pytest.approx(2.0)


def test_cosine_loss_needs_projection_when_widths_differ() -> None:
    s, t = torch.randn(4, 8), torch.randn(4, 16)
    with pytest.raises(ValueError, match="projection"):
        cosine_hidden_loss(s, t)
    loss = cosine_hidden_loss(s, t, projection=feature_adapter(s.shape, t.shape))
    assert 0.0 <= loss.item() <= 2.0


def test_mse_loss_by_hand() -> None:
    s = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    identity = feature_adapter(s.shape, t.shape)  # same width: starts as the identity
    assert mse_feature_loss(s, t, identity).item() == pytest.approx((4 + 9) / 4)
    doubled = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        doubled.weight.copy_(2 * torch.eye(2))
    assert mse_feature_loss(s, t, doubled).item() == pytest.approx((1 + 16 + 36 + 16) / 4)


def test_mse_loss_masks_padding_and_checks_shapes() -> None:
    s = torch.zeros(1, 2, 3)
    t = torch.tensor([[[1.0, 1.0, 1.0], [9.0, 9.0, 9.0]]])
    assert mse_feature_loss(s, t, nn.Identity(), torch.tensor([[1, 0]])).item() == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        mse_feature_loss(torch.zeros(2, 3), torch.zeros(2, 4), nn.Identity())


def test_feature_adapter_shapes() -> None:
    conv = feature_adapter((2, 16, 2, 2), (2, 32, 2, 2))
    assert conv(torch.zeros(2, 16, 2, 2)).shape == (2, 32, 2, 2)
    assert feature_adapter((2, 5, 8), (2, 5, 12))(torch.zeros(2, 5, 8)).shape == (2, 5, 12)
    with pytest.raises(ValueError, match="spatial"):
        feature_adapter((2, 16, 4, 4), (2, 32, 2, 2))
    with pytest.raises(ValueError, match="ranks"):
        feature_adapter((2, 16), (2, 32, 2, 2))
