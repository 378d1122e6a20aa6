"""Fine-pruning: fine-tune a BERT classifier while removing heads and FFN neurons.

Masks follow a cubic sparsity schedule (Zhu & Gupta 2017): ``warmup_ratio`` of the steps at
sparsity 0 (scores accumulate), a cubic ramp, then ``cooldown_ratio`` of the steps at the final
sparsity. Scores (``score``):

- ``magnitude``: L2 norm of the unit's weights, recomputed at every mask update;
- ``movement`` (Sanh et al. 2020): S accumulates -dL/dgate = -sum(W * dL/dW) over the unit's
  output weights (straight-through: masked units keep receiving scores);
- ``taylor`` (Molchanov et al. 2019): accumulates |dL/dgate| per batch, the first-order
  estimate of the loss change when the unit is removed.

On an already fine-tuned model the gradients are near zero on average, so movement's sign is
noise and one-shot movement masks can remove critical units; movement belongs to fine-pruning
from the *pretrained* model, as in Sanh et al. Both are measured in
``benchmarks/test_prune_structured.py``; Taylor from the fine-tuned model is its CI recipe.
The fine-tuned (unpruned) model can act as a distillation teacher. Once the final sparsity is
reached the masks freeze and the cool-down trains the compacted (faster) model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from compress.core.config import config_from_dict
from compress.distill.losses import soft_target_loss
from compress.measure.meters import pinned_threads
from compress.prune.structured import (
    Gates,
    Masks,
    compact,
    expand,
    magnitude_scores,
    select_masks,
)
from compress.train.loop import Loop, OptimConfig, fit, optimizer_for, seeded, start

SCORES = ("magnitude", "movement", "taylor")


@dataclass(frozen=True)
class StructuredPruneConfig:
    """Targets, score and schedule of structured fine-pruning (head / FFN-neuron)."""

    head_sparsity: float = 0.5  # fraction of all attention heads removed at the end
    ffn_sparsity: float = 0.75  # fraction of all FFN intermediate neurons removed at the end
    score: str = "movement"  # one of SCORES
    min_heads: int = 1  # heads every layer keeps (>= 1: an empty attention is not supported)
    min_neurons: int = 1  # FFN neurons every layer keeps (>= 1)
    epochs: float = 2.0  # passes over the training batches (fractional allowed)
    lr: float = 1e-4  # peak AdamW lr (linear warm-up 10% then linear decay)
    warmup_ratio: float = 0.1  # steps at sparsity 0 (scores accumulate), fraction of all steps
    cooldown_ratio: float = 0.5  # final steps at final sparsity, on the compacted model
    update_every: int = 4  # recompute masks every this many steps during the ramp
    distill_alpha: float = 0.5  # weight of the KL to the teacher's logits (0: plain CE)
    temperature: float = 2.0  # distillation temperature
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("head_sparsity", "ffn_sparsity", "distill_alpha"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        if self.min_heads < 1 or self.min_neurons < 1:
            raise ValueError(
                "min_heads and min_neurons must be >= 1 (a layer with no head or no FFN neuron "
                f"is not supported), got {self.min_heads}, {self.min_neurons}"
            )
        if not (self.epochs > 0 and self.lr > 0 and self.temperature > 0 and self.update_every):
            raise ValueError(f"epochs, lr, temperature and update_every must be > 0: {self}")
        if not (self.warmup_ratio >= 0 and self.cooldown_ratio >= 0) or (
            self.warmup_ratio + self.cooldown_ratio >= 1
        ):
            raise ValueError(
                f"need warmup_ratio, cooldown_ratio >= 0 with sum < 1, got "
                f"{self.warmup_ratio} + {self.cooldown_ratio}"
            )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StructuredPruneConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ())


def cubic_sparsity(step: int, total: int, final: float, warmup: int, cooldown: int) -> float:
    """Zhu & Gupta's schedule: 0 for ``warmup`` steps, cubic ramp, ``final`` for ``cooldown``."""
    ramp = max(total - warmup - cooldown, 1)
    if step < warmup:
        return 0.0
    if step >= warmup + ramp:
        return final
    return final * (1.0 - (1.0 - (step - warmup) / ramp) ** 3)


@dataclass(frozen=True)
class FinePruned:
    """A fine-pruned model (full shapes, pruned units' outputs gated to 0) and its masks."""

    model: nn.Module  # weights after fine-pruning; apply ``masks`` (Gates or compact) to use
    masks: Masks
    history: list[dict[str, float]]  # per mask update: step, sparsities, loss


class GateScores:
    """First-order unit scores summed over backward passes: |dL/dgate| ("taylor") or
    -dL/dgate ("movement", Sanh et al. 2020) for every head and FFN neuron."""

    def __init__(self, masks: Masks, score: str) -> None:
        if score not in ("taylor", "movement"):
            raise ValueError(f"gradient scores are 'taylor' or 'movement', got {score!r}")
        self.score = score
        self.heads = [torch.zeros_like(m) for m in masks.heads]
        self.ffn = [torch.zeros_like(m) for m in masks.ffn]

    def add(self, gates: Gates) -> None:
        """Add the gates' current gradients, then clear them."""
        for acc, gate in zip(self.heads + self.ffn, gates.heads + gates.ffn, strict=True):
            grad = gate.grad.detach()
            acc.add_(grad.abs() if self.score == "taylor" else -grad)
            gate.grad = None


