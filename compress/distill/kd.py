"""Knowledge distillation: the loss-mix config, the teacher's outputs, and a training loop.

:class:`DistillConfig` weights the task cross-entropy and the three distillation losses of
:mod:`compress.distill.losses` (soft targets, cosine on hidden states, MSE on regressed
features); :func:`distillation_loss` is their weighted sum. :func:`distill` trains a copy of
the student against a frozen teacher whose outputs are computed once
(:func:`teacher_targets`, under ``no_grad``) and may be shared between runs.

Models used with hidden-state losses must accept ``output_hidden_states=True`` and return an
object with ``.logits`` and ``.hidden_states`` (every Hugging Face model does).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from compress.core.config import config_from_dict
from compress.distill.augment import UNLABELED
from compress.distill.losses import (
    check_label_counts,
    cosine_hidden_loss,
    feature_adapter,
    mse_feature_loss,
    soft_target_loss,
)
from compress.train.evaluate import logits_of
from compress.train.loop import OptimConfig, fit, seeded, start

LOSSES = ("ce", "kd", "cos", "mse")


def _is_number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


@dataclass(frozen=True)
class DistillConfig:
    """Loss weights, temperature, which hidden states to match, and the optimiser settings."""

    temperature: float = 2.0  # T of the soft-target loss; > 0
    ce_weight: float = 1.0  # task cross-entropy on the labels
    kd_weight: float = 0.0  # soft-target KL x T²
    cos_weight: float = 0.0  # 1 - cosine between mapped hidden states
    mse_weight: float = 0.0  # MSE between regressed student features and teacher features
    # (student index, teacher index) into each model's ``hidden_states`` tuple; for HF models
    # index 0 is the embeddings and index i the output of layer i.
    layer_map: tuple[tuple[int, int], ...] = ((-1, -1),)
    epochs: int = 1
    lr: float = 5e-5  # peak AdamW learning rate (linear warm-up, then linear decay to 0)
    weight_decay: float = 0.01  # on matrices only (not biases / norms)
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0  # gradient clipping; 0 disables it
    seed: int = 0  # batch order, dropout, projection/regressor init
    frozen: tuple[str, ...] = ()  # parameter-name prefixes of the student left untrained

    def __post_init__(self) -> None:
        for name in ("layer_map", "frozen"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(
            self,
            "layer_map",
            tuple(tuple(pair) for pair in self.layer_map),  # type: ignore[misc]
        )
        t = self.temperature
        if not (_is_number(t) and t > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {t!r}")
        weights = self.weights
        for name, w in weights.items():
            if not (_is_number(w) and w >= 0):
                raise ValueError(f"{name}_weight must be a finite number >= 0, got {w!r}")
        if not any(weights.values()):
            raise ValueError(
                "all loss weights are zero (ce, kd, cos, mse): set at least one above zero"
            )
        if self.uses_hidden and not self.layer_map:
            raise ValueError("cos_weight/mse_weight > 0 need a non-empty layer_map")
        for pair in self.layer_map:
            if len(pair) != 2 or not all(type(i) is int for i in pair):
                raise ValueError(f"layer_map entries must be (student, teacher) ints: {pair!r}")
        if isinstance(self.epochs, bool) or self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.warmup_ratio < 1):
            raise ValueError(
                f"invalid optimiser settings: lr {self.lr}, weight_decay "
                f"{self.weight_decay}, warmup_ratio {self.warmup_ratio}"
            )
        if self.max_grad_norm < 0:
            raise ValueError(f"max_grad_norm must be >= 0, got {self.max_grad_norm}")

    @property
    def weights(self) -> dict[str, float]:
        """``{"ce": ..., "kd": ..., "cos": ..., "mse": ...}``."""
        return {name: getattr(self, f"{name}_weight") for name in LOSSES}

    @property
    def uses_hidden(self) -> bool:
        """Whether a hidden-state loss (cos or mse) is on."""
        return self.cos_weight > 0 or self.mse_weight > 0

    @property
    def teacher_layers(self) -> tuple[int, ...]:
        """Teacher hidden-state indices the losses read (empty without cos/mse)."""
        return tuple(sorted({t for _, t in self.layer_map})) if self.uses_hidden else ()

    @property
    def id(self) -> str:
        """Readable name of the loss mix, e.g. ``ce+kd`` or ``ce+kd+cos+mse``."""
        return "+".join(name for name, w in self.weights.items() if w > 0)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form (the cache key of a distilled model uses it)."""
        d = asdict(self)
        d["layer_map"] = [list(p) for p in self.layer_map]
        d["frozen"] = list(self.frozen)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ())


