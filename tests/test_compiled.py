"""The compiled path (quantize.compiled) on a tiny random-init BERT: every variant compiles,
stays close to fp32, keeps its input untouched, refuses other shapes and bad configs, and names
the model and method when a step fails. Real compiles: a few seconds each."""

from __future__ import annotations

import functools
import os
import shutil

import pytest
import torch
from torch import nn

from compress.measure.memory import peak_memory
from compress.measure.meters import serialized_size
from compress.quantize import compiled as cc
from compress.quantize.compiled import CompileConfig, CompileError, ToolchainMissing, compile_model
from compress.train.evaluate import evaluate_classifier, logits_of
from fixtures.models.bert import TINY, Encoded, random_classifier, synthetic_batch

SHAPE = (2, 16)
# Inductor writes C++: without a compiler those tests skip, saying what to install (.ci/run
# installs g++ where it can); the rest run everywhere
needs_cxx = pytest.mark.skipif(
    not any(map(shutil.which, (os.environ.get("CXX", "g++"), *cc.COMPILERS))),
    reason="no C++ compiler on PATH: torch.compile's Inductor needs one (apt-get install g++)",
)
INT8 = ["torchao-int8-dynamic", "pt2e-static", "pt2e-dynamic"]


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    return random_classifier(TINY).eval()


@pytest.fixture(scope="module")
def example() -> dict[str, torch.Tensor]:
    return synthetic_batch(TINY["vocab_size"], *SHAPE, seed=0)


@pytest.fixture(scope="module")
def calibration() -> list[dict[str, torch.Tensor]]:
    return [synthetic_batch(TINY["vocab_size"], 4, SHAPE[1], seed=s) for s in range(1, 4)]


@pytest.fixture(scope="module")
def built(tiny, example, calibration) -> dict[str, cc.CompiledModel]:
    """Each method compiled once (Inductor, no compile cache: seconds each)."""
    return {m: compile_model(tiny, CompileConfig(m), example, calibration, name="tiny")
            for m in ("fp32", *INT8)}  # fmt: skip


def _logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.inference_mode():
        return logits_of(model, batch).float()


@needs_cxx
@pytest.mark.parametrize("method", ["fp32", *INT8])
def test_variant_compiles_and_stays_close(tiny, example, built, method: str) -> None:
    before = random_classifier(TINY).state_dict()  # the same seeded weights, built afresh
    model = built[method]
    reference = _logits(tiny, example)
    out = _logits(model, example)
    assert out.shape == reference.shape
    tolerance = 1e-4 if method == "fp32" else 0.25  # int8 of a random model: loose, not free
    assert (out - reference).abs().max().item() < tolerance * max(1.0, reference.abs().max())
    assert model.compile_s > 0 and model.prepare_s >= 0
    assert model.eval() is model and not model.training  # as compress.train.evaluate calls it
    with pytest.raises(ValueError, match="compiled for inference"):
        model.train()
    for key, value in tiny.state_dict().items():
        assert torch.equal(value, before[key]), f"{method} changed the input model's {key}"


@needs_cxx
def test_a_variant_past_the_recompile_limit_fails_instead_of_running_eager(
    tiny, example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each variant recompiles the model class's forward; past the limit Dynamo would run the
    variant eager, silently, under a compiled label. Here the limit is 1 and this is at least
    the second compile of that forward in the process: it must fail, naming the variant."""
    compile_model(tiny, CompileConfig("fp32"), example, name="tiny")  # at least one compile
    monkeypatch.setitem(cc.DYNAMO_LIMITS, "recompile_limit", 1)
    with pytest.raises(CompileError, match="tiny: compiled-fp32 failed"):
        compile_model(tiny, CompileConfig("fp32"), example, name="tiny")


@needs_cxx
def test_a_fresh_serving_process_compiles_the_variant_it_serves(tiny, example, calibration):
    """peak_memory's ``build`` runs in the child: it serves the int8 variant (its state is the
    quantized one), and compiling it counts in the process's memory."""
    config = CompileConfig("pt2e-static")
    build = functools.partial(compile_model, config=config, example=example,
                              calibration=calibration, name="tiny")  # fmt: skip
    served = peak_memory(tiny, example, forwards=2, case="tiny pt2e", build=build)
    plain = peak_memory(tiny, example, forwards=2, case="tiny fp32")
    assert served.state_bytes < 0.8 * plain.state_bytes  # int8 weights: the child built it
    assert plain.state_bytes == serialized_size(tiny)
    assert served.loaded_bytes - served.baseline_bytes > plain.loaded_bytes - plain.baseline_bytes


