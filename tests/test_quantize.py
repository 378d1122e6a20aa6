"""Dynamic quantization: config validation, untouched input, int8 modules, engines, save/load."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.core.torch_ao import nnqd
from compress.quantize.dynamic import DynamicQuantConfig, default_engine, quantize_dynamic
from compress.quantize.serialize import load_quantized, save_quantized
from compress.train.evaluate import logits_of
from fixtures.models.bert import TINY, random_classifier, synthetic_batch

CONFIGS = [
    DynamicQuantConfig(),
    DynamicQuantConfig(engine="fbgemm"),
    DynamicQuantConfig(engine="qnnpack"),
    DynamicQuantConfig(dtype="float16"),
]


@pytest.fixture
def tiny() -> nn.Module:
    return random_classifier(TINY, seed=1)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.dtype}-{c.engine}")
def test_quantizes_every_linear_and_leaves_input_alone(tiny: nn.Module, config) -> None:
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    quantized = quantize_dynamic(tiny, config)
    assert all(
        not isinstance(m, nn.Linear) or isinstance(m, nnqd.Linear) for m in quantized.modules()
    )
    n_linear = sum(isinstance(m, nn.Linear) for m in tiny.modules())
    assert sum(isinstance(m, nnqd.Linear) for m in quantized.modules()) == n_linear
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())
    batch = synthetic_batch(TINY["vocab_size"], 2, 16)
    with torch.inference_mode():
        diff = (logits_of(tiny, batch) - logits_of(quantized, batch)).abs().max().item()
    assert diff < 0.05, f"int8 logits drift {diff}"


def test_lstm_is_quantized_when_asked() -> None:
    model = nn.Sequential(
        nn.LSTM(8, 8),
    )
    quantized = quantize_dynamic(model, DynamicQuantConfig(module_types=("LSTM",)))
    assert isinstance(quantized[0], nnqd.LSTM)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "tpu"}, "unknown engine 'tpu'"),
        ({"module_types": ("Conv2d",)}, r"unknown module type\(s\) \['Conv2d'\]"),
        ({"module_types": ()}, "module_types is empty"),
        ({"dtype": "int4"}, "no int4 Linear/LSTM kernel on any engine"),
        ({"dtype": "int16"}, "dtype must be"),
        ({"keep_fp32": ("",)}, "keep_fp32 must be module names"),
        ({"fixed_point": "yes"}, "fixed_point must be True or False"),
        ({"fixed_point": True, "dtype": "float16"}, "fixed_point applies to int8"),
    ],
    ids=[
        "unknown-engine",
        "unknown-module",
        "no-modules",
        "int4-dtype",
        "bad-dtype",
        "empty-name",
        "fixed-point-not-bool",
        "fixed-point-fp16",
    ],
)
def test_bad_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DynamicQuantConfig(**kwargs)


def test_default_engine_is_supported() -> None:
    assert default_engine() in torch.backends.quantized.supported_engines
    assert DynamicQuantConfig().to_dict()["engine"] == default_engine()


def test_save_load_gives_identical_logits(tiny: nn.Module, tmp_path) -> None:
    config = DynamicQuantConfig()
    quantized = quantize_dynamic(tiny, config)
    path = save_quantized(quantized, tmp_path / "q", config)
    reloaded = load_quantized(path)
    batch = synthetic_batch(TINY["vocab_size"], 3, 24, seed=5)
    with torch.inference_mode():
        assert torch.equal(logits_of(quantized, batch), logits_of(reloaded, batch))


def test_load_from_incomplete_directory_names_the_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"quantized\.pt: missing"):
        load_quantized(tmp_path)


def test_load_with_other_architecture_fails_loudly(tiny: nn.Module, tmp_path) -> None:
    config = DynamicQuantConfig()
    path = save_quantized(quantize_dynamic(tiny, config), tmp_path / "q", config)
    other = dict(TINY, hidden_size=32)
    with pytest.raises(RuntimeError, match=r"size mismatch|Missing key|Unexpected key"):
        load_quantized(path, build_fp32=lambda: random_classifier(other))


def test_keep_fp32_leaves_exactly_the_named_layers_in_fp32(tiny: nn.Module) -> None:
    linears = [n for n, m in tiny.named_modules() if isinstance(m, nn.Linear)]
    kept = tuple(linears[:2])
    quantized = quantize_dynamic(tiny, DynamicQuantConfig(keep_fp32=kept))
    modules = dict(quantized.named_modules())
    assert all(type(modules[n]) is nn.Linear for n in kept)
    assert all(isinstance(modules[n], nnqd.Linear) for n in linears[2:])
    assert (
        DynamicQuantConfig.from_dict(DynamicQuantConfig(keep_fp32=kept).to_dict()).keep_fp32 == kept
    )


def test_keep_fp32_with_an_unknown_name_is_refused(tiny: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"keep_fp32 names no module of this model: \['nope'\]"):
        quantize_dynamic(tiny, DynamicQuantConfig(keep_fp32=("nope",)))


def test_fixed_point_weights_have_power_of_two_scales(tiny: nn.Module) -> None:
    plain = quantize_dynamic(tiny, DynamicQuantConfig())
    fixed = quantize_dynamic(tiny, DynamicQuantConfig(fixed_point=True))
    pairs = [
        (a.weight(), b.weight())
        for a, b in zip(plain.modules(), fixed.modules(), strict=True)
        if isinstance(b, nnqd.Linear)
    ]
    assert pairs
    for float_scaled, pow2 in pairs:
        exponent = torch.log2(torch.tensor(pow2.q_scale()))
        assert exponent == exponent.round() and pow2.q_zero_point() == 0
        assert float_scaled.q_scale() <= pow2.q_scale() < 2 * float_scaled.q_scale()
    batch = synthetic_batch(TINY["vocab_size"], 2, 16)
    with torch.inference_mode():
        diff = (logits_of(tiny, batch) - logits_of(fixed, batch)).abs().max().item()
    assert diff < 0.1, f"fixed-point int8 logits drift {diff}"
