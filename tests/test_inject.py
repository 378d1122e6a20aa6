"""The gate's injected causes (fixtures.plugins.inject) change a dynamic int8 model as they
say, and only it: a tiny BERT stands in for MiniLM (the real runs are docs/gate.md's)."""

from __future__ import annotations

import shutil

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from compress.core import torch_ao
from compress.measure.kernels import record_kernels
from compress.measure.meters import pinned_threads
from compress.quantize.dynamic import quantize_dynamic
from fixtures.plugins import debug_hook
from fixtures.plugins.inject import Injection, break_graph, wrap


@pytest.fixture(scope="module")
def tiny() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)  # fmt: skip
    return BertForSequenceClassification(config).eval()


def _int8(model, text: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(torch_ao, "quantize_dynamic", wrap(torch_ao.quantize_dynamic,
                                                           Injection.parse(text)))  # fmt: skip
    return quantize_dynamic(model)


def _fp32_linears(model) -> set[str]:
    return {n for n, m in model.named_modules() if type(m) is torch.nn.Linear}


def test_hook_spreads_its_passes_and_keeps_the_answers(tiny, monkeypatch) -> None:
    plain = quantize_dynamic(tiny)
    hooked = _int8(tiny, "hook:8", monkeypatch)
    hooks = {n: len(m._forward_hooks) for n, m in hooked.named_modules() if m._forward_hooks}
    # 6 Linears end in output.dense (3 attention outputs, 3 FFN outputs): one hook each, the
    # 8 passes spread 2, 2, 1, 1, 1, 1
    assert sorted(hooks) == sorted(n for n in hooks if n.endswith("output.dense"))
    assert len(hooks) == 6 and all(v == 1 for v in hooks.values())
    calls = []
    monkeypatch.setattr(torch, "histc", lambda *a, **k: calls.append(1))
    x = torch.randint(0, 64, (2, 8))
    assert torch.equal(hooked(input_ids=x).logits, plain(input_ids=x).logits)
    assert len(calls) == 8
    assert not any(m._forward_hooks for m in tiny.modules())  # the fp32 model is untouched


def test_slow_counts_its_passes_per_input_shape_on_this_cpu(tiny, monkeypatch) -> None:
    plain = quantize_dynamic(tiny)
    hooked = _int8(tiny, "slow:40", monkeypatch)
    state = hooked.debug_hook_calibration
    small, large = torch.randint(0, 64, (1, 8)), torch.randint(0, 64, (4, 16))
    for x in (small, large, small):
        assert torch.equal(hooked(input_ids=x).logits, plain(input_ids=x).logits)
    assert sorted(state.counts) == [((1, 8),), ((4, 16),)]  # calibrated once per shape
    for key, (forward_s, pass_s) in state.seconds.items():
        assert sum(state.counts[key]) == debug_hook.passes_for(0.4, forward_s, pass_s)
    calls = []
    monkeypatch.setattr(torch, "histc", lambda *a, **k: calls.append(1))
    hooked(input_ids=large)
    assert len(calls) == sum(state.counts[((4, 16),)])


def test_passes_for_and_spread() -> None:
    assert debug_hook.passes_for(0.15, forward_s=0.020, pass_s=0.0001) == 30
    assert debug_hook.passes_for(0.15, forward_s=0.020, pass_s=1.0) == 1  # at least one
    assert debug_hook.spread(8, 6) == [2, 2, 1, 1, 1, 1]


def test_int8_only_quantizes_just_what_it_names(tiny, monkeypatch) -> None:
    kept = _fp32_linears(_int8(tiny, "int8-only:classifier", monkeypatch))
    assert kept == _fp32_linears(tiny) - {"classifier"}


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile needs a C++ compiler")  # fmt: skip
def test_graph_break_adds_a_compiled_graph(tiny) -> None:
    x = torch.randint(0, 64, (1, 8))
    graphs = []
    for prepare in (lambda: tiny, break_graph(lambda: tiny, "encoder.layer.1")):
        torch._dynamo.reset()
        model = prepare()
        compiled = torch.compile(model)
        with pinned_threads(1), torch.inference_mode():
            compiled(input_ids=x)
        graphs.append(record_kernels(lambda c=compiled: c(input_ids=x)).graphs)
        for m in model.modules():
            m._forward_hooks.clear()
    torch._dynamo.reset()
    # a break in a nested module's hook splits every enclosing frame too: 1 graph became 6
    assert graphs[0] == 1 and graphs[1] > 1, graphs


def test_fp32_ffn_leaves_the_first_layers_ffn_in_fp32(tiny, monkeypatch) -> None:
    kept = _fp32_linears(_int8(tiny, "fp32-ffn:2", monkeypatch))
    ffn = {f"bert.encoder.layer.{i}.{m}.dense" for i in (0, 1) for m in ("intermediate", "output")}
    assert kept == ffn


def test_keep_fp32_and_noise(tiny, monkeypatch) -> None:
    assert _fp32_linears(_int8(tiny, "keep-fp32:bert.pooler.dense", monkeypatch)) == {
        "bert.pooler.dense"
    }
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    plain = quantize_dynamic(tiny)
    noisy = _int8(tiny, "noise:0.5", monkeypatch)
    x = torch.randint(0, 64, (4, 8))
    assert not torch.allclose(noisy(input_ids=x).logits, plain(input_ids=x).logits)
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())


@pytest.mark.parametrize(
    "text", ["hook", "hook:0", "slower:3", "slow:0", "slow:150", "noise:x", "fp32-ffn:-1", ""]
)
def test_a_bad_injection_names_what_was_expected(text: str) -> None:
    with pytest.raises(ValueError, match="--inject"):
        Injection.parse(text)