@needs_cxx
def test_pt2e_checkpoint_holds_int8_weights_only(tiny, built) -> None:
    """convert_pt2e leaves the fp32 weights it no longer reads; they are not shipped."""
    model = built["pt2e-static"]
    state = model.inner.state_dict()
    assert not any(k.endswith("query.weight") for k in state)
    assert sum(v.dtype == torch.int8 for v in state.values()) == 2 * 6 + 2  # every Linear
    assert serialized_size(model.inner) < 0.8 * serialized_size(tiny)


def test_other_shape_is_refused_with_the_compiled_one(tiny, example) -> None:
    model = compile_model(tiny, CompileConfig("fp32", backend="eager"), example)
    other = synthetic_batch(TINY["vocab_size"], 3, SHAPE[1], seed=1)
    with pytest.raises(ValueError, match=r"compiled for inputs of shape \(2, 16\), got \(3, 16\)"):
        model(**other)


def test_a_short_last_batch_is_padded_and_cut(tiny, example) -> None:
    model = compile_model(tiny, CompileConfig("fp32", backend="eager"), example)
    one = {k: v[1:] for k, v in example.items()}
    torch.testing.assert_close(_logits(model, one), _logits(tiny, example)[1:])


@needs_cxx
def test_scoring_and_timing_calls_do_not_recompile(built, example) -> None:
    """Both call in inference mode, as the first (compiling) call did."""
    import torch._dynamo as dynamo

    model = built["torchao-int8-dynamic"]
    with dynamo.config.patch(error_on_recompile=True):
        _logits(model, example)
        _logits(model, {k: v.flip(0) for k, v in example.items()})


def test_a_split_is_scored_in_the_compiled_shape(tiny, example) -> None:
    """Encoded.scoring_for: padded batches of the compiled rows (the last one short), the
    same predictions as the eager model on its trimmed, length-sorted batches."""
    model = compile_model(tiny, CompileConfig("fp32", backend="eager"), example)
    rows = synthetic_batch(TINY["vocab_size"], 5, SHAPE[1], seed=3)
    mask = rows["attention_mask"].clone()
    mask[:, 10:] = 0
    split = Encoded(rows["input_ids"] * mask, rows["token_type_ids"], mask, torch.zeros(5).long())
    batches = split.scoring_for(model)
    assert [tuple(b["input_ids"].shape) for b in batches] == [SHAPE, SHAPE, (1, SHAPE[1])]
    ours = evaluate_classifier(model, batches, progress=False)
    eager = evaluate_classifier(tiny, split.scoring_for(tiny), progress=False)
    assert ours.predictions == eager.predictions
    torch.testing.assert_close(ours.logits, eager.logits, atol=1e-4, rtol=1e-4)


def test_inductor_settings_are_not_left_changed(tiny, example) -> None:
    import torch._inductor.config as inductor_config

    before = inductor_config.freezing
    config = CompileConfig("fp32", backend="eager", freezing=not before)
    model = compile_model(tiny, config, example)
    _logits(model, example)
    assert inductor_config.freezing == before


@needs_cxx
def test_int4_without_a_cpu_kernel_names_model_and_method(tiny, example) -> None:
    with pytest.raises(CompileError, match=r"^tiny: compiled-torchao-int4-weight-only failed"):
        compile_model(tiny, CompileConfig("torchao-int4-weight-only"), example, name="tiny")


