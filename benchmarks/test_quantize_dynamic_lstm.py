"""Dynamic int8 quantization of {LSTM, Linear} (reference experiment 3: LSTM LM on WikiText-2).

Reference (PyTorch's dynamic quantization tutorial, word_language_model LSTM, 33,278 words,
ninp 512, nhid 256, 5 layers): size 113.9 -> 79.7 MB, loss 5.167 -> 5.168, eval 203 s -> 110 s.
Here the model is trained from scratch (a smaller recipe, see LMRecipe) on the data available;
every result says which files it was trained and evaluated on. Each case records its typed
metrics with the case runner (compress.verdict.case): losses in nats/token, the loss change gated at
0.02, the agreement of int8's next-word predictions with fp32's and their mean KL over the
same tokens (CIs from a bootstrap over bptt windows), the paired speedup gated at the
int8 floor, checkpoint sizes. Runs on one thread, serially.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import pytest
import torch

from compress.measure.meters import (
    count_parameters,
    expected_dynamic_int8_size,
    pinned_threads,
    serialized_size,
    training_threads,
)
from compress.quantize.dynamic import quantize_dynamic
from compress.quantize.onnx_runtime import (
    OrtConfig,
    OrtLM,
    export_onnx_lm,
    onnx_file_size,
    ort_quantize,
)
from compress.verdict.case import Case
from compress.verdict.quality import stream_fidelity
from fixtures.data.wikitext import WikiText2
from fixtures.plugins.pairs import LSTM_QUANT as QUANT
from fixtures.recipes.lstm_lm import LMConfig, RNNModel, TrainedLM, evaluate_lm, window_logits
from fixtures.recipes.profiles import Profile

pytestmark = pytest.mark.timed

EVAL_BPTT, EVAL_BATCH = 35, 10  # the example's evaluation settings
SPEED_WINDOWS = 20  # paired speedup on the first 20 bptt windows of test (7,000 tokens)
SPEED_ROUNDS = 7  # paired rounds (each one 20 windows per model); more while the CI straddles
MAX_LOSS_DELTA = 0.02  # nats per token, either way: int8 must not change the loss
# int8's next word is fp32's on >= 97% of the evaluated tokens: the quick model agreed on
# 0.9954 [0.995, 0.996] of all of test.txt (AVX-512 VNNI; not measured on AVX2), the margin
# for a model trained on another CPU (its loss differs; docs/findings.md)
MIN_AGREEMENT = 0.97
# compare: a loss may rise 0.15 nats/token between runs. The LM is trained in the run, and its
# loss depends on the CPU's kernels: the quick recipe ended at 6.993 trained with AVX-512
# kernels and at 7.096 with them capped at AVX2 (docs/findings.md). The int8 verdict is
# loss_delta, both losses from one model, and keeps a tight tolerance.
LOSS_TOLERANCE = 0.15
DELTA_TOLERANCE = 0.01  # compare: the int8 - fp32 loss change may rise 0.01 nats/token
SIZE_TOLERANCE = 0.01  # relative, int8 size vs fp32 - 3/4 x quantized weight bytes
# ORT fp32 is no compression, so the int8 floor does not apply; it only must not lose badly
# to torch fp32
ORT_FP32_FLOOR = 0.5
ORT_INT8_MAX_SIZE_RATIO = 0.5  # ORT also quantizes the embedding Gather (torch int8 keeps it)
REFERENCE = LMConfig(ntoken=33_278, ninp=512, nhid=256, nlayers=5)
REFERENCE_MB = (113.944064, 79.738984)  # the tutorial's printout, MB = 1e6 bytes
# ONNX Runtime peer: its dynamic quantizer covers LSTM (DynamicQuantizeLSTM), MatMul and the
# embedding Gather; its static QDQ quantizer has no LSTM support, so no static row.
ORT_CONFIGS = [OrtConfig(mode="fp32"), OrtConfig(mode="dynamic")]


@dataclass(frozen=True)
class LMPair:
    """The trained fp32 LM, its dynamic-int8 twin, and the data it is evaluated on."""

    fp32: RNNModel
    int8: RNNModel
    trained: TrainedLM
    corpus: WikiText2
    test: torch.Tensor  # the evaluated stream: test.txt, or its first tokens (the profile)
    data: str  # which files, which part of test.txt

    @functools.cached_property
    def loss_fp32(self) -> tuple[float, float, float]:
        """(loss, perplexity, seconds on 1 thread) of the fp32 model on ``test``, once."""
        start = time.perf_counter()
        with pinned_threads(1):
            loss, ppl = evaluate_lm(self.fp32, self.test, bptt=EVAL_BPTT, batch_size=EVAL_BATCH)
        return loss, ppl, time.perf_counter() - start

    def open_case(self, new_case, config: dict) -> Case:
        """The case of a model compared with this fp32 LM on ``test``, with its provenance."""
        return new_case(
            config=config,
            model={
                "about": self.trained.about,
                "params": count_parameters(self.fp32),
                "recipe": asdict(self.trained.recipe),
            },
            data={
                "about": self.data,
                "split": "test.txt",
                "examples": len(self.test),  # tokens
                "eval": f"bptt {EVAL_BPTT}, batch {EVAL_BATCH}, 1 thread, state carried "
                "across windows",
                "speedup_on": f"first {SPEED_WINDOWS} bptt windows of test.txt, batch {EVAL_BATCH}",
            },
        )

    def window_eval(self, model) -> partial:
        """The speedup workload: ``model`` on the first SPEED_WINDOWS windows of ``test``."""
        return partial(
            evaluate_lm, model, self.test, EVAL_BPTT, EVAL_BATCH, max_windows=SPEED_WINDOWS
        )


@pytest.fixture(scope="module")
def lm_pair(profile: Profile, wikitext2: WikiText2, lstm_lm: TrainedLM, lstm_pair) -> LMPair:
    """The session's LM pair with the part of test.txt this profile evaluates."""
    n = profile.lstm_eval_tokens or len(wikitext2.eval)
    part = "all of test.txt" if n >= len(wikitext2.eval) else f"the first {n:,} tokens of test.txt"
    data = f"{wikitext2.source}; losses on {part}"
    return LMPair(lstm_pair.fp32, lstm_pair.int8, lstm_lm, wikitext2, wikitext2.eval[:n], data)


