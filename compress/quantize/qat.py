"""Quantization-aware training (eager mode): train with fake int8, then convert to real int8.

Like static PTQ, either the model carries a QuantStub/DeQuantStub pair and ReLU modules
(``modules="model"``), or every ``nn.Linear`` gets its own pair (``modules="linear"``, for
Hugging Face BERT; see ``compress.quantize.static``). The forward passes during training round
weights and activations to int8 grids (fake-quant), so the weights learn to tolerate the
rounding the converted model will do.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from compress.core import torch_ao as _torch_ao
from compress.core.config import config_from_dict
from compress.quantize.dynamic import check_engine, resolve_engine
from compress.quantize.static import (
    SCOPES,
    PercentileObserver,
    activation_range,
    assign_qconfig,
    weight_observer,
)
from compress.train.evaluate import logits_of
from compress.train.loop import Loop, OptimConfig, fit, seeded, start

ACTIVATION_OBSERVERS = ("moving-minmax", "percentile")


@dataclass(frozen=True)
class QATConfig:
    """How long and how hard to fine-tune with fake-quant, and for which kernels."""

    epochs: int = 3
    lr: float = 1e-3
    per_channel_weights: bool = True  # one weight scale per output channel (else per tensor)
    engine: str = "auto"  # quantized engine; "auto": quantize.dynamic.default_engine()
    seed: int = 0  # seeds the batch order and any randomness in the model
    modules: str = "model"  # "model": between the model's own stubs; "linear": every nn.Linear
    # Activation ranges: a moving-average min-max (torch's default), or the percentile observer
    # of static PTQ, which ignores BERT's rare activation outliers (see quantize_static).
    activation_observer: str = "moving-minmax"
    percentile: float = 99.99  # used only by activation_observer="percentile"
    # Stop updating every observer after this many steps (0: never), so the rest of training
    # adapts the weights to fixed int8 grids: calibrate first, then train.
    freeze_observers_after: int = 0
    # module-name groups fused before quantization (e.g. (("conv1", "relu1"),)): part of
    # the config because fusing changes the result
    fuse: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fuse", tuple(tuple(group) for group in self.fuse))
        if not all(group and all(isinstance(n, str) for n in group) for group in self.fuse):
            raise ValueError(f"fuse must be groups of module names, got {self.fuse!r}")
        if self.modules not in SCOPES:
            raise ValueError(f"unknown modules {self.modules!r}; expected one of {SCOPES}")
        if self.activation_observer not in ACTIVATION_OBSERVERS:
            raise ValueError(
                f"unknown activation_observer {self.activation_observer!r}; "
                f"expected one of {ACTIVATION_OBSERVERS}"
            )
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {self.percentile}")
        if isinstance(self.freeze_observers_after, bool) or self.freeze_observers_after < 0:
            raise ValueError(
                f"freeze_observers_after must be >= 0, got {self.freeze_observers_after}"
            )
        if isinstance(self.epochs, bool) or self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        check_engine(self.engine)

    @property
    def resolved_engine(self) -> str:
        """The engine that will actually run."""
        return resolve_engine(self.engine)

    @property
    def id(self) -> str:
        """Short readable name, e.g. ``qat-e3-lr0.001-perchannel-auto``."""
        gran = "perchannel" if self.per_channel_weights else "pertensor"
        scope = "" if self.modules == "model" else "linear-"
        obs = "" if self.activation_observer == "moving-minmax" else f"p{self.percentile:g}-"
        return f"qat-{scope}{obs}e{self.epochs}-lr{self.lr:g}-{gran}-{self.engine}"

    def qconfig(self) -> Any:
        """The torch.ao QAT QConfig: moving-average observers feeding fused fake-quant."""
        qmin, qmax = activation_range(self.resolved_engine)
        fake = _torch_ao.FusedMovingAvgObsFakeQuantize
        act_kwargs = {"dtype": torch.quint8, "quant_min": qmin, "quant_max": qmax}
        if self.activation_observer == "percentile":
            activation = _torch_ao.FakeQuantize.with_args(
                observer=PercentileObserver, percentile=self.percentile, **act_kwargs
            )
        else:
            activation = fake.with_args(
                observer=_torch_ao.MovingAverageMinMaxObserver, **act_kwargs
            )
        weight_cls, weight_kwargs = weight_observer(self.per_channel_weights, moving_average=True)
        weight = fake.with_args(observer=weight_cls, **weight_kwargs)
        return _torch_ao.QConfig(activation=activation, weight=weight)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, with the engine resolved."""
        out = {"method": "qat", **asdict(self), "engine": self.resolved_engine}
        fuse = out.pop("fuse")  # absent when empty: dicts written before the field stay identical
        if fuse:
            out["fuse"] = [list(group) for group in fuse]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QATConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ("method",))


