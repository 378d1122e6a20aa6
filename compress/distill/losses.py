"""Distillation losses: soft targets, cosine on hidden states, MSE on regressed features.

- soft-target loss (Hinton et al.): KL(softmax(teacher/T) || softmax(student/T)) x T², batch mean;
- cosine loss between student and teacher hidden states (a learned projection when widths
  differ), as DistilBERT's cosine embedding loss;
- MSE feature regression through a learned regressor from the student's feature shape to the
  teacher's (FitNets; the PyTorch knowledge-distillation tutorial's ``regressor``), built by
  :func:`feature_adapter`.

Each loss treats the teacher side as a constant (detached). Their weighted sum with the task
cross-entropy, and the training loop, are :mod:`compress.distill.kd`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")


def check_label_counts(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    """Raise ValueError unless both logits tensors have the same batch size and label count."""
    if student_logits.shape[-1] != teacher_logits.shape[-1]:
        raise ValueError(
            f"teacher predicts {teacher_logits.shape[-1]} labels but the student "
            f"{student_logits.shape[-1]}: distillation needs the same label set"
        )
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} differ in shape"
        )


def soft_target_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """KL(softmax(teacher/T) || softmax(student/T)) x T², averaged over the batch."""
    _check_temperature(temperature)
    check_label_counts(student_logits, teacher_logits)
    t = float(temperature)
    student = F.log_softmax(student_logits / t, dim=-1)
    teacher = F.log_softmax(teacher_logits.detach().float() / t, dim=-1)
    return F.kl_div(student, teacher, reduction="batchmean", log_target=True) * (t * t)


def _rows(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows (where ``mask`` is 1) of (B, S, H) states, else one flat row per example."""
    if student.shape != teacher.shape:
        raise ValueError(
            f"student features {tuple(student.shape)} and teacher features "
            f"{tuple(teacher.shape)} differ in shape (after projection/regression)"
        )
    if student.dim() == 3:  # (batch, tokens, width): one row per token, padding dropped
        if mask is None:
            return student.flatten(0, 1), teacher.flatten(0, 1)
        keep = mask[:, : student.shape[1]].bool()
        return student[keep], teacher[keep]
    return student.flatten(1), teacher.flatten(1)


def cosine_hidden_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    mask: torch.Tensor | None = None,
    projection: nn.Module | None = None,
) -> torch.Tensor:
    """Mean of 1 - cos(student, teacher) over tokens (where ``mask`` is 1) or examples.

    ``projection`` maps the student's width to the teacher's; it is required when they differ.
    """
    student = projection(student_hidden) if projection is not None else student_hidden
    if student.shape[1:] != teacher_hidden.shape[1:] and projection is None:
        raise ValueError(
            f"student hidden {tuple(student.shape)} and teacher hidden "
            f"{tuple(teacher_hidden.shape)} differ: pass a projection (feature_adapter)"
        )
    s, t = _rows(student, teacher_hidden.detach().to(student.dtype), mask)
    return (1.0 - F.cosine_similarity(s, t, dim=-1, eps=1e-8)).mean()


def mse_feature_loss(
    student_features: torch.Tensor,
    teacher_features: torch.Tensor,
    regressor: nn.Module,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error between ``regressor(student_features)`` and the teacher features."""
    s, t = _rows(regressor(student_features), teacher_features.detach().float(), mask)
    return F.mse_loss(s, t)


def feature_adapter(student_shape: Sequence[int], teacher_shape: Sequence[int]) -> nn.Module:
    """A learned map from student features to the teacher's feature shape.

    (B, C, H, W) maps: a 3x3 convolution (same spatial size required), as in the PyTorch
    tutorial's regressor; (B, ..., D) vectors: a Linear on the last dimension, initialised to
    the identity when the widths are equal.
    """
    student_shape, teacher_shape = tuple(student_shape), tuple(teacher_shape)
    if len(student_shape) != len(teacher_shape):
        raise ValueError(f"feature ranks differ: student {student_shape}, teacher {teacher_shape}")
    if len(student_shape) == 4:
        if student_shape[2:] != teacher_shape[2:]:
            raise ValueError(
                f"feature maps differ in spatial size: {student_shape} vs {teacher_shape}"
            )
        return nn.Conv2d(student_shape[1], teacher_shape[1], 3, padding=1)
    linear = nn.Linear(student_shape[-1], teacher_shape[-1])
    if student_shape[-1] == teacher_shape[-1]:
        with torch.no_grad():
            linear.weight.copy_(torch.eye(student_shape[-1]))
            linear.bias.zero_()
    return linear
