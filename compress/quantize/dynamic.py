"""Dynamic int8 quantization: weights stored as int8, activations quantized on the fly."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from compress.core import torch_ao as _torch_ao
from compress.core.config import config_from_dict

# Module types dynamic quantization can replace, by the name users write in configs.
QUANTIZABLE_TYPES: dict[str, type[nn.Module]] = {
    "Linear": nn.Linear,
    "LSTM": nn.LSTM,
    "GRU": nn.GRU,
    "LSTMCell": nn.LSTMCell,
    "GRUCell": nn.GRUCell,
    "RNNCell": nn.RNNCell,
}
ENGINES = ("x86", "fbgemm", "qnnpack", "onednn")


def default_engine() -> str:
    """The fastest int8 engine this build supports: x86 (fbgemm+onednn) on x86, else qnnpack."""
    supported = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in supported:
            return engine
    raise RuntimeError(f"this torch build supports no int8 engine (has {supported})")


def check_engine(engine: str) -> None:
    """Raise ValueError unless ``engine`` is "auto" or an int8 engine this torch supports."""
    if engine != "auto" and engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected 'auto' or one of {ENGINES}")
    if engine != "auto" and engine not in torch.backends.quantized.supported_engines:
        raise ValueError(
            f"engine {engine!r} is not supported by this torch build "
            f"(supported: {torch.backends.quantized.supported_engines})"
        )


def resolve_engine(engine: str) -> str:
    """``engine`` itself, or the default engine for "auto"."""
    return default_engine() if engine == "auto" else engine


@dataclass(frozen=True)
class DynamicQuantConfig:
    """What to quantize dynamically and with which kernels."""

    module_types: tuple[str, ...] = ("Linear",)  # keys of QUANTIZABLE_TYPES to replace
    dtype: str = "qint8"  # weight dtype: "qint8" (int8 weights) or "float16"
    engine: str = "auto"  # quantized engine; "auto" picks default_engine()
    keep_fp32: tuple[str, ...] = ()  # qualified module names left in fp32 (per-layer fallback)
    fixed_point: bool = False  # int8 weight scales rounded up to powers of two (Linear only)

    def __post_init__(self) -> None:
        if isinstance(self.keep_fp32, str | list):
            names = [self.keep_fp32] if isinstance(self.keep_fp32, str) else self.keep_fp32
            object.__setattr__(self, "keep_fp32", tuple(names))
        if not all(isinstance(name, str) and name for name in self.keep_fp32):
            raise ValueError(f"keep_fp32 must be module names, got {self.keep_fp32!r}")
        if not isinstance(self.fixed_point, bool):
            raise ValueError(f"fixed_point must be True or False, got {self.fixed_point!r}")
        if self.fixed_point and self.dtype != "qint8":
            raise ValueError("fixed_point applies to int8 weights (dtype 'qint8') only")
        if isinstance(self.module_types, str | list):
            object.__setattr__(
                self,
                "module_types",
                tuple(
                    [self.module_types] if isinstance(self.module_types, str) else self.module_types
                ),
            )
        if not self.module_types:
            raise ValueError(
                f"module_types is empty: name at least one of {sorted(QUANTIZABLE_TYPES)}"
            )
        unknown = sorted(set(self.module_types) - set(QUANTIZABLE_TYPES))
        if unknown:
            raise ValueError(
                f"unknown module type(s) {unknown}; expected some of {sorted(QUANTIZABLE_TYPES)}"
            )
        if self.dtype in ("int4", "qint4", "quint4x2", "uint4"):
            raise ValueError(
                f"dtype {self.dtype!r}: torch.ao dynamic quantization has no int4 Linear/LSTM "
                "kernel on any engine (x86, fbgemm, qnnpack: qint8 and float16 only); for int4 "
                "weights use compress.quantize.qmath (error analysis) or "
                "compress.quantize.torchao_configs"
            )
        if self.dtype not in ("qint8", "float16"):
            raise ValueError(f"dtype must be 'qint8' or 'float16', got {self.dtype!r}")
        check_engine(self.engine)

    @property
    def resolved_engine(self) -> str:
        """The engine that will actually run."""
        return resolve_engine(self.engine)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, with the engine resolved."""
        return {
            "module_types": list(self.module_types),
            "dtype": self.dtype,
            "engine": self.resolved_engine,
            "keep_fp32": list(self.keep_fp32),
            "fixed_point": self.fixed_point,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> DynamicQuantConfig:
        """The config ``to_dict`` wrote (the resolved engine is kept as written)."""
        return config_from_dict(cls, data)


@contextlib.contextmanager
def quantized_engine(engine: str) -> Iterator[None]:
    """Set ``torch.backends.quantized.engine`` inside the block and restore it afterwards."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def quantize_dynamic(model: nn.Module, config: DynamicQuantConfig | None = None) -> nn.Module:
    """Return an int8 copy of ``model``; the input model is left untouched.

    The weights are packed for the config's engine (set only while packing, then restored:
    the packed weights carry their engine, and the model answers the same under any engine
    setting).
    """
    config = config or DynamicQuantConfig()
    types = tuple(QUANTIZABLE_TYPES[name] for name in config.module_types)
    dtype = torch.qint8 if config.dtype == "qint8" else torch.float16
    source = copy.deepcopy(model).eval()
    names = dict(source.named_modules())
    missing = sorted(set(config.keep_fp32) - set(names))
    if missing:
        raise ValueError(f"keep_fp32 names no module of this model: {missing}")
    spec: set[type[nn.Module]] | set[str] = set(types)
    if config.keep_fp32:  # by name: every matching module but the ones kept in fp32
        kept = set(config.keep_fp32)
        spec = {n for n, m in names.items() if n and isinstance(m, types) and n not in kept}
    with quantized_engine(config.resolved_engine):
        quantized = _torch_ao.quantize_dynamic(source, spec, dtype=dtype, inplace=True)
        if config.fixed_point:
            _power_of_two_weight_scales_(quantized)
    return quantized


def _power_of_two_weight_scales_(model: nn.Module) -> None:
    """Re-quantize every dynamic int8 Linear's weight with its scale rounded up to 2^k (zero
    point 0): the kernels are unchanged, the weights are fixed-point. Activation scales are
    still computed per batch by the kernel."""
    from compress.quantize.qmath import power_of_two_scale  # qmath is pure torch; import kept local

    for module in model.modules():
        if type(module).__name__ != "Linear" or not hasattr(module, "set_weight_bias"):
            continue
        weight, bias = module._weight_bias()
        if weight.qscheme() != torch.per_tensor_affine:
            raise ValueError(f"fixed_point expects per-tensor weights, got {weight.qscheme()}")
        scale = float(power_of_two_scale(torch.tensor([weight.q_scale()]))[0])
        requantized = torch.quantize_per_tensor(weight.dequantize(), scale, 0, torch.qint8)
        module.set_weight_bias(requantized, bias)