def gradient_scores(
    model: nn.Module, batches: Sequence[dict[str, torch.Tensor]], score: str
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """One-shot scores: ``score`` summed over one backward pass per batch (labels included);
    the model's weights are untouched and its gradients cleared."""
    masks = Masks.ones(model)
    scores = GateScores(masks, score)
    with Gates(model, masks, track_grad=True) as gates:
        for batch in batches:
            model(**batch).loss.backward()
            scores.add(gates)
    model.zero_grad(set_to_none=True)
    return scores.heads, scores.ffn


def _loss(
    student: list[nn.Module], teacher: nn.Module | None, config: StructuredPruneConfig
) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """Cross-entropy on the labels, mixed with the soft-target loss to ``teacher`` if any."""

    def loss(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = student[0](**batch)
        if teacher is None or config.distill_alpha == 0:
            return out.loss
        with torch.no_grad():
            t_logits = teacher(**{k: v for k, v in batch.items() if k != "labels"}).logits
        kd = soft_target_loss(out.logits, t_logits, config.temperature)
        return (1 - config.distill_alpha) * out.loss + config.distill_alpha * kd

    return loss


def optim_config(config: StructuredPruneConfig) -> OptimConfig:
    """AdamW (decay 0.01 on every weight), 10% linear warm-up from step 1, linear decay."""
    return OptimConfig(
        kind="adamw", lr=config.lr, weight_decay=0.01, schedule="linear", warmup_ratio=0.1,
        warmup_from=1, max_grad_norm=1.0,
    )  # fmt: skip


def fine_prune(
    model: nn.Module,
    config: StructuredPruneConfig,
    *,
    batches: Callable[[int], list[dict[str, torch.Tensor]]],
    teacher: nn.Module | None = None,
    threads: int | None = None,
) -> FinePruned:
    """Fine-tune a copy of ``model`` while pruning heads and FFN neurons to the config's target.

    ``batches(epoch)`` returns that epoch's training batches (dicts with ``labels``).
    ``teacher`` (e.g. the unpruned model) adds a distillation term when ``distill_alpha`` > 0.
    Once the final sparsity is reached the masks are frozen and the cool-down steps train the
    compacted model (faster); the result is expanded back to full shapes (pruned units keep
    their last weights and stay masked).
    """
    full = copy.deepcopy(model).train()
    trained = [full]  # the model being trained: the compacted one once the masks are final
    total = max(1, math.ceil(config.epochs * len(batches(0))))
    warmup, cooldown = round(config.warmup_ratio * total), round(config.cooldown_ratio * total)
    ramp_end = total - cooldown
    masks = Masks.ones(full)
    scores = GateScores(masks, config.score) if config.score != "magnitude" else None
    history: list[dict[str, float]] = []
    gates: list[Gates] = [Gates(full, masks, True)]
    optim = optim_config(config)

    def accumulate(_: Loop) -> None:  # first-order scores from the gates' gradients
        if scores is not None:
            scores.add(gates[0])
        else:  # magnitude scores read the weights; the gate gradients are not used
            for gate in gates[0].heads + gates[0].ffn:
                gate.grad = None

    def update(loop: Loop, loss: torch.Tensor) -> None:  # masks on schedule; compact at the end
        nonlocal masks
        step = loop.step
        if step >= warmup and (step % config.update_every == 0 or step >= ramp_end):
            hs = cubic_sparsity(step, total, config.head_sparsity, warmup, cooldown)
            fs = cubic_sparsity(step, total, config.ffn_sparsity, warmup, cooldown)
            units = magnitude_scores(full) if scores is None else (scores.heads, scores.ffn)
            masks = select_masks(*units, hs, fs, config.min_heads, config.min_neurons)
            gates[0].set(masks)
            history.append({"step": step, "head": hs, "ffn": fs, "loss": loss.item()})
        if step >= ramp_end:  # final masks: train the small model from here on
            gates.pop().remove()
            trained[0] = compact(full, masks).train()
            loop.optimizer, loop.schedule = optimizer_for(trained[0], optim, total, done=step)
            loop.clip = list(trained[0].parameters())

    with seeded(config.seed), pinned_threads(threads or torch.get_num_threads()):
        fit(
            start(full, optim, total, clip=full.parameters()), batches,
            _loss(trained, teacher, config), epochs=math.ceil(config.epochs), total=total,
            after_backward=lambda loop: accumulate(loop) if gates else None,
            after_step=lambda loop, loss: update(loop, loss) if gates else None,
            desc=f"fine-prune ({config.score})",
        )  # fmt: skip
    if gates:
        gates.pop().remove()
    student = trained[0]
    result = expand(full, student, masks) if student is not full else full.eval()
    return FinePruned(result, masks, history)
