"""ONNX Runtime backend: export to ONNX, quantize with ORT, run on CPU.

Two model kinds: an HF sequence classifier (``export_onnx`` + ``OrtClassifier``) and an LSTM
language model with the word_language_model interface ``model(tokens, (h, c)) -> (logits,
(h, c))`` (``export_onnx_lm`` + ``OrtLM``). ORT's dynamic quantization covers LSTM (as
DynamicQuantizeLSTM) and MatMul/Gemm; its static QDQ quantizer has no LSTM support, so the LM
runs fp32 and dynamic only.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from torch import nn

from compress.core.config import config_from_dict

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
LM_NAMES = ("tokens", "h0", "c0")
MODES = ("fp32", "dynamic", "static")


@dataclass(frozen=True)
class OrtConfig:
    """How to quantize an ONNX model with ONNX Runtime and how many threads run it."""

    mode: str = "dynamic"  # "fp32" (no quantization), "dynamic" or "static" (QDQ, calibrated)
    per_channel: bool = False  # per-output-channel weight scales
    calibration_batches: int = 8  # batches fed to static calibration (static only)
    threads: int = 1  # intra-op threads of the InferenceSession
    opset: int = 17  # ONNX opset used at export

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.calibration_batches < 1:
            raise ValueError(f"calibration_batches must be >= 1, got {self.calibration_batches}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.opset < 13:
            raise ValueError(f"opset must be >= 13 for quantization, got {self.opset}")

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrtConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ())


def _input_names(batch: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    """The batch's model inputs in forward order (token_type_ids only where the tokenizer
    gives them: DistilBERT and RoBERTa take none, and a third positional is no type id)."""
    missing = [n for n in INPUT_NAMES[:2] if n not in batch]
    if missing:
        raise ValueError(f"batch lacks input(s) {missing}; has {sorted(batch)}")
    return tuple(n for n in INPUT_NAMES if n in batch)


def export_onnx(
    model: nn.Module, example_batch: Mapping[str, torch.Tensor], path: Path | str, opset: int = 17
) -> Path:
    """Export an HF sequence classifier to ONNX (dynamic batch and sequence axes); return path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
            names = _input_names(example_batch)
            torch.onnx.export(
                model,
                tuple(example_batch[n] for n in names),
                str(path),
                input_names=list(names),
                output_names=["logits"],
                dynamo=False,
                opset_version=opset,
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in names},
            )
    finally:
        model.train(was_training)
    return path


