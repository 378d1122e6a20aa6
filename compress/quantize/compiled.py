"""The int8 path PyTorch is moving to: ``torch.compile`` (Inductor) over fp32, over torchao's
``quantize_`` and over the pt2e flow (``torch.export`` → ``prepare_pt2e`` with
``X86InductorQuantizer`` → ``convert_pt2e``), the successors torch 2.13 names when it
deprecates eager ``torch.ao.quantization``.

``compile_model(model, CompileConfig("pt2e-static"), example, calibration)`` returns a
``CompiledModel``: a new module compiled for the one input shape of ``example`` on
``config.threads`` threads (Inductor writes the thread count into its kernels), its first call
already made and timed (``compile_s``), its input untouched. Everything that changes the
answer (method, backend, mode, Inductor freezing, threads, calibration) is in the config and in
``to_dict``; Inductor settings are applied around each call, never left changed.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from compress.core import environment
from compress.core.config import config_from_dict
from compress.measure.meters import pinned_threads
from compress.quantize.torchao_configs import TorchaoConfig, quantize_torchao, torchao_version

METHODS = (
    "fp32",  # torch.compile of the fp32 model: the reference a compiled deployment compares to
    "torchao-int8-dynamic",  # torchao quantize_ + torch.compile, as torchao means it to run
    "torchao-int8-weight-only",
    "torchao-int4-weight-only",
    "pt2e-static",  # X86InductorQuantizer, activations calibrated (static), lowered by Inductor
    "pt2e-dynamic",  # X86InductorQuantizer with dynamic activation scales
    "bf16",  # weights cast to bfloat16 (compress.quantize.half), then compiled
    "fp16",
)
# The suite compiles every method in the default mode: pt2e static with max-autotune ran 11%
# faster and answered wrongly (agreement with fp32 0.262 over 2,133 MRPC pairs, torch 2.13.0,
# AVX-512 VNNI: docs/compiled.md)
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
COMPILERS = ("g++", "c++", "clang++")
# Every variant of one model class compiles the same forward code; past Dynamo's default of 8
# such compiles in a process, the next variant would run eager, silently (the full grid's
# bert-base torchao rows did: compile 0.2-2 s). Allow more, and fail past them.
DYNAMO_LIMITS = {"recompile_limit": 64, "fail_on_recompile_limit_hit": True}


class CompileError(RuntimeError):
    """A model this path cannot export, quantize or compile (one line: model, method, error)."""


class ToolchainMissing(RuntimeError):
    """Inductor's CPU backend needs a C++ compiler and none is on PATH."""


@dataclass(frozen=True)
class CompileConfig:
    """How to build and compile one variant; every field changes the measured result."""

    method: str = "pt2e-static"
    backend: str = "inductor"
    mode: str = "default"
    freezing: bool = True  # Inductor folds the weights as constants (prepacks int8 GEMMs)
    threads: int = 1  # Inductor's kernels are generated for this many threads
    calibration_samples: int = 64  # pt2e-static: train inputs observed before convert
    # a torchao config beyond METHODS' (method "torchao-<its scheme>"); None: the method's own
    torchao: TorchaoConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.torchao, dict):  # from_dict
            object.__setattr__(self, "torchao", TorchaoConfig.from_dict(self.torchao))
        custom = self.torchao is not None and self.method == f"torchao-{self.torchao.scheme}"
        if self.method not in METHODS and not custom:
            raise ValueError(f"unknown compiled method {self.method!r}; expected one of {METHODS}")
        if self.mode not in MODES:
            raise ValueError(f"unknown torch.compile mode {self.mode!r}; expected one of {MODES}")
        if not self.backend or not isinstance(self.backend, str):
            raise ValueError("backend must be a torch.compile backend name such as 'inductor'")
        if self.threads < 1 or self.calibration_samples < 1:
            raise ValueError("threads and calibration_samples must be >= 1")

    @property
    def id(self) -> str:
        """Short readable name, e.g. ``compiled-pt2e-static``."""
        return f"compiled-{self.method}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form with the versions that produced the kernels."""
        out: dict[str, object] = {
            "method": self.method,
            "backend": self.backend,
            "mode": self.mode,
            "freezing": self.freezing,
            "threads": self.threads,
            "torch": torch.__version__,
        }
        if self.method == "pt2e-static":
            out["calibration_samples"] = self.calibration_samples
        if self.method.startswith(("torchao", "pt2e")):
            out["torchao"] = torchao_version()
        if self.torchao is not None:
            out["torchao_config"] = self.torchao.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompileConfig:
        """The config ``to_dict`` wrote (validated again)."""
        data = dict(data)
        if "torchao_config" in data:
            data["torchao"] = data.pop("torchao_config")
        elif "torchao" in data:
            data.pop("torchao")  # the version it was built with
        return config_from_dict(cls, data, ("torch",))


