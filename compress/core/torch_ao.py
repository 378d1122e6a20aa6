"""The one place that touches ``torch.ao.quantization`` and silences its deprecation warnings.

torch 2.13 still ships eager-mode ``torch.ao.quantization`` (quantize_dynamic, observers,
fbgemm/x86 kernels) but warns on import and on every call that it is deprecated in favour of
torchao. fbgemm's packed int8 kernels (engine ``x86``) remain the fastest CPU int8 path in eager
mode: on the reference machine (AVX-512 VNNI) torchao 0.18's int8 dynamic config ran about 1.7x
faster than fp32 on the MRPC classifier against about 2.5x for torch.ao dynamic, and on AVX2
CPUs without VNNI it has been measured ~28x *slower* than fp32 (see
``benchmarks/test_quantize_mrpc_methods.py``, which measures both in one run). So the suite
keeps torch.ao and filters exactly these messages here, nowhere else. When torch removes the
API, this module is where the migration lands.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

# Messages torch 2.13 emits for the deprecated eager quantization API and quantized tensors.
_DEPRECATION_PATTERNS = (
    r"torch\.ao\.quantization is deprecated",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel",
    r"TypedStorage is deprecated",  # torch.load of quantized tensors still goes through it
)


@contextlib.contextmanager
def quiet_deprecations() -> Iterator[None]:
    """Suppress torch.ao's deprecation warnings (only those) inside the block."""
    with warnings.catch_warnings():
        for pattern in _DEPRECATION_PATTERNS:
            warnings.filterwarnings("ignore", message=pattern)
        yield


with quiet_deprecations():
    import torch.ao.nn.intrinsic.qat as nniqat
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.qat as nnqat
    import torch.ao.nn.quantized as nnq
    import torch.ao.nn.quantized.dynamic as nnqd
    from torch.ao.quantization import (
        DeQuantStub,
        FakeQuantize,
        FakeQuantizeBase,
        FusedMovingAvgObsFakeQuantize,
        HistogramObserver,
        MinMaxObserver,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        ObserverBase,
        PerChannelMinMaxObserver,
        QConfig,
        QuantStub,
        disable_observer,
        get_default_qat_qconfig,
        get_default_qconfig,
    )
    from torch.ao.quantization import convert as _convert
    from torch.ao.quantization import fuse_modules as _fuse_modules
    from torch.ao.quantization import fuse_modules_qat as _fuse_modules_qat
    from torch.ao.quantization import prepare as _prepare
    from torch.ao.quantization import prepare_qat as _prepare_qat
    from torch.ao.quantization import quantize_dynamic as _quantize_dynamic

__all__ = [
    "DeQuantStub",
    "FakeQuantize",
    "FakeQuantizeBase",
    "FusedMovingAvgObsFakeQuantize",
    "HistogramObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "MovingAveragePerChannelMinMaxObserver",
    "ObserverBase",
    "PerChannelMinMaxObserver",
    "QConfig",
    "QuantStub",
    "convert",
    "disable_observer",
    "fuse_modules",
    "fuse_modules_qat",
    "get_default_qat_qconfig",
    "get_default_qconfig",
    "nniq",
    "nniqat",
    "nnq",
    "nnqat",
    "nnqd",
    "prepare",
    "prepare_qat",
    "quantize_dynamic",
    "quiet_deprecations",
]


def quantize_dynamic(*args, **kwargs):  # type: ignore[no-untyped-def]
    """``torch.ao.quantization.quantize_dynamic`` without its deprecation warnings."""
    with quiet_deprecations():
        return _quantize_dynamic(*args, **kwargs)


def fuse_modules(*args, **kwargs):  # type: ignore[no-untyped-def]
    """``torch.ao.quantization.fuse_modules`` (eval-mode fusion) without deprecation warnings."""
    with quiet_deprecations():
        return _fuse_modules(*args, **kwargs)


def fuse_modules_qat(*args, **kwargs):  # type: ignore[no-untyped-def]
    """``torch.ao.quantization.fuse_modules_qat`` (train-mode fusion), quietly."""
    with quiet_deprecations():
        return _fuse_modules_qat(*args, **kwargs)


def prepare(*args, **kwargs):  # type: ignore[no-untyped-def]
    """``torch.ao.quantization.prepare`` (insert observers) without deprecation warnings."""
    with quiet_deprecations():
        return _prepare(*args, **kwargs)


def prepare_qat(*args, **kwargs):  # type: ignore[no-untyped-def]
    """``torch.ao.quantization.prepare_qat`` (insert fake-quant) without deprecation warnings."""
    with quiet_deprecations():
        return _prepare_qat(*args, **kwargs)


def convert(*args, **kwargs):  # type: ignore[no-untyped-def]
    """``torch.ao.quantization.convert`` (swap in int8 modules) without deprecation warnings."""
    with quiet_deprecations():
        return _convert(*args, **kwargs)
