"""Which kernels a forward ran: proof that a row labelled int8 (bf16, compiled) ran that path.

``record_kernels(fn)`` runs ``fn`` once under ``torch.profiler`` (outside any timed round) and
keeps what is deterministic for a given model, input shape and CPU kind: every operator with
its call count, the Linear GEMMs by the precision they ran in (by operator, and for float
GEMMs the dtype of their activation), attention GEMMs apart, the compiled regions and graphs
that ran (a forward that fell back to eager runs none; a graph break runs two graphs), the
compiles it triggered (none in a steady forward), and the oneDNN implementations that executed
(``matmul:brg_matmul:avx512_core_amx``, from oneDNN's verbose mode). What a silent fallback
cannot fake: an int8 label over fp32 ``aten::addmm`` calls, a compiled label over no compiled
region.

An operator the tables do not know is kept under ``ops`` only, never guessed into a precision.
A forward whose kernels the profiler cannot see (ONNX Runtime's) is recorded as opaque.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from compress.measure.meters import pinned_threads

# Linear GEMMs whose precision is the operator's own
FIXED = {
    "quantized::linear_dynamic": "int8",  # torch.ao dynamic (FBGEMM / oneDNN)
    "quantized::linear": "int8",  # torch.ao static
    "quantized::linear_relu": "int8",
    "quantized::linear_relu_dynamic": "int8",
    "onednn::qlinear_pointwise": "int8",  # pt2e / torchao under Inductor
    "aten::_int_mm": "int8",
    "quantized::linear_dynamic_fp16": "fp16-weights",
    "aten::_weight_int8pack_mm": "int8-weights",
    "aten::_weight_int4pack_mm": "int4-weights",
    "aten::_weight_int4pack_mm_for_cpu": "int4-weights",
    "aten::_dyn_quant_matmul_4bit": "int4-weights",
    "quantized::quantized_lstm": "int8",
    "aten::quantized_lstm": "int8",
    "quantized::conv2d": "int8",
    "quantized::conv2d_relu": "int8",
    "quantized::conv1d": "int8",
}
# convolutions: recorded apart (``conv``), since dynamic int8 leaves them fp32 by design
CONV = ("quantized::conv2d", "quantized::conv2d_relu", "quantized::conv1d", "aten::convolution",
        "mkldnn::_convolution_pointwise")  # fmt: skip
# Linear GEMMs that run in their activation's dtype
BY_DTYPE = ("aten::mm", "aten::addmm", "aten::_addmm_activation", "mkldnn::_linear_pointwise",
            "mkl::_mkl_linear", "aten::mkldnn_linear", "aten::lstm", "aten::convolution",
            "mkldnn::_convolution_pointwise")  # fmt: skip
ATTENTION = ("aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
             "aten::_scaled_dot_product_attention_math")  # fmt: skip
DTYPES = {"float": "fp32", "c10::BFloat16": "bf16", "c10::Half": "fp16", "signed char": "int8",
          "unsigned char": "int8", "double": "fp64"}  # fmt: skip
# compiled-code markers; their frame / compile ids count compiles in the whole process, so
# only the number of events is kept (the same for a model whatever was compiled before it)
REGION, GRAPH = "Torch-Compiled Region", "## Call CompiledFxGraph"
COMPILE = "_compile.compile_inner"
GEMM_PRIMITIVES = ("matmul", "inner_product", "convolution", "gemm_api")
# oneDNN implementation names, best first: the ISA a primitive dispatched to
ISA_ORDER = ("amx", "avx512_core_fp16", "avx512_core_bf16", "avx512_core_vnni", "avx512_core",
             "avx2_vnni", "avx2", "avx", "sse41")  # fmt: skip


@dataclass(frozen=True)
class KernelRecord:
    """What one forward ran (module docstring); ``to_dict``/``from_dict`` round-trip."""

    ops: dict[str, int] = field(default_factory=dict)  # operator -> calls
    gemm: dict[str, int] = field(default_factory=dict)  # precision -> Linear GEMM calls
    gemm_ops: dict[str, int] = field(default_factory=dict)  # "op (precision)" -> calls
    attention: dict[str, int] = field(default_factory=dict)
    conv: dict[str, int] = field(default_factory=dict)  # "op (precision)" -> calls
    regions: int = 0  # compiled regions entered (0: eager)
    graphs: int = 0  # compiled graphs called (a graph break makes two)
    compiles: int = 0  # Dynamo compiles the forward triggered (a steady forward: 0)
    onednn: list[str] | None = None  # "kind:implementation" that executed; None: unknown
    opaque: str = ""  # why the profiler cannot see the kernels ("" when it can)

    def share(self, precision: str) -> float | None:
        """The share of Linear GEMM calls that ran in ``precision`` (None: none seen)."""
        total = sum(self.gemm.values())
        return self.gemm.get(precision, 0) / total if total else None

    @property
    def compiled(self) -> bool:
        """A compiled region ran."""
        return bool(self.regions)

    def isa(self) -> str | None:
        """The best ISA among the oneDNN GEMM implementations that executed (None: none ran,
        or their names say none)."""
        impls = " ".join(i for i in self.onednn or () if i.startswith(GEMM_PRIMITIVES))
        return next((isa for isa in ISA_ORDER if isa in impls), None)

    def summary(self) -> str:
        """One line for a report row: ``int8 38/38 (quantized::linear_dynamic); compiled, 1
        graph; oneDNN avx512_core_vnni``."""
        if self.opaque:
            return f"not visible ({self.opaque})"
        total = sum(self.gemm.values())
        parts = [", ".join(f"{p} {n}/{total}" for p, n in self.gemm.items()) or "no Linear GEMM"]
        ops = sorted({op.rsplit(" (", 1)[0] for op in self.gemm_ops})
        parts[0] += f" ({', '.join(ops)})" if ops else ""
        if self.conv:
            parts.append("conv " + ", ".join(f"{op} x{n}" for op, n in self.conv.items()))
        if self.regions:
            parts.append(f"compiled, {self.graphs} graph{'s' if self.graphs != 1 else ''}")
        if self.compiles:
            parts.append(f"{self.compiles} compile(s) in a steady forward")
        if self.isa():
            parts.append(f"oneDNN {self.isa()}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``from_dict`` inverts it."""
        return {"ops": dict(self.ops), "gemm": dict(self.gemm), "gemm_ops": dict(self.gemm_ops),
                "attention": dict(self.attention), "conv": dict(self.conv),
                "regions": self.regions,
                "graphs": self.graphs, "compiles": self.compiles,
                "onednn": None if self.onednn is None else list(self.onednn),
                "opaque": self.opaque}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KernelRecord:
        """Inverse of ``to_dict``; ValueError on an unknown key."""
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"kernel record: unknown keys {sorted(unknown)}")
        return cls(**{k: (list(v) if k == "onednn" and v is not None else v) for k, v in d.items()})