def test_unexportable_model_is_one_line_naming_it(example) -> None:
    class Branchy(nn.Module):
        def forward(self, input_ids, **_: torch.Tensor) -> torch.Tensor:
            if input_ids.sum() > 0:  # data-dependent control flow: torch.export refuses it
                return input_ids.float()
            return -input_ids.float()

    with pytest.raises(CompileError, match=r"^branchy: compiled-pt2e-static failed \(") as err:
        compile_model(Branchy(), CompileConfig("pt2e-static"), example, [example], name="branchy")
    assert "\n" not in str(err.value)


def test_missing_compiler_is_named_up_front(monkeypatch, tiny, example) -> None:
    monkeypatch.setattr(cc.shutil, "which", lambda _: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(ToolchainMissing, match="install g\\+\\+"):
        compile_model(tiny, CompileConfig("fp32"), example)


def test_calibration_is_cut_to_the_compiled_shape(example, calibration) -> None:
    batches = cc.rebatch(calibration, example, samples=7)
    assert [tuple(b["input_ids"].shape) for b in batches] == [SHAPE] * 3  # 7 rows -> 3 of 2
    longer = [synthetic_batch(TINY["vocab_size"], 4, 32, seed=9)]
    with pytest.raises(ValueError, match="32 tokens per row; the compiled shape has 16"):
        cc.rebatch(longer, example, samples=4)
    with pytest.raises(ValueError, match="needs calibration inputs"):
        cc.rebatch([], example, samples=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "int3"}, "unknown compiled method"),
        ({"mode": "fast"}, "unknown torch.compile mode"),
        ({"threads": 0}, "threads and calibration_samples"),
        ({"backend": ""}, "backend must be"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompileConfig(**kwargs)  # type: ignore[arg-type]


def test_config_names_what_changes_the_result() -> None:
    data = CompileConfig("pt2e-static").to_dict()
    assert {"method", "backend", "mode", "freezing", "threads", "calibration_samples"} <= set(data)
    assert "calibration_samples" not in CompileConfig("fp32").to_dict()
    assert CompileConfig.from_dict(data) == CompileConfig("pt2e-static")


@needs_cxx
def test_past_an_injected_recompile_limit_a_variant_runs_eager_and_its_record_fails_it(
    tiny, example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--inject recompile-limit:1`` restores Dynamo's own behaviour at a limit of 1: the next
    compile of the forward falls back to eager without an error, and only the kernel record
    catches the compiled label it no longer earns (issue 40, cause 1)."""
    from compress.measure.kernels import Expect, record_kernels, violations
    from fixtures.plugins.inject import Injection, _place

    owner, name, limits = _place(Injection.parse("recompile-limit:1"))
    assert (owner, name) == (cc, "DYNAMO_LIMITS")
    monkeypatch.setattr(cc, "DYNAMO_LIMITS", limits)
    torch._dynamo.reset()
    first = compile_model(tiny, CompileConfig("fp32"), example, name="tiny")
    second = compile_model(tiny, CompileConfig("fp32"), example, name="tiny")  # no error
    records = [record_kernels(lambda m=m: m(**example), threads=1) for m in (first, second)]
    torch._dynamo.reset()
    assert [r.compiled for r in records] == [True, False]
    expect = Expect("fp32", compiled=True)
    assert violations(records[0], expect) == []
    assert any("eager fallback" in v for v in violations(records[1], expect))


@needs_cxx
def test_torchao_int8_lowers_to_onednn_qlinear_with_the_x86_patterns_registered(
    tiny, example
) -> None:
    """compile_model registers the x86 fusion patterns before compiling a torchao model (as
    torchao's recipe does), so its GEMMs run as oneDNN qlinear, not ``aten::_int_mm``."""
    from compress.measure.kernels import record_kernels

    model = compile_model(tiny, CompileConfig("torchao-int8-dynamic"), example, name="tiny")
    ops = record_kernels(lambda: model(**example), threads=1).gemm_ops
    assert any(op.startswith("onednn::qlinear_pointwise") for op in ops), ops