def record_losses(case: Case, names: tuple[str, str], loss_ref: float, loss: float) -> None:
    """Both losses (nats/token) and the change, gated at MAX_LOSS_DELTA. No CI: evaluate_lm
    returns only the whole-stream mean, and its windows share the carried state."""
    case.metric(names[0], loss_ref, "nats", "lower", LOSS_TOLERANCE)
    case.metric(names[1], loss, "nats", "lower", LOSS_TOLERANCE)
    case.metric(
        "loss_delta", loss - loss_ref, "nats", "lower", DELTA_TOLERANCE, budget=MAX_LOSS_DELTA
    )


def test_lstm_lm_int8(benchmark, new_case, min_speedup: float, lm_pair: LMPair) -> None:
    """Loss/perplexity on test, fp32 vs int8; the row times one full int8 evaluation."""
    pair = lm_pair
    loss32, ppl32, eval_fp32_s = pair.loss_fp32
    with pinned_threads(1):
        t0 = time.perf_counter()
        loss8, ppl8 = benchmark.pedantic(
            evaluate_lm, args=(pair.int8, pair.test, EVAL_BPTT, EVAL_BATCH), rounds=1, iterations=1
        )
        eval_int8_s = time.perf_counter() - t0
    case = pair.open_case(new_case, QUANT.to_dict())
    record_losses(case, ("loss_fp32", "loss_int8"), loss32, loss8)
    case.report("ppl_fp32", ppl32, "ppl")  # exp(loss): gated through the loss
    case.report("ppl_int8", ppl8, "ppl")
    case.report("eval_fp32_s", eval_fp32_s, "s")
    case.report("eval_int8_s", eval_int8_s, "s")
    case.report("train_s", pair.trained.train_seconds, "s")
    with pinned_threads(training_threads()):  # untimed
        windows = window_logits(pair.fp32, pair.int8, pair.test, EVAL_BPTT, EVAL_BATCH)
        fid = stream_fidelity(windows)
    inputs = f"the {len(pair.test):,} evaluated tokens of test.txt (next-word predictions)"
    case.record_fidelity(fid, inputs=inputs, min_agreement=MIN_AGREEMENT)
    case.speedup(
        pair.window_eval(pair.fp32),
        pair.window_eval(pair.int8),
        floor=min_speedup,
        rounds=SPEED_ROUNDS,
        warmup=1,
    )
    size8, expected8 = serialized_size(pair.int8), expected_dynamic_int8_size(pair.fp32)
    case.sizes(serialized_size(pair.fp32), size8)
    case.report("size_expected_bytes", expected8, "bytes")
    case.finish(benchmark.extra_info)
    # |delta| <= 0.02: the metric gates a rise; int8 "improving" the loss as much is a bug too
    assert loss8 - loss32 >= -MAX_LOSS_DELTA, f"int8 loss {loss8:.4f} vs fp32 {loss32:.4f}"
    assert size8 == pytest.approx(expected8, rel=SIZE_TOLERANCE), (size8, expected8)


