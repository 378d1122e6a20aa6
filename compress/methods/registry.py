"""Every compression method the suite measures, each declared once: its one name, the config
it builds from, what it needs, the precision its GEMMs run in, and what it claims.

Benchmarks parametrize over ``REGISTRY``, suite files and both search spaces accept its names
only, and docs/methods.md is generated from it (``python -m compress.methods``). Adding a
method is one ``Method(...)`` below (docs/architecture.md shows the diff for a torchao config).
How each family builds its model is in compress.methods.build.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from compress.measure.kernels import Expect
from compress.methods import build as b


class Claim(enum.Enum):
    """What a method's row promises."""

    SPEED = "speed"  # gated in-run at the CPU's floor (where its case says the floor holds)
    RECORD = "record"  # kept to compare: its speed is recorded and gated between runs only


class Precision(enum.Enum):
    """The precision the method's Linear / GEMM work must run in."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    INT8 = "int8"  # int8 x int8 GEMMs (activations quantized too)
    INT8_WEIGHTS = "int8-weights"  # int8 weights, dequantized: fp32 GEMMs
    INT4_WEIGHTS = "int4-weights"


@dataclass(frozen=True)
class Needs:
    """What a method needs beyond the fp32 model and an example batch."""

    calibration: bool = False  # input batches from a split the scores never come from
    train: bool = False  # labelled train data: the method trains (cached by recipe hash)
    compiler: bool = False  # a C++ compiler (torch.compile's Inductor writes C++ kernels)
    cpu_flags: tuple[str, ...] = ()  # at least one of these /proc/cpuinfo flags (its kernels)
    engine: str | None = None  # torch.ao quantized engine ("auto": this CPU's default)

    def unmet(self, isa: Sequence[str], engines: Sequence[str]) -> str | None:
        """Why a CPU with flags ``isa`` and quantized ``engines`` cannot run it (None: it can)."""
        if self.cpu_flags and set(self.cpu_flags).isdisjoint(isa):
            return f"needs one of the CPU flags {', '.join(self.cpu_flags)}; this CPU has none"
        if self.engine not in (None, "auto") and self.engine not in engines:
            return f"needs the {self.engine} quantized engine; this torch has {', '.join(engines)}"
        return None

    def files(self) -> tuple[str, ...]:
        """The suite-file keys this method needs (``calibration``, ``train``)."""
        return tuple(k for k in ("calibration", "train") if getattr(self, k))


@dataclass(frozen=True)
class Method:
    """One method: ``build(fp32, config, context)`` makes its model from ``config()``."""

    name: str
    family: str  # torch.ao | onnxruntime | torchao | inductor | pruning
    config: Callable[[], Any]  # the frozen config it builds from
    build: Callable[..., Any]  # compress.methods.build: (fp32, config, Context) -> Built
    precision: Precision
    claim: Claim
    needs: Needs = field(default_factory=Needs)
    about: str = ""
    max_drop_pts: float = 1.0  # the MRPC cases' quality budget (F1 points vs fp32)
    min_agreement: float = 0.90  # answers equal to fp32's over every held-out MRPC pair
    smaller: bool = True  # its checkpoint is smaller than fp32's (the cases gate the ratio)
    search: bool = False  # a quantization choice of both search spaces
    default: bool = False  # run when a suite file lists no methods (needs permitting)
    # of the Linear GEMM calls that must run in ``precision`` (compress.measure.kernels; None:
    # recorded only)
    min_gemm_share: float | None = 0.9

    @property
    def compiled(self) -> bool:
        """Runs under torch.compile (one input shape per built model)."""
        return self.family == "inductor"

    def expect(self) -> Expect:
        """What its label promises the forward runs (checked on every case's kernel record)."""
        opaque = self.family if self.family == "onnxruntime" else ""
        return Expect(self.precision.value, self.compiled, self.min_gemm_share, opaque)


_DYNAMIC = Needs(engine="auto")


# The config factories import their technique when first called: the registry is read at
# every pytest start and command line, which should not pay for ONNX Runtime or scikit-learn.
def _dynamic() -> Any:
    from compress.quantize.dynamic import DynamicQuantConfig

    return DynamicQuantConfig()


def _static() -> Any:
    # Static int8 of every Linear, activations calibrated on 8 train batches. The percentile
    # observer clips BERT's activation outliers; min-max and histogram ranges let a few
    # outliers set the scale on x86's 7-bit activation grid and F1 collapsed (docs/findings.md)
    from compress.quantize.static import StaticQuantConfig

    return StaticQuantConfig(observer="percentile", modules="linear", calibration_batches=8)


def _qat() -> Any:
    # QAT of every Linear. Percentile activation ranges from the first 8 steps, then frozen:
    # moving-average min-max ranges (torch's default) let BERT's activation outliers set the
    # scales and lost F1 on MRPC dev after the same steps (docs/findings.md).
    from compress.quantize.qat import QATConfig

    return QATConfig(epochs=1, lr=1e-5, modules="linear", activation_observer="percentile",
                     freeze_observers_after=8)  # fmt: skip


def _ort(mode: str, per_channel: bool = False) -> Callable[[], Any]:
    def make() -> Any:
        from compress.quantize.onnx_runtime import OrtConfig

        return OrtConfig(mode=mode, per_channel=per_channel)

    return make


def _torchao(scheme: str, config_class: str = "", **options: Any) -> Callable[[], Any]:
    """A torchao config: a scheme of torchao_configs.SCHEMES, or any torchao.quantization
    config ``config_class(**options)`` under the name ``scheme``."""

    def make() -> Any:
        from compress.quantize.torchao_configs import TorchaoConfig

        return TorchaoConfig(scheme, config_class=config_class, options=tuple(options.items()))

    return make


def _dynamic_on(engine: str) -> Callable[[], Any]:
    def make() -> Any:
        from compress.quantize.dynamic import DynamicQuantConfig

        return DynamicQuantConfig(engine=engine)

    return make


def _half(dtype: str, autocast: bool = False) -> Callable[[], Any]:
    def make() -> Any:
        from compress.quantize.half import HalfConfig

        return HalfConfig(dtype, autocast)

    return make


_FP16 = ("avx512_fp16", "amx_fp16")  # a native fp16 GEMM; elsewhere fp16 is converted, slowly


def _fine_prune() -> Any:
    # the suite's CI fine-pruning recipe (test_prune_structured's "taylor"): first-order
    # Taylor scores, self-distilled from the fine-tuned model; epochs from the profile
    from compress.prune.fine_prune import StructuredPruneConfig

    return StructuredPruneConfig(head_sparsity=0.4, ffn_sparsity=0.65, score="taylor", lr=5e-5)


def _compiled(
    method: str, precision: Precision, claim: Claim, torchao: Callable | None = None, **kw: Any
) -> Method:
    """``compiled-<method>``; ``torchao``: a _torchao config beyond CompileConfig's methods."""
    flags = _FP16 if method == "fp16" else ()
    needs = Needs(compiler=True, calibration=method == "pt2e-static", cpu_flags=flags)

    def make() -> Any:
        from compress.quantize.compiled import CompileConfig

        return CompileConfig(method, torchao=torchao() if torchao else None)

    return Method(f"compiled-{method}", "inductor", make, b.compiled, precision, claim, needs,
                  **kw)  # fmt: skip


# fmt: off
METHODS: tuple[Method, ...] = (
    Method("torch-dynamic", "torch.ao", _dynamic, b.torch_dynamic, Precision.INT8,
           Claim.SPEED, _DYNAMIC, "every Linear, per-tensor int8 weights, dynamic activations",
           search=True, default=True),
    Method("torch-static-percentile", "torch.ao", _static, b.torch_static, Precision.INT8,
           Claim.SPEED, Needs(calibration=True, engine="auto"),
           "every Linear between its own stubs, 99.99th-percentile calibration",
           search=True, default=True),
    Method("torch-qat", "torch.ao", _qat, b.trained, Precision.INT8, Claim.SPEED,
           Needs(train=True, engine="auto"), "quantization-aware fine-tuning of every Linear"),
    # the int8 engine is a choice: FBGEMM (the x86 engine's dynamic kernels) does not use AMX,
    # oneDNN does; the rows are gated at the int8 limit of their own engine
    Method("torch-dynamic-fbgemm", "torch.ao", _dynamic_on("fbgemm"), b.torch_dynamic,
           Precision.INT8, Claim.SPEED, Needs(engine="fbgemm"),
           "torch-dynamic with weights packed for the fbgemm engine"),
    Method("torch-dynamic-onednn", "torch.ao", _dynamic_on("onednn"), b.torch_dynamic,
           Precision.INT8, Claim.SPEED, Needs(engine="onednn"),
           "torch-dynamic with weights packed for the onednn engine (AMX where present)"),
    Method("ort-fp32", "onnxruntime", _ort("fp32"), b.ort, Precision.FP32,
           Claim.RECORD, about="ONNX Runtime fp32: the peer of torch fp32",
           min_agreement=0.999, smaller=False),
    Method("ort-dynamic-per-channel", "onnxruntime",
           _ort("dynamic", per_channel=True), b.ort, Precision.INT8,
           Claim.SPEED, about="per-channel weight scales (per-tensor lost far more F1)",
           search=True, default=True),
    # Static QDQ quantizes activations too, only around MatMul/Gemm (quantizing every op made
    # the model predict one class); its budget is wider than the others' (docs/findings.md).
    Method("ort-static", "onnxruntime", _ort("static"), b.ort, Precision.INT8,
           Claim.SPEED, Needs(calibration=True), "QDQ around MatMul/Gemm; budget 3.0 pt",
           max_drop_pts=3.0, min_agreement=0.85, search=True, default=True),
    # torchao is meant to run under torch.compile (the compiled rows gate its speed); eager, it
    # ran 0.84x [0.79, 0.89] fp32 on an AMX Xeon: recorded to compare with torch.ao's eager rows
    Method("torchao-int8-dynamic-eager", "torchao", _torchao("int8-dynamic"),
           b.torchao_eager, Precision.INT8, Claim.RECORD,
           about="eager: no torch.compile; kept to compare", search=True),
    Method("torchao-int8-weight-only-eager", "torchao", _torchao("int8-weight-only"),
           b.torchao_eager, Precision.INT8_WEIGHTS, Claim.RECORD,
           about="eager; matmuls dequantize to fp32: no speedup expected",
           min_gemm_share=None),  # its kernel record: aten::mm in fp32, never an int8 kernel
    # 16-bit: gated at this CPU's own bf16 / fp16 GEMM limit where it has a fast 16-bit path
    Method("bf16", "torch", _half("bfloat16"), b.half, Precision.BF16, Claim.SPEED,
           about="every weight cast to bfloat16 (model.to(torch.bfloat16))", search=True),
    Method("bf16-autocast", "torch", _half("bfloat16", autocast=True), b.half, Precision.BF16,
           Claim.SPEED, about="fp32 weights, matmuls under torch.autocast(bfloat16)",
           smaller=False),
    Method("fp16", "torch", _half("float16"), b.half, Precision.FP16, Claim.SPEED,
           Needs(cpu_flags=_FP16), "every weight cast to float16"),
    _compiled("fp32", Precision.FP32, Claim.RECORD,
              about="torch.compile of fp32: the reference of the compiled rows", smaller=False),
    _compiled("torchao-int8-dynamic", Precision.INT8, Claim.SPEED,
              about="torchao quantize_ + torch.compile, as torchao means it to run", search=True,
              default=True),
    # its kernel record: Inductor folds the dequantized weights into fp32 mkl::_mkl_linear
    _compiled("torchao-int8-weight-only", Precision.INT8_WEIGHTS, Claim.RECORD,
              about="weights int8, activations fp32: no int8 GEMM", min_gemm_share=None),
    _compiled("torchao-int4-weight-only", Precision.INT4_WEIGHTS, Claim.RECORD,
              about="needs torchao's int4 kernels (CUDA / mslk): skips on CPU",
              min_gemm_share=None),
    _compiled("pt2e-static", Precision.INT8, Claim.SPEED,
              about="X86InductorQuantizer, 64 calibration rows, lowered by Inductor", search=True,
              default=True),
    _compiled("pt2e-dynamic", Precision.INT8, Claim.SPEED,
              about="X86InductorQuantizer with dynamic activation scales"),
    _compiled("bf16", Precision.BF16, Claim.SPEED,
              about="weights cast to bfloat16, Inductor with freezing"),
    _compiled("fp16", Precision.FP16, Claim.SPEED,
              about="weights cast to float16, Inductor with freezing"),
    Method("fine-pruned", "pruning", _fine_prune, b.trained, Precision.FP32, Claim.SPEED,
           Needs(train=True), "heads and FFN rows removed (Taylor scores), compacted",
           default=True),
    Method("fine-pruned-int8", "pruning", _fine_prune, b.trained_int8, Precision.INT8,
           Claim.SPEED, Needs(train=True, engine="auto"), "fine-pruned, then torch-dynamic",
           default=True),
)
# fmt: on
REGISTRY: dict[str, Method] = {m.name: m for m in METHODS}


class UnknownMethod(ValueError):
    """A name the registry lacks (the message lists the known ones)."""


def get(name: str) -> Method:
    """The method ``name``; UnknownMethod naming every known one otherwise."""
    if name not in REGISTRY:
        raise UnknownMethod(f"unknown method {name!r} (expected one of {', '.join(REGISTRY)})")
    return REGISTRY[name]


def select(**where: Any) -> Iterator[Method]:
    """The methods whose attributes equal ``where`` (e.g. ``family="inductor"``), in order."""
    return (m for m in METHODS if all(getattr(m, k) == v for k, v in where.items()))