def _activation_dtype(event: Any) -> str | None:
    """The dtype of the first input of rank 2 or more (addmm's bias comes first)."""
    for shape, dtype in zip(event.input_shapes or (), event.input_dtypes or (), strict=False):
        if isinstance(shape, list) and len(shape) >= 2:
            return DTYPES.get(dtype)
    return None


def _gemm_precision(event: Any) -> str | None:
    if event.name in FIXED:
        return FIXED[event.name]
    if event.name in BY_DTYPE:
        return _activation_dtype(event) or "unknown"
    return None


def _inside_gemm(event: Any) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name in FIXED or parent.name in BY_DTYPE:
            return True
        parent = parent.cpu_parent
    return False


def summarize(events: list[Any], onednn: list[str] | None) -> KernelRecord:
    """The record of profiler ``events`` (FunctionEvent-like: name, cpu_parent, input_shapes,
    input_dtypes)."""
    ops, gemm, gemm_ops, attention, conv, marks = (Counter() for _ in range(6))
    for event in events:
        mark = next((m for m in (REGION, GRAPH, COMPILE) if event.name.startswith(m)), None)
        if mark is not None:
            marks[mark] += 1
        if "::" not in event.name:
            continue
        ops[event.name] += 1
        precision = _gemm_precision(event)
        if precision is not None and event.name in CONV and not _inside_gemm(event):
            conv[f"{event.name} ({precision})"] += 1
        elif precision is not None and not _inside_gemm(event):
            gemm[precision] += 1
            gemm_ops[f"{event.name} ({precision})"] += 1
        elif event.name in ATTENTION and not _inside_gemm(event):
            attention[event.name] += 1
    return KernelRecord(dict(sorted(ops.items())), dict(gemm), dict(sorted(gemm_ops.items())),
                        dict(attention), dict(sorted(conv.items())), marks[REGION],
                        marks[GRAPH], marks[COMPILE], onednn)  # fmt: skip