@pytest.fixture(scope="module")
def lm_onnx(lm_pair: LMPair, tmp_path_factory) -> Path:
    """The fp32 LM exported to ONNX (dynamic sequence and batch axes)."""
    model = lm_pair.fp32
    tokens = torch.zeros(EVAL_BPTT, EVAL_BATCH, dtype=torch.long)
    path = tmp_path_factory.mktemp("ort-lm") / "lm-fp32.onnx"
    return export_onnx_lm(model, tokens, model.init_hidden(EVAL_BATCH), path)


@pytest.mark.parametrize("config", ORT_CONFIGS, ids=lambda c: f"ort-{c.mode}")
def test_lstm_lm_ort(
    benchmark, new_case, min_speedup: float, lm_pair: LMPair, lm_onnx: Path, config: OrtConfig
) -> None:
    """ONNX Runtime peer: loss on test and speedup vs torch fp32; the row times one full eval."""
    pair, shape = lm_pair, lm_pair.fp32.config
    path = ort_quantize(lm_onnx, lm_onnx.with_name(f"lm-ort-{config.mode}.onnx"), config)
    ort = OrtLM(path, shape.nlayers, shape.nhid, threads=1)
    loss32, _, _ = pair.loss_fp32
    with pinned_threads(1):
        loss, ppl = benchmark.pedantic(
            evaluate_lm, args=(ort, pair.test, EVAL_BPTT, EVAL_BATCH), rounds=1, iterations=1
        )
    int8 = config.mode != "fp32"
    case = pair.open_case(new_case, {"backend": "onnxruntime", **config.to_dict()})
    record_losses(case, ("loss_torch_fp32", "loss"), loss32, loss)
    case.report("ppl", ppl, "ppl")  # exp(loss): gated through the loss
    case.speedup(
        pair.window_eval(pair.fp32),
        pair.window_eval(ort),
        floor=min_speedup if int8 else ORT_FP32_FLOOR,
        rounds=SPEED_ROUNDS,
        warmup=1,
    )
    case.sizes(
        serialized_size(pair.fp32),
        onnx_file_size(path),
        max_ratio=ORT_INT8_MAX_SIZE_RATIO if int8 else None,
    )
    case.finish(benchmark.extra_info)
    assert loss - loss32 >= -MAX_LOSS_DELTA, f"ORT loss {loss:.4f} vs torch {loss32:.4f}"


def test_reference_architecture_sizes(benchmark, new_case) -> None:
    """Checkpoint sizes of the tutorial's architecture (random init) vs its 113.9 -> 79.7 MB."""
    torch.manual_seed(0)
    fp32 = RNNModel(REFERENCE).eval()
    int8 = benchmark.pedantic(quantize_dynamic, args=(fp32, QUANT), rounds=1, iterations=1)
    size32, size8 = serialized_size(fp32), serialized_size(int8)
    expected8 = expected_dynamic_int8_size(fp32)
    case = new_case(
        config=QUANT.to_dict(),
        model={
            "about": f"word_language_model RNNModel {asdict(REFERENCE)}, random init",
            "reference_MB": "113.944064 -> 79.738984 (the tutorial's printout)",
        },
        data={"about": "none (sizes depend only on shapes)"},
    )
    case.sizes(size32, size8)
    case.report("size_expected_bytes", expected8, "bytes")
    case.finish(benchmark.extra_info)
    ref32, ref8 = (mb * 1e6 for mb in REFERENCE_MB)
    assert size32 == pytest.approx(ref32, rel=0.02), f"fp32 {size32 / 1e6:.3f} MB vs {ref32}"
    assert size8 == pytest.approx(ref8, rel=0.02), f"int8 {size8 / 1e6:.3f} MB vs {ref8}"
    assert size8 == pytest.approx(expected8, rel=SIZE_TOLERANCE), (size8, expected8)
