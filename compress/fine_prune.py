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
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from compress.measure import pinned_threads
from compress.prune_structured import (
    Gates,
    Masks,
    compact,
    expand,
    magnitude_scores,
    select_masks,
)

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


def cubic_sparsity(step: int, total: int, final: float, warmup: int, cooldown: int) -> float:
    """Zhu & Gupta's schedule: 0 for ``warmup`` steps, cubic ramp, ``final`` for ``cooldown``."""
    ramp = max(total - warmup - cooldown, 1)
    if step < warmup:
        return 0.0
    if step >= warmup + ramp:
        return final
    return final * (1.0 - (1.0 - (step - warmup) / ramp) ** 3)


def _kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.kl_div(
        F.log_softmax(student / temperature, -1),
        F.softmax(teacher / temperature, -1),
        reduction="batchmean",
    ) * temperature**2


@dataclass(frozen=True)
class FinePruned:
    """A fine-pruned model (full shapes, pruned units' outputs gated to 0) and its masks."""

    model: nn.Module  # weights after fine-pruning; apply ``masks`` (Gates or compact) to use
    masks: Masks
    history: list[dict[str, float]]  # per mask update: step, sparsities, loss


def _train_step(
    student: nn.Module,
    teacher: nn.Module | None,
    batch: dict[str, torch.Tensor],
    config: StructuredPruneConfig,
) -> torch.Tensor:
    out = student(**batch)
    loss = out.loss
    if teacher is not None and config.distill_alpha > 0:
        with torch.no_grad():
            t_logits = teacher(**{k: v for k, v in batch.items() if k != "labels"}).logits
        kd = _kl(out.logits, t_logits, config.temperature)
        loss = (1 - config.distill_alpha) * loss + config.distill_alpha * kd
    loss.backward()
    return loss


def _optimizer(model: nn.Module, lr: float, warmup: int, total: int, done: int):
    """AdamW with linear warm-up then linear decay, fast-forwarded by ``done`` steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)

    def factor(step: int) -> float:
        step += done
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fine_prune(
    model: nn.Module,
    batches: Callable[[int], list[dict[str, torch.Tensor]]],
    config: StructuredPruneConfig,
    *,
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
    torch.manual_seed(config.seed)
    full = copy.deepcopy(model).train()
    student = full
    per_epoch = len(batches(0))
    total = max(1, math.ceil(config.epochs * per_epoch))
    warmup, cooldown = round(config.warmup_ratio * total), round(config.cooldown_ratio * total)
    ramp_end = total - cooldown
    lr_warmup = int(0.1 * total)
    optimizer, schedule = _optimizer(student, config.lr, lr_warmup, total, 0)
    masks = Masks.ones(student)
    acc_heads = [torch.zeros_like(m) for m in masks.heads]
    acc_ffn = [torch.zeros_like(m) for m in masks.ffn]
    history: list[dict[str, float]] = []
    progress = tqdm(total=total, desc=f"fine-prune ({config.score})", leave=False)
    gates: Gates | None = Gates(student, masks, True)
    with pinned_threads(threads or torch.get_num_threads()):
        step = 0
        for epoch in range(math.ceil(config.epochs)):
            for batch in batches(epoch):
                if step >= total:
                    break
                loss = _train_step(student, teacher, batch, config)
                if gates is not None:
                    pairs = zip(acc_heads + acc_ffn, gates.heads + gates.ffn, strict=True)
                    for acc, gate in pairs:
                        grad = gate.grad.detach()
                        acc.add_(grad.abs() if config.score == "taylor" else -grad)
                        gate.grad = None
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if gates is not None and step >= warmup and (
                    step % config.update_every == 0 or step >= ramp_end
                ):
                    hs = cubic_sparsity(step, total, config.head_sparsity, warmup, cooldown)
                    fs = cubic_sparsity(step, total, config.ffn_sparsity, warmup, cooldown)
                    scores = (
                        magnitude_scores(student)
                        if config.score == "magnitude"
                        else (acc_heads, acc_ffn)
                    )
                    masks = select_masks(*scores, hs, fs, config.min_heads, config.min_neurons)
                    gates.set(masks)
                    history.append({"step": step, "head": hs, "ffn": fs, "loss": loss.item()})
                if gates is not None and step >= ramp_end:  # final masks: train the small model
                    gates.remove()
                    gates = None
                    student = compact(full, masks).train()
                    optimizer, schedule = _optimizer(student, config.lr, lr_warmup, total, step)
                progress.set_postfix(loss=f"{loss.item():.3f}")
                progress.update()
    progress.close()
    if gates is not None:
        gates.remove()
    result = expand(full, student, masks) if student is not full else full.eval()
    return FinePruned(result, masks, history)