def model_outputs(
    model: nn.Module, batch: Mapping[str, torch.Tensor], *, hidden: bool
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """Logits and (if ``hidden``) every hidden state of ``model`` on ``batch``.

    Raises ValueError if hidden states are requested from a model that does not return them.
    """
    if not hidden:
        return logits_of(model, batch), None
    params = inspect.signature(model.forward).parameters
    takes = "output_hidden_states" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
    name = type(model).__name__
    if not takes:
        raise ValueError(
            f"{name} does not return hidden states (its forward has no output_hidden_states "
            f"argument): use only ce/kd losses with it, or give it hidden-state outputs"
        )
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    out = model(**inputs, output_hidden_states=True)
    states = getattr(out, "hidden_states", None)
    if not states:
        raise ValueError(
            f"{name} returned no hidden_states for output_hidden_states=True: "
            f"use only ce/kd losses with it"
        )
    return out.logits, tuple(states)


@dataclass(frozen=True)
class TeacherTargets:
    """The frozen teacher's outputs on a fixed list of batches (computed once, no_grad)."""

    logits: tuple[torch.Tensor, ...]  # per batch, fp32
    hidden: tuple[dict[int, torch.Tensor], ...]  # per batch: teacher layer index -> states
    layers: tuple[int, ...]  # which hidden-state indices were kept

    def __len__(self) -> int:
        return len(self.logits)


def teacher_targets(
    teacher: nn.Module,
    batches: Sequence[Mapping[str, torch.Tensor]],
    layers: Sequence[int] = (),
    *,
    hidden_dtype: torch.dtype = torch.float16,
    progress: bool = True,
) -> TeacherTargets:
    """Run the teacher once over ``batches`` in eval mode under ``no_grad``; keep its logits
    and the hidden states ``layers`` (stored as ``hidden_dtype`` to save memory)."""
    layers = tuple(sorted(set(layers)))
    was_training = teacher.training
    teacher.eval()
    logits, hidden = [], []
    try:
        with torch.no_grad():
            for batch in tqdm(batches, desc="teacher outputs", disable=not progress, leave=False):
                out, states = model_outputs(teacher, batch, hidden=bool(layers))
                logits.append(out.float())
                hidden.append({i: states[i].to(hidden_dtype) for i in layers} if states else {})
    finally:
        teacher.train(was_training)
    return TeacherTargets(tuple(logits), tuple(hidden), layers)


def fill_teacher_labels(
    batches: Sequence[Mapping[str, torch.Tensor]], targets: TeacherTargets
) -> list[dict[str, torch.Tensor]]:
    """Copies of ``batches`` whose :data:`~compress.distill.augment.UNLABELED` rows (augmented
    examples) take the teacher's predicted class; gold labels are kept."""
    if len(targets) != len(batches):
        raise ValueError(f"{len(targets)} teacher targets for {len(batches)} batches")
    filled = []
    for batch, logits in zip(batches, targets.logits, strict=True):
        labels = batch["labels"]
        if len(logits) != len(labels):
            raise ValueError(f"teacher logits for {len(logits)} rows, batch has {len(labels)}")
        unlabeled = labels == UNLABELED
        filled.append({**batch, "labels": torch.where(unlabeled, logits.argmax(-1), labels)})
    return filled


def distillation_loss(
    config: DistillConfig,
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    student_hidden: Sequence[torch.Tensor] | None = None,
    teacher_hidden: Mapping[int, torch.Tensor] | None = None,
    *,
    mask: torch.Tensor | None = None,
    projections: Sequence[nn.Module] | None = None,
    regressors: Sequence[nn.Module] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the task CE and the enabled distillation losses; also each term.

    Hidden-state terms are averaged over the ``config.layer_map`` pairs; ``projections`` and
    ``regressors`` hold one adapter per pair (projections may be None: identity).
    """
    check_label_counts(student_logits, teacher_logits)
    parts: dict[str, torch.Tensor] = {}
    if config.ce_weight > 0:
        if bool((labels < 0).any()):
            raise ValueError(
                "the task cross-entropy got labels < 0 (unlabelled rows, e.g. augmented "
                "examples): label them with fill_teacher_labels, or set ce_weight=0"
            )
        parts["ce"] = F.cross_entropy(student_logits, labels)
    if config.kd_weight > 0:
        parts["kd"] = soft_target_loss(student_logits, teacher_logits, config.temperature)
    if config.uses_hidden:
        if student_hidden is None or teacher_hidden is None:
            raise ValueError("cos/mse losses need student and teacher hidden states")
        pairs = [(student_hidden[s], teacher_hidden[t]) for s, t in config.layer_map]
        if config.cos_weight > 0:
            projs = projections or [None] * len(pairs)
            parts["cos"] = torch.stack(
                [cosine_hidden_loss(s, t, mask, p) for (s, t), p in zip(pairs, projs, strict=True)]
            ).mean()
        if config.mse_weight > 0:
            if regressors is None:
                raise ValueError("the mse loss needs one regressor per layer_map pair")
            regs = zip(pairs, regressors, strict=True)
            parts["mse"] = torch.stack(
                [mse_feature_loss(s, t, r, mask) for (s, t), r in regs]
            ).mean()
    total = sum(config.weights[name] * value for name, value in parts.items())
    return total, {name: float(value.detach()) for name, value in parts.items()}


def _adapters(
    config: DistillConfig,
    student_states: Sequence[torch.Tensor],
    teacher: Mapping[int, torch.Tensor],
) -> tuple[nn.ModuleList, nn.ModuleList]:
    projections, regressors = nn.ModuleList(), nn.ModuleList()
    for s, t in config.layer_map:
        s_shape, t_shape = student_states[s].shape, teacher[t].shape
        if config.cos_weight > 0:
            same = s_shape[1:] == t_shape[1:]
            projections.append(nn.Identity() if same else feature_adapter(s_shape, t_shape))
        if config.mse_weight > 0:
            regressors.append(feature_adapter(s_shape, t_shape))
    return projections, regressors


def optim_config(config: DistillConfig) -> OptimConfig:
    """AdamW (decay on matrices only), linear warm-up from step 1, linear decay, clipping."""
    return OptimConfig(
        kind="adamw", lr=config.lr, weight_decay=config.weight_decay,
        no_decay="vectors-layernorm", schedule="linear", warmup_ratio=config.warmup_ratio,
        warmup_from=1, max_grad_norm=config.max_grad_norm or None,
    )  # fmt: skip


def distill(
    student: nn.Module,
    config: DistillConfig,
    *,
    teacher: nn.Module,
    batches: Sequence[Mapping[str, torch.Tensor]],
    targets: TeacherTargets | None = None,
    progress: bool = True,
) -> nn.Module:
    """Train a copy of ``student`` against the frozen ``teacher``; return it in eval mode.

    Each epoch visits ``batches`` (each with ``labels``) in a seeded random order. The
    teacher runs once over them (``teacher_targets``), or ``targets`` computed earlier for the
    same batches are used. Neither model is modified. AdamW with linear warm-up and decay.
    """
    if not batches:
        raise ValueError("distillation needs at least one training batch; got 0")
    if targets is None:
        targets = teacher_targets(teacher, batches, config.teacher_layers, progress=progress)
    if len(targets) != len(batches):
        raise ValueError(f"{len(targets)} teacher targets for {len(batches)} batches")
    missing = set(config.teacher_layers) - set(targets.layers)
    if missing:
        raise ValueError(f"teacher targets lack hidden states {sorted(missing)}")
    with seeded(config.seed):
        work = copy.deepcopy(student).train()
        for name, p in work.named_parameters():
            if name.startswith(config.frozen):
                p.requires_grad_(False)
        with torch.no_grad():
            logits0, states0 = model_outputs(work, batches[0], hidden=config.uses_hidden)
        check_label_counts(logits0, targets.logits[0])
        projections, regressors = (
            _adapters(config, states0, targets.hidden[0]) if states0 else (nn.ModuleList(),) * 2
        )
        order = torch.Generator().manual_seed(config.seed)

        def epoch_batches(_: int) -> Iterator[int]:  # a seeded random order of batch indices
            yield from torch.randperm(len(batches), generator=order).tolist()

        def loss(i: int) -> tuple[torch.Tensor, dict[str, float]]:
            logits, states = model_outputs(work, batches[i], hidden=config.uses_hidden)
            return distillation_loss(
                config, logits, batches[i]["labels"], targets.logits[i], states,
                targets.hidden[i], mask=batches[i].get("attention_mask"),
                projections=list(projections) or None, regressors=list(regressors) or None,
            )  # fmt: skip

        steps = config.epochs * len(batches)
        loop = start([work, projections, regressors], optim_config(config), steps,
                     frozen=config.frozen)  # fmt: skip
        fit(loop, epoch_batches, loss, epochs=config.epochs, total=steps,
            desc=f"distill {config.id}", progress=progress)  # fmt: skip
    return work.eval()


def student_from_teacher(teacher: nn.Module, layers: tuple[int, ...] = (0, 2, 4)) -> nn.Module:
    """A model of the teacher's class (a BERT-family classifier: ``*.encoder.layer.<i>.*``
    parameters) with ``len(layers)`` encoder layers copied from ``teacher``'s ``layers``
    (embeddings, pooler and classifier copied too); the teacher is untouched."""
    n = teacher.config.num_hidden_layers
    if not layers or len(set(layers)) != len(layers) or not all(0 <= i < n for i in layers):
        raise ValueError(f"layers must be distinct indices in 0..{n - 1}, got {layers}")
    config = teacher.config.__class__.from_dict(teacher.config.to_dict())
    config.num_hidden_layers = len(layers)
    student = type(teacher)(config)
    state = {}
    for name, value in teacher.state_dict().items():
        if ".encoder.layer." in name:
            head, rest = name.split(".encoder.layer.", 1)
            index, tail = rest.split(".", 1)
            if int(index) not in layers:
                continue
            name = f"{head}.encoder.layer.{layers.index(int(index))}.{tail}"
        state[name] = value.clone()
    student.load_state_dict(state, strict=True)
    return student.eval()
