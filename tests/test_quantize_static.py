"""Static PTQ and QAT: config validation, calibration errors, untouched input, int8 modules."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from compress.core.torch_ao import FakeQuantizeBase, nniq, nnq
from compress.quantize.dynamic import default_engine
from compress.quantize.qat import QATConfig, convert_qat, prepare_qat, train_qat
from compress.quantize.static import (
    PercentileObserver,
    StaticQuantConfig,
    check_observers_finite,
    quantize_static,
)
from compress.train.evaluate import logits_of
from fixtures.recipes.digits import (
    FUSE,
    DigitsCNN,
    DigitsRecipe,
    batches,
    load_digits_split,
    trained_digits_cnn,
)

CONFIGS = [
    StaticQuantConfig(),
    StaticQuantConfig(observer="minmax", per_channel_weights=False),
    StaticQuantConfig(observer="percentile", percentile=99.9),
    StaticQuantConfig(engine="fbgemm"),
    StaticQuantConfig(observer="minmax", per_channel_weights=False, engine="qnnpack"),
]
QAT_CONFIGS = [
    QATConfig(epochs=1),
    QATConfig(epochs=1, per_channel_weights=False, engine="qnnpack"),
]


@pytest.fixture
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return DigitsCNN(width=1).eval()


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def calib() -> list[dict[str, torch.Tensor]]:
    return [
        {"x": _images(8, seed), "labels": torch.zeros(8, dtype=torch.long)} for seed in range(4)
    ]


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_state(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    after = model.state_dict()
    return after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in after)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"observer": "kl"}, "unknown observer 'kl'"),
        ({"calibration_batches": 0}, "calibration_batches must be >= 1, got 0"),
        ({"engine": "tpu"}, "unknown engine 'tpu'"),
        ({"observer": "percentile", "percentile": 40.0}, "percentile must be in"),
    ],
    ids=["unknown-observer", "zero-calibration-batches", "unknown-engine", "bad-percentile"],
)
def test_bad_static_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StaticQuantConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"engine": "tpu"}, "unknown engine 'tpu'"),
    ],
    ids=["zero-epochs", "zero-lr", "unknown-engine"],
)
def test_bad_qat_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QATConfig(**kwargs)


def test_auto_engine_resolves_and_is_recorded() -> None:
    assert StaticQuantConfig().to_dict()["engine"] == default_engine()
    assert QATConfig().to_dict()["engine"] == default_engine()


def test_zero_calibration_batches_is_an_error(tiny: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"^calibration needs at least one batch; got 0$"):
        quantize_static(tiny, replace(StaticQuantConfig(), fuse=FUSE), calibration=[])


def test_nan_input_names_the_batch(tiny: nn.Module, calib: list) -> None:
    calib[2]["x"][0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"calibration batch 2: input 'x' has 1 NaN/inf"):
        quantize_static(tiny, replace(StaticQuantConfig(), fuse=FUSE), calibration=calib)


def test_batches_past_the_limit_are_not_read(tiny: nn.Module, calib: list) -> None:
    calib[3]["x"][:] = float("inf")  # would fail if read; calibration_batches=3 stops before it
    config = StaticQuantConfig(calibration_batches=3)
    out = quantize_static(tiny, replace(config, fuse=FUSE), calibration=iter(calib))
    with torch.inference_mode():
        assert torch.isfinite(out(x=calib[0]["x"])).all()


def test_overflowing_activations_are_an_error(tiny: nn.Module) -> None:
    with torch.no_grad():
        tiny.conv1.weight.fill_(1e38)  # finite input and weights, inf after conv1
    huge = [{"x": torch.ones(2, 1, 8, 8)}]
    with pytest.raises(ValueError, match=r"observer\(s\) \[.*\] recorded a non-finite"):
        quantize_static(
            tiny, replace(StaticQuantConfig(observer="minmax"), fuse=FUSE), calibration=huge
        )


def test_unfed_observers_are_reported() -> None:
    model = nn.Sequential(PercentileObserver())
    with pytest.raises(ValueError, match=r"observer\(s\) \['0'\]"):
        check_observers_finite(model)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.id)
def test_static_int8_is_close_and_leaves_input_alone(
    tiny: nn.Module, calib: list, config: StaticQuantConfig
) -> None:
    before = _state(tiny)
    quantized = quantize_static(tiny, replace(config, fuse=FUSE), calibration=calib)
    assert _same_state(tiny, before)
    assert isinstance(tiny.conv1, nn.Conv2d) and not hasattr(tiny, "qconfig")
    assert isinstance(quantized.conv1, nniq.ConvReLU2d)
    assert isinstance(quantized.fc1, nniq.LinearReLU)
    assert isinstance(quantized.fc2, nnq.Linear)
    assert isinstance(quantized.quant, nnq.Quantize)
    assert torch.backends.quantized.engine == config.resolved_engine
    x = {"x": _images(16, seed=99)}
    with torch.inference_mode():
        ref, out = logits_of(tiny, x), logits_of(quantized, x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    err = (out - ref).abs().max().item()
    assert err <= 0.1 * ref.abs().max().item(), f"int8 logits drift {err}"


def test_percentile_observer_clips_outliers() -> None:
    x = torch.cat([torch.linspace(0, 1, 9999), torch.tensor([1000.0])])
    clipped, full = PercentileObserver(percentile=99.9), PercentileObserver(percentile=100.0)
    clipped(x)
    full(x)
    assert clipped.max_val.item() == pytest.approx(1.0, abs=1e-3)
    assert full.max_val.item() == 1000.0
    assert clipped.min_val.item() == pytest.approx(0.0, abs=1e-3)
    assert full.min_val.item() == 0.0
    assert "percentile=99.9" in repr(clipped)


def test_percentile_observer_keeps_the_widest_range() -> None:
    obs = PercentileObserver(percentile=100.0)
    obs(torch.tensor([0.0, 2.0]))
    obs(torch.tensor([-1.0, 1.0]))
    assert (obs.min_val.item(), obs.max_val.item()) == (-1.0, 2.0)


@pytest.mark.parametrize("config", QAT_CONFIGS, ids=lambda c: c.id)
def test_prepare_and_convert_qat(tiny: nn.Module, calib: list, config: QATConfig) -> None:
    before = _state(tiny)
    prepared = prepare_qat(tiny, replace(config, fuse=FUSE))
    assert _same_state(tiny, before) and not tiny.training
    assert prepared.training
    fakes = [m for m in prepared.modules() if isinstance(m, FakeQuantizeBase)]
    assert len(fakes) >= 5, "expected fake-quant on weights and activations"
    prepared(x=calib[0]["x"])  # one forward so observers have ranges
    prepared_state = _state(prepared)
    converted = convert_qat(prepared)
    assert _same_state(prepared, prepared_state) and prepared.training
    assert isinstance(converted.conv1, nniq.ConvReLU2d)
    assert isinstance(converted.fc2, nnq.Linear)
    assert not any(isinstance(m, FakeQuantizeBase) for m in converted.modules())


def test_train_qat_keeps_a_trained_model_accurate(tmp_path) -> None:
    split = load_digits_split()
    recipe = DigitsRecipe(epochs=4, width=1)
    fp32 = trained_digits_cnn(recipe, root=tmp_path)
    again = trained_digits_cnn(recipe, root=tmp_path)  # from the cache entry just written
    assert _same_state(again, _state(fp32))
    before = _state(fp32)
    train = batches(split.x_train, split.y_train, 64, shuffle=True, seed=0)
    int8 = train_qat(fp32, QATConfig(epochs=1, lr=1e-4, fuse=FUSE), batches=train, progress=False)
    assert _same_state(fp32, before)
    assert isinstance(int8.conv2, nniq.ConvReLU2d)
    with torch.inference_mode():
        acc32 = (logits_of(fp32, {"x": split.x_test}).argmax(-1) == split.y_test).float().mean()
        acc8 = (logits_of(int8, {"x": split.x_test}).argmax(-1) == split.y_test).float().mean()
    assert acc32 > 0.9, f"fp32 digits CNN reached only {acc32:.3f}"
    assert acc8 >= acc32 - 0.03, f"QAT int8 {acc8:.3f} vs fp32 {acc32:.3f}"


def test_digits_split_is_stratified_and_deterministic() -> None:
    a, b = load_digits_split(seed=0), load_digits_split(seed=0)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert a.x_train.shape == (1347, 1, 8, 8) and a.x_test.shape == (450, 1, 8, 8)
    assert a.x_train.min() >= 0.0 and a.x_train.max() <= 1.0
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47  # ~180 per class x 0.25
    assert "stratified 75/25 split, seed 0" in a.source
    parts = batches(a.x_test, a.y_test, 64)
    assert [len(p["labels"]) for p in parts] == [64] * 7 + [2]
    assert torch.equal(torch.cat([p["x"] for p in parts]), a.x_test)


def test_train_qat_needs_batches(tiny: nn.Module) -> None:
    with pytest.raises(ValueError, match="at least one training batch"):
        train_qat(tiny, QATConfig(fuse=FUSE), batches=[])