class CompiledModel(nn.Module):
    """A compiled variant for one input shape. ``inner`` is the (quantized) module that was
    compiled, what a checkpoint of this variant holds."""

    def __init__(self, inner: nn.Module, config: CompileConfig, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.training = False
        self.inner = inner
        self.config = config
        self.shape = shape
        self.compiled = torch.compile(inner, backend=config.backend, mode=_mode(config))
        self.prepare_s = 0.0  # quantize / export / calibrate / convert, before compiling
        self.compile_s = 0.0  # the first call: tracing and code generation

    def train(self, mode: bool = True) -> CompiledModel:
        """Inference only: ``eval()`` is a no-op (an exported pt2e graph refuses train/eval,
        and the compiled graph was traced in eval mode); ``train()`` is an error."""
        if mode:
            raise ValueError(f"{self.config.id} is compiled for inference; it cannot train")
        self.training = False
        return self

    def forward(self, **inputs: torch.Tensor) -> Any:
        """The model's output; a batch of fewer rows than compiled for is padded with copies
        of its first row and the padding's logits dropped (the last batch of a split)."""
        rows, seq = inputs["input_ids"].shape
        if seq != self.shape[1] or rows > self.shape[0]:
            raise ValueError(
                f"{self.config.id} was compiled for inputs of shape {self.shape}, got "
                f"{(rows, seq)}: pad the inputs to that shape (one static shape per variant)"
            )
        if rows < self.shape[0]:
            fill = self.shape[0] - rows
            inputs = {
                k: torch.cat([v, v[:1].expand(fill, *v.shape[1:])]) for k, v in inputs.items()
            }
        # dynamo guards on the thread count (another one recompiles) and Inductor wrote it
        # into the kernels: every call runs on the threads it was compiled for
        with _inductor_settings(self.config), pinned_threads(self.config.threads):
            out = self.compiled(**inputs)
        return out if rows == self.shape[0] else _first_rows(out, rows)


def require_compiler(config: CompileConfig) -> None:
    """Raise ToolchainMissing, naming what to install, when Inductor would need a C++ compiler
    and none is found (checked before minutes of tracing, not deep inside them)."""
    if config.backend != "inductor":
        return
    wanted = environment.read("CXX")
    candidates = [wanted] if wanted else list(COMPILERS)
    found = next((path for path in map(shutil.which, candidates) if path), None)
    if not found:
        raise ToolchainMissing(
            "torch.compile's Inductor backend needs a C++ compiler on PATH "
            f"({'CXX=' + wanted if wanted else ' / '.join(COMPILERS)} not found): install g++ "
            "(Debian/Ubuntu: apt-get install g++)"
        )


def compile_model(
    model: nn.Module,
    config: CompileConfig,
    example: Mapping[str, torch.Tensor],
    calibration: Sequence[Mapping[str, torch.Tensor]] = (),
    *,
    name: str = "",
) -> CompiledModel:
    """A compiled copy of ``model`` for ``example``'s shape (first call made and timed).

    ``calibration``: input dicts (any batch size, the example's sequence length) that
    pt2e-static observes; other methods ignore it. Raises CompileError (model, method, first
    line of the error) when a step fails, ToolchainMissing without a C++ compiler."""
    require_compiler(config)
    name = name or type(model).__name__
    inputs = {k: v for k, v in example.items() if k not in ("labels", "index")}
    # torch.export refuses inference-mode tensors: prepare under no_grad; the first call runs
    # the way scoring and timing call it (inference mode), so no call recompiles
    with pinned_threads(config.threads), torch.no_grad():
        start = time.perf_counter()
        try:
            inner = _prepare(model, config, inputs, calibration)
        except (RuntimeError, ValueError, TypeError, NotImplementedError, AssertionError) as err:
            raise CompileError(_first_line(name, config, err)) from err
        out = CompiledModel(inner, config, tuple(inputs["input_ids"].shape))
        out.prepare_s = time.perf_counter() - start
        start = time.perf_counter()
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                # Inductor's own int8 lowering copies a tensor the way torch warns about
                warnings.filterwarnings("ignore", "To copy construct", UserWarning)
                out(**inputs)
        except Exception as err:  # Inductor raises many types (BackendCompilerFailed, ...)
            raise CompileError(_first_line(name, config, err)) from err
        out.compile_s = time.perf_counter() - start
    return out


def _prepare(
    model: nn.Module,
    config: CompileConfig,
    inputs: dict[str, torch.Tensor],
    calibration: Sequence[Mapping[str, torch.Tensor]],
) -> nn.Module:
    """The module to compile: a copy of fp32, torchao-quantized, or pt2e-converted."""
    if config.method == "fp32":
        return copy.deepcopy(model).eval()
    if config.method in ("bf16", "fp16"):
        from compress.quantize.half import HalfConfig, to_half

        return to_half(model, HalfConfig("bfloat16" if config.method == "bf16" else "float16"))
    if config.method.startswith("torchao-"):
        tao = config.torchao or TorchaoConfig(config.method.removeprefix("torchao-"))
        register_x86_lowering()
        return quantize_torchao(model, tao)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    dynamic = config.method == "pt2e-dynamic"
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config(is_dynamic=dynamic))
    exported = torch.export.export(copy.deepcopy(model).eval(), (), inputs, strict=False)
    prepared = prepare_pt2e(exported.module(), quantizer)
    batches = [inputs] if dynamic else rebatch(calibration, inputs, config.calibration_samples)
    for batch in batches:
        prepared(**batch)
    return drop_unused_tensors(convert_pt2e(prepared))


