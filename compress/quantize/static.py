"""Static int8 post-training quantization (eager mode): observe activations, then convert.

Unlike dynamic quantization, activations get fixed scales learned from calibration batches.
Two scopes (``StaticQuantConfig.modules``):

- ``"model"``: the model marks where int8 begins and ends (a ``QuantStub`` on its input, a
  ``DeQuantStub`` on its output, ReLU *modules* where they should fuse; see
  ``fixtures.recipes.digits.DigitsCNN``), and everything in between runs in int8.
- ``"linear"``: for models without stubs, such as Hugging Face BERT. Eager mode can only
  quantize modules, and BERT's softmax, GELU, LayerNorm and residual adds are functional ops
  that must stay fp32, so every ``nn.Linear`` is wrapped in its own QuantStub/DeQuantStub
  pair (``StubbedLinear``): its input is quantized with a calibrated static scale, the matmul
  runs in int8 and the output returns to fp32. FX graph mode cannot trace transformers 5's
  models and PT2E targets torch.compile/inductor, so this is the mechanism that works on
  torch 2.13 + transformers 5 in eager mode.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from compress.core import torch_ao as _torch_ao
from compress.core.config import config_from_dict
from compress.quantize.dynamic import check_engine, resolve_engine
from compress.train.evaluate import logits_of

OBSERVERS = ("minmax", "histogram", "percentile")
SCOPES = ("model", "linear")


class StubbedLinear(nn.Module):
    """An ``nn.Linear`` between its own QuantStub and DeQuantStub: fp32 in, int8 matmul, fp32
    out once converted. Until then it computes exactly what the wrapped Linear does."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.quant = _torch_ao.QuantStub()
        self.linear = linear
        self.dequant = _torch_ao.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.linear(self.quant(x)))


def stub_linears(model: nn.Module) -> nn.Module:
    """Return a copy of ``model`` with every ``nn.Linear`` wrapped in a ``StubbedLinear``."""
    return stub_linears_(copy.deepcopy(model))


def stub_linears_(work: nn.Module) -> nn.Module:
    """Wrap every ``nn.Linear`` of ``work`` in a ``StubbedLinear``, in place; return ``work``."""
    targets = [(name, module) for name, module in work.named_modules() if type(module) is nn.Linear]
    if not targets:
        raise ValueError("modules='linear' needs at least one nn.Linear; the model has none")
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        setattr(work.get_submodule(parent_name), child, StubbedLinear(module))
    return work


def assign_qconfig(model: nn.Module, qconfig: Any, scope: str) -> nn.Module:
    """Attach ``qconfig`` in place: to the root (scope "model") or to each StubbedLinear only
    (scope "linear", wrapping the Linear layers in place first). Returns ``model``."""
    if scope == "model":
        if not any(isinstance(m, _torch_ao.QuantStub) for m in model.modules()):
            raise ValueError(
                "modules='model' needs a QuantStub/DeQuantStub pair in the model; "
                "use modules='linear' for models without stubs (e.g. Hugging Face BERT)"
            )
        model.qconfig = qconfig
        return model
    work = stub_linears_(model)
    for module in work.modules():
        if isinstance(module, StubbedLinear):
            module.qconfig = qconfig
    return work


