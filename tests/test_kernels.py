"""The kernel record (compress.measure.kernels): what a forward ran, read from the profiler on
real models (a tiny BERT stands in for MiniLM), and the label checks and figures built on it."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from compress.measure.kernels import (
    ISA_ORDER,
    Expect,
    KernelRecord,
    parse_onednn,
    record_kernels,
    summarize,
    violations,
)
from compress.measure.meters import pinned_threads
from compress.verdict.case import Case
from compress.verdict.gates import GateFailed
from compress.verdict.kernels import record_into
from compress.verdict.results import CaseResult

LINEARS = 3 * 6 + 2  # per layer q, k, v, attention output, intermediate, output; pooler, head


@pytest.fixture(scope="module")
def tiny() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32,
                        attn_implementation="eager")  # fmt: skip
    return BertForSequenceClassification(config).eval()


def _forward(model, dtype=None):
    x = torch.randint(0, 64, (2, 8))
    return lambda: model(input_ids=x)


def _int8(model, only=None):
    spec = {only} if only else {torch.nn.Linear}
    return torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)


def test_dynamic_int8_runs_every_linear_in_int8(tiny) -> None:
    with torch.inference_mode():
        record = record_kernels(_forward(_int8(tiny)))
    assert record.gemm == {"int8": LINEARS}
    assert record.gemm_ops == {"quantized::linear_dynamic (int8)": LINEARS}
    assert record.share("int8") == 1.0 and record.attention  # attention matmuls kept apart
    assert violations(record, Expect("int8")) == []


def test_a_spec_that_misses_the_encoder_is_named(tiny) -> None:
    with torch.inference_mode():
        record = record_kernels(_forward(_int8(tiny, only="classifier")))
    assert record.gemm == {"int8": 1, "fp32": LINEARS - 1}
    (problem,) = violations(record, Expect("int8"))
    assert "int8 share of the Linear GEMM calls 0.05 < 0.9" in problem
    assert "aten::addmm (fp32) x19" in problem and "quantized::linear_dynamic (int8) x1" in problem


def test_convolutions_are_kept_apart_from_the_linear_share() -> None:
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 10)).eval()  # fmt: skip
    with torch.inference_mode():
        record = record_kernels(lambda: _int8(cnn)(torch.randn(2, 1, 8, 8)))
    # dynamic int8 promises its Linears only: the fp32 convolution is recorded, not counted
    assert record.gemm == {"int8": 1} and record.conv == {"aten::convolution (fp32)": 1}
    assert violations(record, Expect("int8")) == []
    assert "conv aten::convolution (fp32) x1" in record.summary()


def test_bf16_weights_run_bf16_gemms(tiny) -> None:
    half = BertForSequenceClassification(tiny.config).eval().to(torch.bfloat16)
    with torch.inference_mode():
        record = record_kernels(_forward(half))
    assert record.gemm == {"bf16": LINEARS}
    assert violations(record, Expect("bf16")) == []
    assert violations(record, Expect("fp32"))  # the wrong label is caught the other way too


@pytest.mark.skipif("onednn" not in torch.backends.quantized.supported_engines,
                    reason="this torch build has no oneDNN quantized engine")  # fmt: skip
def test_the_onednn_engine_names_the_isa_it_dispatched(tiny) -> None:
    previous = torch.backends.quantized.engine
    try:
        torch.backends.quantized.engine = "onednn"
        model = _int8(tiny)
        with torch.inference_mode():
            record = record_kernels(_forward(model))
    finally:
        torch.backends.quantized.engine = previous
    # the GEMM ran on oneDNN; its ISA name depends on the CPU (an AVX2-only one may name none)
    assert any(i.startswith(("matmul:", "inner_product:")) for i in record.onednn), record.onednn
    assert record.isa() in (*ISA_ORDER, None)


def test_parse_onednn_keeps_executed_primitives_only() -> None:
    text = "\n".join([
        "onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel AMX",
        "onednn_verbose,v1,primitive,create:cache_miss,cpu,matmul,brg_matmul:avx512_core_amx,x",
        "onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx512_core_amx,undef,src:u8",
        "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32",
        "other output",
    ])  # fmt: skip
    impls = parse_onednn(text)
    assert impls == ["matmul:brg_matmul:avx512_core_amx", "reorder:jit:uni"]
    assert KernelRecord(onednn=impls).isa() == "amx"
    assert KernelRecord(onednn=["matmul:gemm:jit"]).isa() is None  # never guessed
    assert KernelRecord().isa() is None


def _event(name, parent=None, shapes=(), dtypes=()):
    return SimpleNamespace(name=name, cpu_parent=parent, input_shapes=list(shapes),
                           input_dtypes=list(dtypes))  # fmt: skip


def test_markers_say_compiled_graphs_and_compiles() -> None:
    region = _event("Torch-Compiled Region: 0/3")
    graph = _event("## Call CompiledFxGraph abc ##", region)
    linear = _event("aten::linear", graph, [[2, 4], [4, 4]], ["float", "float"])
    events = [region, graph, linear,
              _event("aten::addmm", linear, [[4], [2, 4], [4, 4]], ["float", "float", "float"]),
              _event("## Call CompiledFxGraph def ##", region),
              _event("_compile.compile_inner (dynamo_timed)"),
              _event("my_lib::mystery")]  # fmt: skip
    record = summarize(events, None)
    assert (record.regions, record.graphs, record.compiles) == (1, 2, 1) and record.compiled
    assert record.gemm == {"fp32": 1}  # addmm counted once, not again under linear
    assert record.ops["my_lib::mystery"] == 1  # unknown operators are kept, never classified
    (problem,) = violations(record, Expect("fp32", compiled=True))
    assert problem.startswith("a steady forward compiled 1 time(s)")
    eager = summarize(events[2:4], None)
    assert violations(eager, Expect("fp32", compiled=True)) == [
        "labelled compiled, but no compiled region ran (an eager fallback)"
    ]


class _Net(torch.nn.Module):
    def __init__(self, brk: bool) -> None:
        super().__init__()
        self.a, self.b, self.brk = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8), brk

    def forward(self, x):
        x = self.a(x)
        if self.brk:
            torch._dynamo.graph_break()
        return self.b(x)


def _compiled_record(brk: bool, shapes=((2, 8),), limit: int = 8) -> KernelRecord:
    torch._dynamo.reset()
    try:
        with torch._dynamo.config.patch(recompile_limit=limit):
            compiled = torch.compile(_Net(brk).eval())
            # as the timed rounds warm it: Dynamo guards the thread count too
            with pinned_threads(1), torch.inference_mode():
                for shape in shapes:
                    compiled(torch.randn(shape))
            return record_kernels(lambda: compiled(torch.randn(shapes[-1])))
    finally:
        torch._dynamo.reset()


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile needs a C++ compiler")  # fmt: skip
def test_a_graph_break_and_an_eager_fallback_show_in_the_record() -> None:
    steady = _compiled_record(False)
    assert (steady.regions, steady.graphs, steady.compiles) == (1, 1, 0)
    assert violations(steady, Expect("fp32", compiled=True)) == []
    assert _compiled_record(True).graphs == 2  # a graph break: two graphs per forward
    # past the recompile limit (one compile allowed, a second rank seen): eager from then on
    fallback = _compiled_record(False, shapes=((2, 8), (3, 2, 8)), limit=1)
    assert not fallback.compiled and fallback.gemm == {"fp32": 2}
    assert violations(fallback, Expect("fp32", compiled=True))


def test_a_case_fails_on_a_contradicted_label_and_keeps_the_record(tiny) -> None:
    with torch.inference_mode():
        record = record_kernels(_forward(_int8(tiny, only="classifier")))
    case = Case("tiny-int8", "quick", {"kind": "k"})
    record_into(case, record, Expect("int8"))
    with pytest.raises(GateFailed, match=r"tiny-int8: int8 share .* aten::addmm \(fp32\) x19"):
        case.finish({})
    result = case.result()
    assert result.kernels["gemm"] == {"int8": 1, "fp32": LINEARS - 1}
    assert result.metrics["gemm_share"].value == pytest.approx(0.05)
    again = CaseResult.from_dict(result.to_dict())
    assert KernelRecord.from_dict(again.kernels) == record


def test_an_opaque_runtime_is_recorded_not_gated() -> None:
    record = record_kernels(lambda: pytest.fail("an opaque forward is not run"),
                            opaque="onnxruntime")  # fmt: skip
    case = Case("ort", "quick", {"kind": "k"})
    record_into(case, record, Expect("int8", opaque="onnxruntime"))
    assert case.finish({}) == {} and case.kernels["opaque"] == "onnxruntime"
    assert "gemm_share" not in case.metrics
    with pytest.raises(ValueError, match="unknown keys"):
        KernelRecord.from_dict({"gemms": {}})


def test_the_report_shows_each_rows_kernel_path(tiny) -> None:
    from compress.report.tables import render_table
    from compress.report.tables_html import human_table

    with torch.inference_mode():
        record = record_kernels(_forward(_int8(tiny)))
    case = Case("tiny-int8", "quick", {"kind": "k"})
    record_into(case, record, Expect("int8"))
    case.finish({})
    plain = Case("plain", "quick", {"kind": "k"})
    plain.report("size_bytes", 1.0, "bytes")
    rows = [("tiny-int8", case.result()), ("plain", plain.result())]
    text = render_table(rows)
    assert f"int8 {LINEARS}/{LINEARS} (quantized::linear_dynamic)" in text
    assert text.splitlines()[0].rstrip(" |").endswith("kernels")
    assert f"<td>int8 {LINEARS}/{LINEARS} (quantized::linear_dynamic)" in human_table(rows)
    assert "kernels" not in render_table(rows[1:])  # no record, no column
    assert KernelRecord(opaque="onnxruntime").summary() == "not visible (onnxruntime)"
    compiled = KernelRecord(gemm={"bf16": 2}, gemm_ops={"aten::mm (bf16)": 2}, regions=1, graphs=2)
    assert compiled.summary() == "bf16 2/2 (aten::mm); compiled, 2 graphs"
