"""Quantization-aware training (eager mode): train with fake int8, then convert to real int8.

Like static PTQ, the model must carry a QuantStub/DeQuantStub pair and ReLU modules. The
forward passes during training round weights and activations to int8 grids (fake-quant), so
the weights learn to tolerate the rounding the converted model will do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from compress import _torch_ao
from compress.evaluate import logits_of
from compress.quantize import check_engine, resolve_engine
from compress.quantize_static import activation_range, weight_observer


@dataclass(frozen=True)
class QATConfig:
    """How long and how hard to fine-tune with fake-quant, and for which kernels."""

    epochs: int = 3
    lr: float = 1e-3
    per_channel_weights: bool = True  # one weight scale per output channel (else per tensor)
    engine: str = "auto"  # quantized engine; "auto" picks compress.quantize.default_engine()
    seed: int = 0  # seeds the batch order and any randomness in the model

    def __post_init__(self) -> None:
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
        return f"qat-e{self.epochs}-lr{self.lr:g}-{gran}-{self.engine}"

    def qconfig(self) -> Any:
        """The torch.ao QAT QConfig: moving-average observers feeding fused fake-quant."""
        qmin, qmax = activation_range(self.resolved_engine)
        fake = _torch_ao.FusedMovingAvgObsFakeQuantize
        activation = fake.with_args(
            observer=_torch_ao.MovingAverageMinMaxObserver,
            dtype=torch.quint8,
            quant_min=qmin,
            quant_max=qmax,
        )
        weight_cls, weight_kwargs = weight_observer(self.per_channel_weights, moving_average=True)
        weight = fake.with_args(observer=weight_cls, **weight_kwargs)
        return _torch_ao.QConfig(activation=activation, weight=weight)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, with the engine resolved."""
        return {"method": "qat", **asdict(self), "engine": self.resolved_engine}


def prepare_qat(
    model: nn.Module, config: QATConfig | None = None, fuse: list[list[str]] | None = None
) -> nn.Module:
    """Return a train-mode copy of ``model`` with fake-quant modules inserted; input untouched.

    ``model`` must contain a QuantStub/DeQuantStub pair; ``fuse`` lists module-name groups to
    fuse first (e.g. ``[["conv1", "relu1"]]``).
    """
    config = config or QATConfig()
    work = copy.deepcopy(model).train()
    if fuse:
        work = _torch_ao.fuse_modules_qat(work, fuse)
    torch.backends.quantized.engine = config.resolved_engine
    work.qconfig = config.qconfig()
    return _torch_ao.prepare_qat(work)


def convert_qat(model: nn.Module) -> nn.Module:
    """Return the int8 model a fake-quant (prepared) model stands for; input untouched."""
    return _torch_ao.convert(copy.deepcopy(model).eval())


def train_qat(
    model: nn.Module,
    batches: Sequence[Mapping[str, torch.Tensor]],
    config: QATConfig | None = None,
    fuse: list[list[str]] | None = None,
    *,
    progress: bool = True,
) -> nn.Module:
    """Fine-tune a fake-quant copy of ``model`` (cross-entropy on ``labels``, Adam, seeded);
    return it converted to int8. ``model`` is usually a trained fp32 model; it is untouched.

    Sets ``torch.backends.quantized.engine`` to the config's engine and leaves it set.
    """
    config = config or QATConfig()
    if not batches:
        raise ValueError("QAT needs at least one training batch; got 0")
    torch.manual_seed(config.seed)
    qat = prepare_qat(model, config, fuse)
    optimizer = torch.optim.Adam(qat.parameters(), lr=config.lr)
    order = torch.Generator().manual_seed(config.seed)
    steps = tqdm(total=config.epochs * len(batches), desc="QAT", disable=not progress, leave=False)
    with _torch_ao.quiet_deprecations(), steps:
        for _ in range(config.epochs):
            for i in torch.randperm(len(batches), generator=order).tolist():
                batch = batches[i]
                optimizer.zero_grad()
                loss = F.cross_entropy(logits_of(qat, batch), batch["labels"])
                if not torch.isfinite(loss):
                    raise ValueError(f"QAT loss became {loss.item()} on batch {i}")
                loss.backward()
                optimizer.step()
                steps.update()
                steps.set_postfix(loss=f"{loss.item():.4f}")
    return convert_qat(qat)