class PercentileObserver(_torch_ao.MinMaxObserver):
    """MinMaxObserver whose range clips outliers: per batch it takes the ``percentile``-th and
    ``(100 - percentile)``-th percentiles of the values instead of max and min, and keeps the
    widest of those over all batches seen."""

    def __init__(self, percentile: float = 99.99, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = percentile

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        """Record the batch's clipped range; return the input unchanged."""
        if x_orig.numel() == 0:
            return x_orig
        x = x_orig.detach().flatten().to(self.min_val.dtype)
        n = x.numel()
        k_hi = max(1, min(n, math.ceil(self.percentile / 100.0 * n)))
        k_lo = max(1, n + 1 - k_hi)
        lo, hi = torch.kthvalue(x, k_lo).values, torch.kthvalue(x, k_hi).values
        self.min_val.copy_(torch.minimum(self.min_val, lo))
        self.max_val.copy_(torch.maximum(self.max_val, hi))
        return x_orig

    def extra_repr(self) -> str:
        return f"percentile={self.percentile}, {super().extra_repr()}"


def activation_range(engine: str) -> tuple[int, int]:
    """quint8 range for activations: 7 bits on fbgemm/x86 (avoids int16 overflow on AVX2)."""
    return (0, 127) if engine in ("x86", "fbgemm") else (0, 255)


def weight_observer(per_channel: bool, *, moving_average: bool = False) -> tuple[type, dict]:
    """Symmetric qint8 weight observer class and its kwargs, per output channel or per tensor."""
    kwargs = {"dtype": torch.qint8, "quant_min": -128, "quant_max": 127}
    if per_channel:
        cls = (
            _torch_ao.MovingAveragePerChannelMinMaxObserver
            if moving_average
            else _torch_ao.PerChannelMinMaxObserver
        )
        return cls, {**kwargs, "qscheme": torch.per_channel_symmetric}
    cls = _torch_ao.MovingAverageMinMaxObserver if moving_average else _torch_ao.MinMaxObserver
    return cls, {**kwargs, "qscheme": torch.per_tensor_symmetric}


@dataclass(frozen=True)
class StaticQuantConfig:
    """How to calibrate and which kernels the static int8 model runs on."""

    observer: str = "histogram"  # activation observer: "minmax", "histogram" or "percentile"
    percentile: float = 99.99  # used only by observer="percentile"
    per_channel_weights: bool = True  # one weight scale per output channel (else per tensor)
    engine: str = "auto"  # quantized engine; "auto": quantize.dynamic.default_engine()
    calibration_batches: int = 8  # how many batches the observers see (at most)
    modules: str = "model"  # "model": between the model's own stubs; "linear": every nn.Linear
    # module-name groups fused before quantization (e.g. (("conv1", "relu1"),)): part of
    # the config because fusing changes the result
    fuse: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fuse", tuple(tuple(group) for group in self.fuse))
        if not all(group and all(isinstance(n, str) for n in group) for group in self.fuse):
            raise ValueError(f"fuse must be groups of module names, got {self.fuse!r}")
        if self.modules not in SCOPES:
            raise ValueError(f"unknown modules {self.modules!r}; expected one of {SCOPES}")
        if self.observer not in OBSERVERS:
            raise ValueError(f"unknown observer {self.observer!r}; expected one of {OBSERVERS}")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {self.percentile}")
        if isinstance(self.calibration_batches, bool) or self.calibration_batches < 1:
            raise ValueError(f"calibration_batches must be >= 1, got {self.calibration_batches}")
        check_engine(self.engine)

    @property
    def resolved_engine(self) -> str:
        """The engine that will actually run."""
        return resolve_engine(self.engine)

    @property
    def id(self) -> str:
        """Short readable name, e.g. ``histogram-perchannel-x86``."""
        obs = f"p{self.percentile:g}" if self.observer == "percentile" else self.observer
        gran = "perchannel" if self.per_channel_weights else "pertensor"
        scope = "" if self.modules == "model" else "linear-"
        return f"{scope}{obs}-{gran}-{self.engine}"

    def qconfig(self) -> Any:
        """The torch.ao QConfig these settings describe."""
        qmin, qmax = activation_range(self.resolved_engine)
        act_kwargs = {"dtype": torch.quint8, "quant_min": qmin, "quant_max": qmax}
        if self.observer == "minmax":
            activation = _torch_ao.MinMaxObserver.with_args(**act_kwargs)
        elif self.observer == "histogram":
            activation = _torch_ao.HistogramObserver.with_args(**act_kwargs)
        else:
            activation = PercentileObserver.with_args(percentile=self.percentile, **act_kwargs)
        weight_cls, weight_kwargs = weight_observer(self.per_channel_weights)
        return _torch_ao.QConfig(
            activation=activation, weight=weight_cls.with_args(**weight_kwargs)
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, with the engine resolved."""
        out: dict[str, object] = {
            "method": "static-ptq",
            "modules": self.modules,
            "observer": self.observer,
            "per_channel_weights": self.per_channel_weights,
            "engine": self.resolved_engine,
            "calibration_batches": self.calibration_batches,
        }
        if self.observer == "percentile":
            out["percentile"] = self.percentile
        if self.fuse:  # absent when empty: dicts written before the field stay identical
            out["fuse"] = [list(group) for group in self.fuse]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StaticQuantConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ("method",))


def _check_finite_inputs(batch: Mapping[str, torch.Tensor], index: int) -> None:
    for name, value in batch.items():
        if name == "labels" or not torch.is_tensor(value) or not value.is_floating_point():
            continue
        if not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(
                f"calibration batch {index}: input {name!r} has {bad} NaN/inf value(s); "
                "observers would record a useless range"
            )


def check_observers_finite(model: nn.Module) -> None:
    """Raise ValueError naming every observer whose recorded min/max is not finite."""
    bad = []
    for name, module in model.named_modules():
        if isinstance(module, _torch_ao.ObserverBase) and hasattr(module, "min_val"):
            lo, hi = module.min_val, module.max_val
            if lo.numel() == 0 or not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
                bad.append(name)
    if bad:
        raise ValueError(
            f"observer(s) {bad} recorded a non-finite or empty range during calibration "
            "(did any batch reach those layers? do activations overflow?)"
        )


def quantize_static(
    model: nn.Module,
    config: StaticQuantConfig | None = None,
    *,
    calibration: Iterable[Mapping[str, torch.Tensor]],
) -> nn.Module:
    """Return a static int8 copy of ``model`` calibrated on the first batches; input untouched.

    With ``config.modules == "model"``, ``model`` must contain a QuantStub/DeQuantStub pair
    around its int8 part; with ``"linear"``, each nn.Linear gets its own pair; ``config.fuse``
    groups are fused first. Batches are dicts fed as
    ``model(**batch)`` minus ``labels``. Sets ``torch.backends.quantized.engine`` to the
    config's engine and leaves it set: weights are packed for that engine.
    """
    config = config or StaticQuantConfig()
    work = copy.deepcopy(model).eval()
    if config.fuse:
        work = _torch_ao.fuse_modules(work, [list(group) for group in config.fuse])
    torch.backends.quantized.engine = config.resolved_engine
    prepared = _torch_ao.prepare(assign_qconfig(work, config.qconfig(), config.modules))
    seen = 0
    with torch.inference_mode(), _torch_ao.quiet_deprecations():
        for index, batch in enumerate(itertools.islice(calibration, config.calibration_batches)):
            _check_finite_inputs(batch, index)
            logits_of(prepared, batch)
            seen += 1
    if seen == 0:
        raise ValueError("calibration needs at least one batch; got 0")
    check_observers_finite(prepared)
    return _torch_ao.convert(prepared)