def prepare_qat(model: nn.Module, config: QATConfig | None = None) -> nn.Module:
    """Return a train-mode copy of ``model`` with fake-quant modules inserted; input untouched.

    With ``config.modules == "model"``, ``model`` must contain a QuantStub/DeQuantStub pair;
    with ``"linear"`` each nn.Linear gets its own; ``config.fuse`` groups are fused first.
    """
    config = config or QATConfig()
    work = copy.deepcopy(model).train()
    if config.fuse:
        work = _torch_ao.fuse_modules_qat(work, [list(group) for group in config.fuse])
    torch.backends.quantized.engine = config.resolved_engine
    return _torch_ao.prepare_qat(assign_qconfig(work, config.qconfig(), config.modules))


def convert_qat(model: nn.Module) -> nn.Module:
    """Return the int8 model a fake-quant (prepared) model stands for; input untouched."""
    return _torch_ao.convert(copy.deepcopy(model).eval())


def fit_qat_(
    qat: nn.Module,
    config: QATConfig | None = None,
    *,
    batches: Sequence[Mapping[str, torch.Tensor]],
    progress: bool = True,
) -> nn.Module:
    """Fine-tune a prepared (fake-quant) model in place: cross-entropy on ``labels``, Adam,
    ``config.epochs`` passes in a seeded random batch order; observers are frozen after
    ``config.freeze_observers_after`` steps. Returns ``qat``."""
    config = config or QATConfig()
    if not batches:
        raise ValueError("QAT needs at least one training batch; got 0")
    qat.train()
    order = torch.Generator().manual_seed(config.seed)

    def epoch_batches(_: int) -> Iterator[Mapping[str, torch.Tensor]]:
        for i in torch.randperm(len(batches), generator=order).tolist():
            yield batches[i]

    def freeze(loop: Loop, _: torch.Tensor) -> None:
        if loop.step == config.freeze_observers_after:
            qat.apply(_torch_ao.disable_observer)

    steps = config.epochs * len(batches)
    loss = lambda b: F.cross_entropy(logits_of(qat, b), b["labels"])  # noqa: E731
    with seeded(config.seed), _torch_ao.quiet_deprecations():
        loop = start(qat, OptimConfig(kind="adam", lr=config.lr), steps)
        fit(loop, epoch_batches, loss, epochs=config.epochs, total=steps, after_step=freeze,
            desc="QAT", progress=progress)  # fmt: skip
    return qat


def train_qat(
    model: nn.Module,
    config: QATConfig | None = None,
    *,
    batches: Sequence[Mapping[str, torch.Tensor]],
    progress: bool = True,
) -> nn.Module:
    """Fine-tune a fake-quant copy of ``model`` (see ``fit_qat_``) and return it converted to
    int8. ``model`` is usually a trained fp32 model; it is untouched.

    Sets ``torch.backends.quantized.engine`` to the config's engine and leaves it set.
    """
    config = config or QATConfig()
    if not batches:
        raise ValueError("QAT needs at least one training batch; got 0")
    qat = prepare_qat(model, config)
    return convert_qat(fit_qat_(qat, config, batches=batches, progress=progress))
