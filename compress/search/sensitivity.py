"""Per-layer int8 sensitivity: which Linear layers to keep in fp32 (mixed precision).

Each Linear is quantized alone (dynamic int8, every other layer fp32) and scored by how far
the model's output distribution moves: the mean KL divergence KL(p_fp32 || p_int8) of the
softmax outputs over the given batches (a regression head's single output has no
distribution: its mean squared difference instead). A continuous score ranks layers where a
label metric on a few hundred examples would tie most of them; keeping the top k in fp32 is
the per-layer fallback of accuracy-aware tuning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from compress.distill.losses import soft_target_loss
from compress.quantize.dynamic import DynamicQuantConfig, quantize_dynamic
from compress.train.evaluate import logits_of


def linear_names(model: nn.Module) -> list[str]:
    """Qualified names of the model's ``nn.Linear`` modules, in module order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def _logits(model: nn.Module, batches: Sequence[Mapping[str, torch.Tensor]]) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([logits_of(model, b).float() for b in batches])


def rank_linear_layers(
    model: nn.Module,
    batches: Sequence[Mapping[str, torch.Tensor]],
    config: DynamicQuantConfig | None = None,
) -> list[tuple[str, float]]:
    """(layer name, mean KL in nats; a regression head: MSE) for every Linear, most sensitive
    first; ``model`` is left untouched. ``config`` says how a layer is quantized (its
    ``keep_fp32`` is replaced)."""
    if not batches:
        raise ValueError("rank_linear_layers needs at least one batch")
    names = linear_names(model)
    if not names:
        raise ValueError("the model has no nn.Linear layer to rank")
    config = config or DynamicQuantConfig()
    reference = _logits(model, batches)
    scores = []
    for name in names:
        others = tuple(n for n in names if n != name)
        one = DynamicQuantConfig(config.module_types, config.dtype, config.engine, others,
                                 config.fixed_point)  # fmt: skip
        moved = _logits(quantize_dynamic(model, one), batches)
        scores.append((name, _moved(moved, reference)))
    return sorted(scores, key=lambda item: -item[1])


def _moved(outputs: torch.Tensor, reference: torch.Tensor) -> float:
    """How far ``outputs`` moved from ``reference``: the mean KL of the class distributions,
    or for one output per input (a regression head, whose softmax is always 1) the MSE."""
    if reference.shape[-1] == 1:
        return float(F.mse_loss(outputs, reference))
    return float(soft_target_loss(outputs, reference, temperature=1.0))