def register_x86_lowering() -> None:
    """Register Inductor's CPU int8 fusion patterns, as torchao's x86 recipe does: importing
    the x86 quantizer is what registers them (pytorch/ao PR 4823). Without it, a torchao int8
    model compiles to ``aten::_int_mm`` with the (de)quantization around it, where with it the
    GEMM lowers to oneDNN's ``onednn::qlinear_pointwise``, so a torchao row would measure
    whatever an earlier row of the process happened to import. The registration is
    process-wide (torch offers no unregister), which is how torchao leaves it too."""
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer  # noqa: F401


def drop_unused_tensors(graph: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """``graph`` without the parameters and buffers no node reads: convert_pt2e leaves each
    quantized Linear's fp32 weight beside its int8 copy, and a checkpoint would ship both."""
    used = {node.target for node in graph.graph.nodes if node.op == "get_attr"}
    tensors = [*graph.named_parameters(), *graph.named_buffers()]
    for name in [name for name, _ in tensors if name not in used]:
        owner, _, leaf = name.rpartition(".")
        delattr(graph.get_submodule(owner), leaf)
    return graph


def rebatch(
    calibration: Sequence[Mapping[str, torch.Tensor]],
    example: Mapping[str, torch.Tensor],
    samples: int,
) -> list[dict[str, torch.Tensor]]:
    """The first ``samples`` calibration rows cut into batches of the example's shape (an
    exported graph runs one shape). Raises ValueError when there are too few rows or their
    sequence length differs from the example's."""
    rows, seq = example["input_ids"].shape
    keys = list(example)
    if not calibration:
        raise ValueError("pt2e-static needs calibration inputs (train batches)")
    joined = {k: torch.cat([b[k] for b in calibration]) for k in keys}
    if joined["input_ids"].shape[1] != seq:
        raise ValueError(
            f"calibration inputs have {joined['input_ids'].shape[1]} tokens per row; "
            f"the compiled shape has {seq}: pad them alike"
        )
    usable = min(samples, len(joined["input_ids"])) // rows * rows
    if usable == 0:
        raise ValueError(f"{len(joined['input_ids'])} calibration rows, batches need {rows}")
    return [{k: v[i : i + rows] for k, v in joined.items()} for i in range(0, usable, rows)]


def _first_rows(out: Any, rows: int) -> Any:
    """The output of the first ``rows`` examples (logits only for a model output)."""
    if torch.is_tensor(out):
        return out[:rows]
    if hasattr(out, "logits"):
        return type(out)(logits=out.logits[:rows])
    return tuple(part[:rows] for part in out)


def _mode(config: CompileConfig) -> str | None:
    return None if config.mode == "default" else config.mode


def _inductor_settings(config: CompileConfig) -> contextlib.ExitStack:
    import torch._dynamo.config as dynamo_config
    import torch._inductor.config as inductor_config

    stack = contextlib.ExitStack()
    # no compile cache: compile_s is always a cold compile, comparable between runs
    stack.enter_context(inductor_config.patch(freezing=config.freezing, force_disable_caches=True))
    stack.enter_context(dynamo_config.patch(**DYNAMO_LIMITS))
    return stack


def _first_line(name: str, config: CompileConfig, err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0][:300]
    return f"{name}: {config.id} failed ({type(err).__name__}: {first})"