def _numpy_inputs(batch: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {n: np.ascontiguousarray(t.numpy(), dtype=np.int64) for n, t in batch.items()}


class _Batches(CalibrationDataReader):
    """Calibration reader over batch dicts: int64 numpy model inputs, labels dropped."""

    def __init__(self, batches: list[Mapping[str, torch.Tensor]]) -> None:
        self._inputs = [_numpy_inputs({n: b[n] for n in INPUT_NAMES}) for b in batches]
        self._next = iter(self._inputs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._next, None)

    def rewind(self) -> None:
        self._next = iter(self._inputs)


def ort_quantize(
    fp32_path: Path | str,
    out_path: Path | str,
    config: OrtConfig,
    calibration_batches: Iterable[Mapping[str, torch.Tensor]] | None = None,
) -> Path:
    """Write a quantized copy of the fp32 ONNX model to ``out_path`` (fp32 mode: a plain copy)."""
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if out_path.resolve() == fp32_path.resolve():
        raise ValueError(f"out_path must differ from fp32_path ({fp32_path})")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if config.mode == "fp32":
        out_path.write_bytes(fp32_path.read_bytes())
    elif config.mode == "dynamic":
        quantize_dynamic(
            fp32_path, out_path, weight_type=QuantType.QInt8, per_channel=config.per_channel
        )
    else:
        batches = list(calibration_batches or [])[: config.calibration_batches]
        if not batches:
            raise ValueError("calibration needs at least one batch; got 0")
        # quant_pre_process is skipped: its symbolic shape inference fails on this exporter's
        # BERT graph ("Incomplete symbolic shape inference"), and quantize_static works without.
        with warnings.catch_warnings():
            # Constant tensors with an empty range give 0/0 zero points; ORT handles them.
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
            quantize_static(
                fp32_path,
                out_path,
                _Batches(batches),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=config.per_channel,
                # Only the matmuls: quantizing every op (Add, Gather, mask arithmetic) made the
                # MiniLM MRPC model predict one class (docs/findings.md).
                op_types_to_quantize=["MatMul", "Gemm"],
            )
    return out_path


def export_onnx_lm(
    model: nn.Module,
    tokens: torch.Tensor,
    hidden: tuple[torch.Tensor, torch.Tensor],
    path: Path | str,
    opset: int = 17,
) -> Path:
    """Export an LSTM LM ``model(tokens, (h, c)) -> (logits, (h, c))`` to ONNX, with dynamic
    sequence and batch axes (tokens are (seq, batch), states (layers, batch, hidden))."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    class _Flat(nn.Module):  # ONNX wants flat tensors in and out
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, t: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple:
            logits, (h1, c1) = self.inner(t, (h, c))
            return logits, h1, c1

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(
                _Flat(model),
                (tokens, *hidden),
                str(path),
                input_names=list(LM_NAMES),
                output_names=["logits", "h1", "c1"],
                dynamo=False,
                opset_version=opset,
                dynamic_axes={
                    "tokens": {0: "seq", 1: "batch"},
                    "h0": {1: "batch"},
                    "c0": {1: "batch"},
                    "logits": {0: "seq", 1: "batch"},
                    "h1": {1: "batch"},
                    "c1": {1: "batch"},
                },
            )
    finally:
        model.train(was_training)
    return path


def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OrtLM:
    """An ORT session with the LM interface ``model(tokens, (h, c)) -> (logits, (h, c))``."""

    training = False

    def __init__(self, path: Path | str, nlayers: int, nhid: int, threads: int = 1) -> None:
        self.path = Path(path)
        self.nlayers, self.nhid = nlayers, nhid
        self.session = _session(self.path, threads)

    def __call__(
        self, tokens: torch.Tensor, hidden: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        feeds = {
            "tokens": np.ascontiguousarray(tokens.numpy(), dtype=np.int64),
            "h0": np.ascontiguousarray(hidden[0].numpy(), dtype=np.float32),
            "c0": np.ascontiguousarray(hidden[1].numpy(), dtype=np.float32),
        }
        logits, h1, c1 = self.session.run(["logits", "h1", "c1"], feeds)
        return torch.from_numpy(logits), (torch.from_numpy(h1), torch.from_numpy(c1))

    def init_hidden(self, bsz: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) for ``bsz`` streams."""
        shape = (self.nlayers, bsz, self.nhid)
        return torch.zeros(shape), torch.zeros(shape)

    def eval(self) -> OrtLM:
        """No-op; returns self."""
        return self


class OrtClassifier:
    """An ONNX Runtime CPU session that acts like an HF classifier: ``model(**batch)`` → logits."""

    training = False

    def __init__(self, path: Path | str, config: OrtConfig | None = None) -> None:
        self.path = Path(path)
        self.config = config or OrtConfig()
        self.session = _session(self.path, self.config.threads)
        self.input_names = tuple(i.name for i in self.session.get_inputs())

    def __call__(self, **batch: torch.Tensor) -> torch.Tensor:
        """Logits for the model inputs in ``batch`` (``labels`` and unknown keys ignored)."""
        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise ValueError(f"batch lacks input(s) {missing}; has {sorted(batch)}")
        feeds = _numpy_inputs({n: batch[n] for n in self.input_names})
        (logits,) = self.session.run(["logits"], feeds)
        return torch.from_numpy(logits)

    def eval(self) -> OrtClassifier:
        """No-op (an ORT session has no training mode); returns self."""
        return self

    def train(self, mode: bool = True) -> OrtClassifier:
        """No-op; an ORT session only runs inference. Returns self."""
        return self


def onnx_file_size(path: Path | str) -> int:
    """Bytes of the ONNX file on disk (plus any external-data file beside it)."""
    path = Path(path)
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)
