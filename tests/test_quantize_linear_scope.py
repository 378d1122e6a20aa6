"""Static PTQ and QAT of a stub-less model (HF BERT) through per-Linear stubs; torchao peer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.core.torch_ao import FakeQuantizeBase, nnq
from compress.quantize.qat import QATConfig, convert_qat, fit_qat_, prepare_qat
from compress.quantize.static import (
    StaticQuantConfig,
    StubbedLinear,
    quantize_static,
    stub_linears,
)
from compress.quantize.torchao_configs import BackendUnsupported, TorchaoConfig, quantize_torchao
from compress.train.evaluate import logits_of
from fixtures.models.bert import TINY, random_classifier, synthetic_batch
from fixtures.recipes.qat_bert import BertQATRecipe


@pytest.fixture
def tiny() -> nn.Module:
    return random_classifier(TINY)


@pytest.fixture
def batches() -> list[dict[str, torch.Tensor]]:
    return [synthetic_batch(TINY["vocab_size"], 4, 16, seed=s) for s in range(3)]


def _linears(model: nn.Module) -> int:
    return sum(type(m) is nn.Linear for m in model.modules())


def test_stubbing_wraps_every_linear_and_changes_nothing_numerically(tiny, batches) -> None:
    n = _linears(tiny)
    stubbed = stub_linears(tiny)
    assert sum(isinstance(m, StubbedLinear) for m in stubbed.modules()) == n == 2 * 6 + 2
    assert _linears(tiny) == n, "input model was modified"
    torch.testing.assert_close(logits_of(stubbed, batches[0]), logits_of(tiny, batches[0]))


def test_stubbing_a_model_without_linear_is_an_error() -> None:
    with pytest.raises(ValueError, match="has none"):
        stub_linears(nn.Sequential(nn.ReLU()))


def test_model_scope_without_stubs_is_a_clear_error(tiny, batches) -> None:
    with pytest.raises(ValueError, match="use modules='linear'"):
        quantize_static(tiny, StaticQuantConfig(modules="model"), calibration=batches)


@pytest.mark.parametrize("observer", ["minmax", "percentile"])
def test_linear_scope_static_int8(tiny, batches, observer: str) -> None:
    config = StaticQuantConfig(observer=observer, modules="linear", percentile=99.9)
    int8 = quantize_static(tiny, config, calibration=batches)
    quantized = [m for m in int8.modules() if isinstance(m, nnq.Linear)]
    assert len(quantized) == _linears(tiny), "every Linear should run in int8"
    assert not any(type(m) is nn.LayerNorm and hasattr(m, "scale") for m in int8.modules())
    ref, got = logits_of(tiny, batches[0]), logits_of(int8, batches[0])
    assert (got - ref).abs().max() < 0.05 * ref.abs().max() + 0.05
    assert config.id.startswith("linear-") and config.to_dict()["modules"] == "linear"


def test_bad_scope_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown modules 'conv'"):
        StaticQuantConfig(modules="conv")
    with pytest.raises(ValueError, match="unknown modules 'all'"):
        QATConfig(modules="all")


def test_linear_scope_qat_state_round_trips(tiny, batches) -> None:
    """The cached form of BERT QAT: train fake-quant, save state, rebuild, convert: same int8."""
    config = QATConfig(epochs=1, lr=1e-4, modules="linear")
    labelled = [{**b, "labels": torch.tensor([0, 1, 0, 1])} for b in batches]
    qat = fit_qat_(prepare_qat(tiny, config), config, batches=labelled, progress=False)
    assert any(isinstance(m, FakeQuantizeBase) for m in qat.modules())
    rebuilt = prepare_qat(tiny, config)
    rebuilt.load_state_dict(qat.state_dict())
    a, b = convert_qat(qat), convert_qat(rebuilt)
    torch.testing.assert_close(logits_of(a, batches[0]), logits_of(b, batches[0]))
    assert sum(isinstance(m, nnq.Linear) for m in a.modules()) == _linears(tiny)


def test_bert_qat_recipe_needs_linear_scope() -> None:
    with pytest.raises(ValueError, match="modules='linear'"):
        BertQATRecipe(qat=QATConfig(modules="model"))
    with pytest.raises(ValueError, match="invalid"):
        BertQATRecipe(max_batches=0)


@pytest.mark.parametrize("scheme", ["int8-dynamic", "int8-weight-only"])
def test_torchao_int8_is_close_smaller_and_leaves_input_alone(tiny, batches, scheme) -> None:
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    q = quantize_torchao(tiny, TorchaoConfig(scheme))
    ref, got = logits_of(tiny, batches[0]), logits_of(q, batches[0])
    assert (got - ref).abs().max() < 0.05 * ref.abs().max() + 0.05
    for k, v in tiny.state_dict().items():
        assert torch.equal(v, before[k]), f"input changed at {k}"
    assert type(tiny.classifier.weight) is nn.Parameter
    assert type(q.classifier.weight) is not nn.Parameter  # a torchao quantized tensor


def test_torchao_int4_on_cpu_names_what_is_missing(tiny) -> None:
    """Asking int4 of a backend that cannot: a clear error, not a crash deep in torchao."""
    try:
        quantize_torchao(tiny, TorchaoConfig("int4-weight-only"))
    except BackendUnsupported as err:
        assert "int4-weight-only" in str(err) and "torchao" in str(err)
    else:  # a build with CPU int4 kernels: then it must really have quantized
        pytest.skip("this torchao build has CPU int4 kernels")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"scheme": "int3"}, "unknown torchao scheme"), ({"group_size": 48}, "group_size must")],
)
def test_bad_torchao_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TorchaoConfig(**kwargs)


def test_percentile_qat_freezes_observers_after_the_given_steps(tiny, batches) -> None:
    config = QATConfig(
        epochs=2,
        lr=1e-4,
        modules="linear",
        activation_observer="percentile",
        freeze_observers_after=3,
    )
    labelled = [{**b, "labels": torch.tensor([0, 1, 0, 1])} for b in batches]
    qat = fit_qat_(prepare_qat(tiny, config), config, batches=labelled, progress=False)
    fakes = [m for m in qat.modules() if isinstance(m, FakeQuantizeBase)]
    assert fakes and all(int(m.observer_enabled[0]) == 0 for m in fakes)
    assert "p99.99" in config.id
    int8 = convert_qat(qat)
    ref, got = logits_of(tiny, batches[0]), logits_of(int8, batches[0])
    assert (got - ref).abs().max() < 0.1 * ref.abs().max() + 0.1


def test_observers_keep_running_without_freeze(tiny, batches) -> None:
    config = QATConfig(epochs=1, lr=1e-4, modules="linear")
    labelled = [{**b, "labels": torch.tensor([0, 1, 0, 1])} for b in batches]
    qat = fit_qat_(prepare_qat(tiny, config), config, batches=labelled, progress=False)
    fakes = [m for m in qat.modules() if isinstance(m, FakeQuantizeBase)]
    assert all(int(m.observer_enabled[0]) == 1 for m in fakes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation_observer": "histogram"}, "unknown activation_observer"),
        ({"percentile": 40.0}, "percentile must be"),
        ({"freeze_observers_after": -1}, "freeze_observers_after must be"),
    ],
)
def test_bad_qat_observer_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QATConfig(**kwargs)
