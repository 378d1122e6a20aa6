"""One training loop and one optimiser builder for every model the suite trains.

``optimizer_for`` builds the optimiser and learning-rate schedule an ``OptimConfig`` declares;
``fit`` runs the steps: loss, backward, an ``after_backward`` hook (fine-pruning reads its gate
gradients there), gradient clipping, optimiser and schedule step, an ``after_step`` hook (mask
updates, observer freezing), progress. Batches come from a function of the epoch, so each
technique decides its own order and padding (``fixtures.models.bert.Encoded.bucketed`` for BERT).

Dropout draws from torch's global generator, so a run is reproducible only from a seeded
global state: ``fit`` does not seed it; ``seeded`` does so for a block and then restores the
state the caller had.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from compress.core.config import config_from_dict

KINDS = ("adamw", "adam", "sgd")
NO_DECAY = ("none", "bias-layernorm", "vectors-layernorm")
SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class OptimConfig:
    """The optimiser, its learning-rate schedule and clipping: everything that changes a run.

    ``warmup_from`` is where the linear warm-up starts counting: 0 gives lr x step / warmup
    (transformers' ``get_linear_schedule_with_warmup``), 1 gives lr x (step + 1) / warmup.
    Both exist because cached models were trained with each; new recipes use 0.
    """

    kind: str = "adamw"  # "adamw", "adam" or "sgd" (plain: no momentum)
    lr: float = 1e-4
    weight_decay: float = 0.0  # decoupled (AdamW), on the parameters ``no_decay`` does not exempt
    no_decay: str = "none"  # "bias-layernorm": names ending in bias / LayerNorm.weight;
    # "vectors-layernorm": parameters of dim < 2 or with LayerNorm in their name
    schedule: str = "constant"  # "linear": warm-up, then linear decay to 0 at the last step
    warmup_ratio: float = 0.0
    warmup_from: int = 0
    max_grad_norm: float | None = None  # clip the global gradient norm; None: no clipping

    def __post_init__(self) -> None:
        for name, value, allowed in (("kind", self.kind, KINDS),
                                     ("no_decay", self.no_decay, NO_DECAY),
                                     ("schedule", self.schedule, SCHEDULES)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.warmup_from not in (0, 1):
            raise ValueError(f"warmup_from must be 0 or 1, got {self.warmup_from}")
        if self.weight_decay < 0 or (self.max_grad_norm is not None and self.max_grad_norm <= 0):
            raise ValueError("weight_decay must be >= 0 and max_grad_norm > 0 (or None)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OptimConfig:
        return config_from_dict(cls, data)


def param_groups(
    modules: Sequence[nn.Module], config: OptimConfig, frozen: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The trainable parameters of ``modules`` (names starting with ``frozen`` and parameters
    that need no gradient left out), split into a decayed and an exempt group."""
    decay, exempt = [], []
    for module in modules:
        for name, p in module.named_parameters():
            if not p.requires_grad or (frozen and name.startswith(frozen)):
                continue
            if config.no_decay == "bias-layernorm":
                skip = name.endswith(("bias", "LayerNorm.weight"))
            elif config.no_decay == "vectors-layernorm":
                skip = p.dim() < 2 or "LayerNorm" in name
            else:
                skip = False
            (exempt if skip else decay).append(p)
    if config.no_decay == "none":
        return [{"params": decay, "weight_decay": config.weight_decay}]
    return [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": exempt, "weight_decay": 0.0},
    ]


def lr_factor(config: OptimConfig, total: int, done: int = 0) -> Callable[[int], float]:
    """The schedule's multiplier of the peak lr at step ``i`` (counted from ``done``)."""
    warmup = int(config.warmup_ratio * total)

    def factor(i: int) -> float:
        step = i + done
        if config.schedule == "constant":
            return 1.0
        if step < warmup:
            return float(step + config.warmup_from) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    return factor


def optimizer_for(
    modules: nn.Module | Sequence[nn.Module],
    config: OptimConfig,
    total: int,
    *,
    done: int = 0,
    frozen: tuple[str, ...] = (),
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser over ``modules``' trainable parameters and its schedule over ``total``
    steps, fast-forwarded by ``done`` (a run that changes its model mid-way rebuilds both)."""
    modules = [modules] if isinstance(modules, nn.Module) else list(modules)
    groups = param_groups(modules, config, frozen)
    if config.kind == "adamw":
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=config.lr)
    elif config.kind == "adam":
        optimizer = torch.optim.Adam(groups, lr=config.lr)
    else:
        optimizer = torch.optim.SGD(groups, lr=config.lr)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config, total, done))


@dataclass
class Loop:
    """The state of a run that hooks may read or replace (fine-pruning swaps the optimiser
    when it compacts its model)."""

    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    clip: list[torch.Tensor]  # parameters whose global gradient norm is clipped, in this order
    max_grad_norm: float | None
    step: int = 0
    epoch: int = 0
    info: dict[str, Any] = field(default_factory=dict)  # shown beside the progress bar


Loss = Callable[[Any], "torch.Tensor | tuple[torch.Tensor, dict[str, float]]"]


def fit(
    loop: Loop,
    batches: Callable[[int], Iterable[Any]],
    loss_fn: Loss,
    *,
    epochs: int,
    total: int | None = None,
    after_backward: Callable[[Loop], None] | None = None,
    after_step: Callable[[Loop, torch.Tensor], None] | None = None,
    before_epoch: Callable[[Loop], None] | None = None,
    desc: str = "train",
    progress: bool = True,
) -> Loop:
    """Train for ``epochs`` passes over ``batches(epoch)`` (stopping after ``total`` steps if
    given). ``loss_fn`` returns the loss, or (loss, figures to show). A non-finite loss stops
    the run with a ValueError naming the step."""
    bar = tqdm(total=total, desc=desc, disable=not progress, leave=False)
    with bar:
        for loop.epoch in range(epochs):
            if before_epoch is not None:
                before_epoch(loop)
            for batch in batches(loop.epoch):
                if total is not None and loop.step >= total:
                    return loop
                out = loss_fn(batch)
                loss, shown = out if isinstance(out, tuple) else (out, {"loss": out.item()})
                if not torch.isfinite(loss):
                    raise ValueError(f"{desc}: the loss became {loss.item()} at step {loop.step}")
                loss.backward()
                if after_backward is not None:
                    after_backward(loop)
                if loop.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(loop.clip, loop.max_grad_norm)
                loop.optimizer.step()
                loop.schedule.step()
                loop.optimizer.zero_grad(set_to_none=True)
                loop.step += 1
                if after_step is not None:
                    after_step(loop, loss)
                bar.set_postfix(epoch=loop.epoch + 1, **{k: f"{v:.3f}" for k, v in shown.items()})
                bar.update()
    return loop


def start(
    modules: nn.Module | Sequence[nn.Module],
    config: OptimConfig,
    total: int,
    *,
    frozen: tuple[str, ...] = (),
    clip: Iterable[torch.Tensor] | None = None,
) -> Loop:
    """A fresh ``Loop``: optimiser and schedule for ``config``; ``clip`` defaults to the
    optimiser's parameters, in group order."""
    optimizer, schedule = optimizer_for(modules, config, total, frozen=frozen)
    params = [p for g in optimizer.param_groups for p in g["params"]] if clip is None else clip
    return Loop(optimizer, schedule, list(params), config.max_grad_norm)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator (dropout, initialisation) for the block, then restore the
    caller's state: training is reproducible and leaves no trace on the RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
