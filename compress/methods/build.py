"""How each family of compress.methods.registry builds its model: one function per family,
``(fp32, config, context) -> Built``; ``build(method, fp32, context)`` is the one entry point.

The fp32 model is never changed. A compiled model runs one shape: the context's example.
Methods that train (QAT, fine-pruning) get their trained model from ``context.train``, which
the caller supplies (the fixtures train through the recipe-hash cache).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compress.measure.kernels import Expect
from compress.measure.meters import serialized_size

Batch = Mapping[str, torch.Tensor]
# a method's config (QATConfig, StructuredPruneConfig) -> the model trained by it, ready to
# serve (QAT: converted to int8; fine-pruning: compacted), and the settings its training used
Trainer = Callable[[Any], tuple[nn.Module, dict[str, object]]]


@dataclass(frozen=True)
class Context:
    """What a build may use besides the fp32 model."""

    example: Batch  # the batch a compiled model is built for and ONNX is exported with
    calibration: Sequence[Batch] = ()  # input batches of a split the scores do not come from
    workdir: Path | None = None  # where ONNX files go
    name: str = ""  # the model's name in compile errors
    train: Trainer | None = None  # for methods that need train data


@dataclass(frozen=True)
class Built:
    """A method's model (called with a batch's tensors), its size, config and build time."""

    model: Callable[..., object]
    size_bytes: int
    config: dict[str, object]
    build_s: float
    expect: Expect | None = None  # what its label promises the forward runs (None: unchecked)


def build(method: Any, fp32: nn.Module, context: Context, config: Any = None) -> Built:
    """``method`` applied to ``fp32`` (untouched), from ``config`` (default the method's own).
    Raises ValueError when the context lacks what the method needs; compile errors propagate
    (compress.quantize.compiled.CompileError, ToolchainMissing)."""
    if method.needs.calibration and not context.calibration:
        raise ValueError(f"{method.name} needs calibration batches")
    if method.needs.train and context.train is None:
        raise ValueError(f"{method.name} trains: it needs train data (a trainer)")
    start = time.perf_counter()
    model, size, recorded = method.build(fp32, method.config() if config is None else config,
                                         context)  # fmt: skip
    return Built(model, size, recorded, time.perf_counter() - start, method.expect())


Made = tuple[Any, int, dict[str, object]]  # model, size in bytes, the config to record


def torch_dynamic(fp32: nn.Module, config: Any, context: Context) -> Made:
    from compress.quantize.dynamic import quantize_dynamic

    model = quantize_dynamic(fp32, config)
    return model, serialized_size(model), {"method": "dynamic", **config.to_dict()}


def torch_static(fp32: nn.Module, config: Any, context: Context) -> Made:
    from compress.quantize.static import quantize_static

    model = quantize_static(fp32, config, calibration=context.calibration)
    return model, serialized_size(model), config.to_dict()


def torchao_eager(fp32: nn.Module, config: Any, context: Context) -> Made:
    from compress.quantize.torchao_configs import quantize_torchao

    model = quantize_torchao(fp32, config)
    return model, serialized_size(model), {**config.to_dict(), "compiled": False}


def compiled(fp32: nn.Module, config: Any, context: Context) -> Made:
    from compress.quantize.compiled import compile_model

    model = compile_model(fp32, config, context.example, context.calibration, name=context.name)
    recorded = {**config.to_dict(), "compile_s": model.compile_s, "prepare_s": model.prepare_s}
    return model, serialized_size(model.inner), recorded


def ort(fp32: nn.Module, config: Any, context: Context) -> Made:
    from compress.quantize.onnx_runtime import (
        OrtClassifier,
        export_onnx,
        onnx_file_size,
        ort_quantize,
    )

    if context.workdir is None:
        raise ValueError("ONNX Runtime methods need a workdir for their ONNX files")
    source = context.workdir / "fp32.onnx"  # exported once per workdir: every ORT method's start
    if not source.exists():
        export_onnx(fp32, context.example, source)
    name = f"ort-{config.mode}{'-per-channel' if config.per_channel else ''}"
    calibration = context.calibration if config.mode == "static" else None
    path = ort_quantize(source, context.workdir / f"{name}.onnx", config, calibration)
    recorded = {"backend": "onnxruntime", **config.to_dict()}
    return OrtClassifier(path, config), onnx_file_size(path), recorded


def half(fp32: nn.Module, config: Any, context: Context) -> Made:
    from compress.quantize.half import to_half

    model = to_half(fp32, config)
    return model, serialized_size(model), config.to_dict()


def trained(fp32: nn.Module, config: Any, context: Context) -> Made:
    """The context's trainer's model for this config (QAT: int8; fine-pruning: compacted)."""
    assert context.train is not None  # build() checked
    model, recorded = context.train(config)
    return model, serialized_size(model), recorded


def trained_int8(fp32: nn.Module, config: Any, context: Context) -> Made:
    """The trained model, then torch dynamic int8 of every Linear."""
    from compress.quantize.dynamic import DynamicQuantConfig, quantize_dynamic

    model, _, recorded = trained(fp32, config, context)
    int8 = quantize_dynamic(model, DynamicQuantConfig())
    return int8, serialized_size(int8), {**recorded, "int8": True}