def parse_onednn(text: str) -> list[str]:
    """``kind:implementation`` of every primitive oneDNN's verbose lines say executed."""
    seen = set()
    for line in text.splitlines():
        parts = line.split(",")
        if not parts or parts[0] != "onednn_verbose" or "exec" not in parts:
            continue
        at = parts.index("exec")
        if len(parts) > at + 3 and parts[at + 1] == "cpu":
            seen.add(f"{parts[at + 2]}:{parts[at + 3]}")
    return sorted(seen)


def _with_onednn_verbose(fn: Callable[[], object]) -> tuple[object, list[str] | None]:
    """``fn()`` with oneDNN's verbose lines (printed by C code on fd 1) captured."""
    mkldnn = torch.backends.mkldnn
    if not mkldnn.is_available():
        return fn(), None
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            with mkldnn.verbose(mkldnn.VERBOSE_ON):
                out = fn()
            libc.fflush(None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode(errors="replace")
    return out, parse_onednn(text)


def record_kernels(fn: Callable[[], object], *, opaque: str = "", threads: int = 1) -> KernelRecord:
    """Run ``fn`` once, profiled, as the timed rounds run it (``threads`` pinned, inference
    mode: a compiled model's guards hold), and return what ran. ``opaque``: why the kernels
    cannot be seen (e.g. "onnxruntime"): then only that is recorded, and nothing is run."""
    if opaque:
        return KernelRecord(opaque=opaque)
    with (
        pinned_threads(threads),
        torch.inference_mode(),
        profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof,
    ):
        _, onednn = _with_onednn_verbose(fn)
    return summarize(list(prof.events()), onednn)


@dataclass(frozen=True)
class Expect:
    """What a method's label promises its forward runs (compress.methods.registry)."""

    precision: str  # the Linear GEMMs' precision: "int8", "bf16", "fp32", "int8-weights", ...
    compiled: bool = False  # a compiled region runs (no eager fallback)
    min_share: float | None = 0.9  # of the Linear GEMM calls in ``precision`` (None: recorded)
    opaque: str = ""  # the runtime whose kernels the profiler cannot see ("onnxruntime")


def violations(record: KernelRecord, expect: Expect) -> list[str]:
    """Why ``record`` breaks ``expect``'s label, naming what ran instead ([] when it keeps it)."""
    if record.opaque:
        return []
    found = []
    share = record.share(expect.precision)
    ran = ", ".join(f"{op} x{n}" for op, n in record.gemm_ops.items()) or "no Linear GEMM"
    if expect.min_share is not None and (share or 0.0) < expect.min_share:
        shown = "none seen" if share is None else f"{share:.2f}"
        found.append(f"{expect.precision} share of the Linear GEMM calls {shown} < "
                     f"{expect.min_share}: ran {ran}")  # fmt: skip
    if expect.compiled and not record.compiled:
        found.append("labelled compiled, but no compiled region ran (an eager fallback)")
    if record.compiles:
        found.append(
            f"a steady forward compiled {record.compiles} time(s): a guard fails "
            "on every call (each call recompiles, or falls back once past the limit)"
        )
    return found


def onednn_isa() -> str | None:
    """The ISA oneDNN dispatches an int8 matmul to on this CPU, after any ONEDNN_MAX_CPU_ISA
    cap (one 64x64 dynamic int8 Linear on the onednn engine, the engine left as it was; None:
    no oneDNN engine in this torch, or its implementation names say no ISA)."""
    if "onednn" not in torch.backends.quantized.supported_engines:
        return None
    previous = torch.backends.quantized.engine
    try:
        torch.backends.quantized.engine = "onednn"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notices
            linear = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(torch.nn.Linear(64, 64)), {torch.nn.Linear}, torch.qint8
            )
        x = torch.randn(4, 64)
        return record_kernels(lambda: linear(x)).isa()
    finally:
        torch.backends.quantized.engine = previous
