"""ONNX Runtime backend: export, fp32 parity, dynamic/static quantization, config validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from compress.quantize.onnx_runtime import (
    OrtClassifier,
    OrtConfig,
    OrtLM,
    export_onnx,
    export_onnx_lm,
    onnx_file_size,
    ort_quantize,
)
from compress.train.evaluate import evaluate_classifier, logits_of
from fixtures.models.bert import TINY, random_classifier, synthetic_batch

CONFIGS = [
    OrtConfig(mode="fp32"),
    OrtConfig(mode="dynamic"),
    OrtConfig(mode="dynamic", per_channel=True),
    OrtConfig(mode="static", calibration_batches=2),
    OrtConfig(mode="static", calibration_batches=2, per_channel=True),
    OrtConfig(mode="dynamic", threads=2),
]
ATOL = {"fp32": 1e-4, "dynamic": 0.05, "static": 0.05}


def _id(config: OrtConfig) -> str:
    return f"{config.mode}{'-per-channel' if config.per_channel else ''}-t{config.threads}"


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    return random_classifier(TINY, seed=1)


@pytest.fixture(scope="module")
def fp32_onnx(tiny: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "tiny-fp32.onnx"
    return export_onnx(tiny, synthetic_batch(TINY["vocab_size"], 2, 16), path)


def _calibration(n: int) -> list[dict[str, torch.Tensor]]:
    return [synthetic_batch(TINY["vocab_size"], 2, 16, seed=s) for s in range(n)]


def test_fp32_matches_torch_at_other_shapes(tiny: nn.Module, fp32_onnx: Path) -> None:
    ort = OrtClassifier(fp32_onnx, OrtConfig(mode="fp32"))
    for batch_size, seq in ((1, 8), (3, 24)):
        batch = synthetic_batch(TINY["vocab_size"], batch_size, seq, seed=7)
        with torch.inference_mode():
            expected = logits_of(tiny, batch)
        got = ort(**batch)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("config", CONFIGS, ids=_id)
def test_quantized_logits_close_and_file_smaller(
    tiny: nn.Module, fp32_onnx: Path, tmp_path: Path, config: OrtConfig
) -> None:
    before = fp32_onnx.read_bytes()
    out = ort_quantize(fp32_onnx, tmp_path / "out.onnx", config, _calibration(4))
    assert fp32_onnx.read_bytes() == before, "input model was modified"
    batch = synthetic_batch(TINY["vocab_size"], 2, 16, seed=3)
    with torch.inference_mode():
        expected = logits_of(tiny, batch)
    got = logits_of(OrtClassifier(out, config), {**batch, "labels": torch.zeros(2)})
    diff = (got - expected).abs().max().item()
    assert diff <= ATOL[config.mode], f"{_id(config)}: max |logit diff| {diff:.4f}"
    if config.mode == "fp32":
        assert onnx_file_size(out) == onnx_file_size(fp32_onnx)
    else:
        assert onnx_file_size(out) < onnx_file_size(fp32_onnx)


def test_evaluate_classifier_runs_on_ort(tiny: nn.Module, fp32_onnx: Path) -> None:
    batches = [
        {**synthetic_batch(TINY["vocab_size"], 4, 16, seed=s), "labels": torch.tensor([0, 1] * 2)}
        for s in range(2)
    ]
    got = evaluate_classifier(OrtClassifier(fp32_onnx), batches, progress=False)
    want = evaluate_classifier(tiny, batches, progress=False)
    assert got.predictions == want.predictions
    assert got.metrics == want.metrics


def test_static_needs_calibration(fp32_onnx: Path, tmp_path: Path) -> None:
    config = OrtConfig(mode="static")
    with pytest.raises(ValueError, match="calibration needs at least one batch; got 0"):
        ort_quantize(fp32_onnx, tmp_path / "s.onnx", config, [])
    with pytest.raises(ValueError, match="got 0"):
        ort_quantize(fp32_onnx, tmp_path / "s.onnx", config, None)


def test_refuses_to_overwrite_input(fp32_onnx: Path) -> None:
    with pytest.raises(ValueError, match="must differ"):
        ort_quantize(fp32_onnx, fp32_onnx, OrtConfig())


def test_missing_input_is_named(fp32_onnx: Path) -> None:
    batch = synthetic_batch(TINY["vocab_size"], 1, 8)
    del batch["token_type_ids"]
    with pytest.raises(ValueError, match="token_type_ids"):
        OrtClassifier(fp32_onnx)(**batch)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "int3"}, "mode must be one of"),
        ({"threads": 0}, "threads must be >= 1"),
        ({"calibration_batches": 0}, "calibration_batches must be >= 1"),
        ({"opset": 11}, "opset must be >= 13"),
    ],
    ids=["mode-int3", "threads-0", "calibration-0", "opset-11"],
)
def test_bad_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrtConfig(**kwargs)


def test_config_is_frozen_and_serializable() -> None:
    config = OrtConfig(mode="static", per_channel=True)
    with pytest.raises(AttributeError):
        config.mode = "fp32"  # type: ignore[misc]
    assert config.to_dict() == {
        "mode": "static",
        "per_channel": True,
        "calibration_batches": 8,
        "threads": 1,
        "opset": 17,
    }


def test_lstm_lm_export_matches_torch_and_dynamic_int8_quantizes_the_lstm(tmp_path: Path) -> None:
    """The LM peer: fp32 ORT equals torch (state carried across windows); dynamic int8 turns
    the LSTM into DynamicQuantizeLSTM, shrinks the file and stays close."""
    import onnx

    from fixtures.recipes.lstm_lm import LMConfig, RNNModel, evaluate_lm

    torch.manual_seed(0)
    lm = RNNModel(LMConfig(ntoken=50, ninp=16, nhid=16, nlayers=2)).eval()
    tokens = torch.randint(0, 50, (7, 3))
    fp32 = export_onnx_lm(lm, tokens, lm.init_hidden(3), tmp_path / "lm.onnx")
    stream = torch.randint(0, 50, (400,))
    loss_torch, _ = evaluate_lm(lm, stream, bptt=9, batch_size=4)
    loss_ort, _ = evaluate_lm(OrtLM(fp32, 2, 16), stream, bptt=9, batch_size=4)
    assert loss_ort == pytest.approx(loss_torch, abs=1e-5)
    int8 = ort_quantize(fp32, tmp_path / "lm8.onnx", OrtConfig(mode="dynamic"))
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    loss8, _ = evaluate_lm(OrtLM(int8, 2, 16), stream, bptt=9, batch_size=4)
    assert loss8 == pytest.approx(loss_torch, abs=0.05)
    assert onnx_file_size(int8) < onnx_file_size(fp32)
