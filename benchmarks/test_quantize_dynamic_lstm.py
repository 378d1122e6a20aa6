"""Dynamic int8 quantization of {LSTM, Linear} (reference experiment 3: LSTM LM on WikiText-2).

Reference (PyTorch's dynamic quantization tutorial, word_language_model LSTM, 33,278 words,
ninp 512, nhid 256, 5 layers): size 113.9 -> 79.7 MB, loss 5.167 -> 5.168, eval 203 s -> 110 s.
Here the model is trained from scratch (a smaller recipe, see LMRecipe) on the data available;
every result says which files it was trained and evaluated on. Runs on one thread, serially.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import pytest
import torch

from compress.measure import (
    count_parameters,
    paired_speedup,
    pinned_threads,
    serialized_size,
    training_threads,
)
from compress.onnx_runtime import OrtConfig, OrtLM, export_onnx_lm, onnx_file_size, ort_quantize
from compress.quantize import DynamicQuantConfig, quantize_dynamic
from fixtures.errors import SourceUnavailable
from fixtures.lstm_lm import LMConfig, LMRecipe, RNNModel, TrainedLM, evaluate_lm, trained_lm
from fixtures.profiles import Profile
from fixtures.wikitext import ENV_VAR, WikiText2, load_wikitext2

pytestmark = pytest.mark.timed

QUANT = DynamicQuantConfig(module_types=("LSTM", "Linear"))
EVAL_BPTT, EVAL_BATCH = 35, 10  # the example's evaluation settings
SPEED_WINDOWS = 20  # paired speedup on the first 20 bptt windows of test (7,000 tokens)
MAX_LOSS_DELTA = 0.02  # nats per token
SIZE_TOLERANCE = 0.01  # relative, int8 size vs fp32 - 3/4 x quantized weight bytes (~0.01% seen)
REFERENCE = LMConfig(ntoken=33_278, ninp=512, nhid=256, nlayers=5)
REFERENCE_MB = (113.944064, 79.738984)  # the tutorial's printout, MB = 1e6 bytes
TABLE = "LSTM LM on WikiText-2 (trained on valid.txt when train.txt is missing; loss on test.txt)"
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


@pytest.fixture(scope="module")
def corpus() -> Iterator[WikiText2]:
    """WikiText-2 from $WIKITEXT2_DIR; skips (with how to provide it) if unset."""
    try:
        yield load_wikitext2(os.environ.get(ENV_VAR) or None)
    except SourceUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def lm_pair(
    pytestconfig: pytest.Config, profile: Profile, corpus: WikiText2
) -> Iterator[LMPair]:
    """The LM (LMRecipe with the profile's epochs; cached by recipe + data hash), fp32 and int8."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # show the training progress bar (minutes)
        trained = trained_lm(
            LMRecipe(epochs=profile.lstm_epochs), corpus, threads=training_threads()
        )
    n = profile.lstm_eval_tokens or len(corpus.eval)
    part = "all of test.txt" if n >= len(corpus.eval) else f"the first {n:,} tokens of test.txt"
    yield LMPair(
        trained.model,
        quantize_dynamic(trained.model, QUANT),
        trained,
        corpus,
        corpus.eval[:n],
        f"{corpus.source}; losses on {part}",
    )


def quantized_weight_bytes(model: torch.nn.Module) -> int:
    """fp32 bytes of the weight matrices dynamic int8 replaces: LSTM weight_* and Linear.weight."""
    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.LSTM):
            names = [n for n, _ in module.named_parameters() if n.startswith("weight_")]
            total += sum(getattr(module, n).numel() * 4 for n in names)
        elif isinstance(module, torch.nn.Linear):
            total += module.weight.numel() * 4
    return total


def expected_int8_size(fp32: torch.nn.Module) -> float:
    """fp32 checkpoint size minus 3/4 of the quantized weights (int8 = 1/4 of fp32 bytes)."""
    return serialized_size(fp32) - 0.75 * quantized_weight_bytes(fp32)


def test_lstm_lm_int8(benchmark, min_speedup: float, lm_pair: LMPair) -> None:
    """Loss/perplexity on test, fp32 vs int8; the row times one full int8 evaluation."""
    pair, test = lm_pair, lm_pair.test
    evaluate = partial(evaluate_lm, bptt=EVAL_BPTT, batch_size=EVAL_BATCH)
    loss32, ppl32, eval_fp32_s = pair.loss_fp32
    with pinned_threads(1):
        t0 = time.perf_counter()
        loss8, ppl8 = benchmark.pedantic(evaluate, args=(pair.int8, test), rounds=1, iterations=1)
        eval_int8_s = time.perf_counter() - t0
    speed = paired_speedup(
        partial(evaluate, pair.fp32, test, max_windows=SPEED_WINDOWS),
        partial(evaluate, pair.int8, test, max_windows=SPEED_WINDOWS),
        rounds=7,
        warmup=1,
        threads=1,
    )
    size32, size8 = serialized_size(pair.fp32), serialized_size(pair.int8)
    expected8 = expected_int8_size(pair.fp32)
    benchmark.extra_info.update(
        {
            "model": f"{pair.trained.about}; smaller than the reference (ninp 512, nhid 256, "
            "5 layers) so that it trains in minutes on 2 cores",
            "data": pair.data,
            "config": QUANT.to_dict(),
            "threads": 1,
            "eval": f"bptt {EVAL_BPTT}, batch {EVAL_BATCH}, state carried across windows",
            "speedup_on": f"first {SPEED_WINDOWS} bptt windows of test.txt, batch {EVAL_BATCH}",
            "loss_fp32": loss32,
            "loss_int8": loss8,
            "loss_delta": loss8 - loss32,
            "ppl_fp32": ppl32,
            "ppl_int8": ppl8,
            "eval_fp32_s": eval_fp32_s,
            "eval_int8_s": eval_int8_s,
            "speedup": speed.ratio,
            "speedup_q1": speed.q1,
            "speedup_q3": speed.q3,
            "size_fp32_bytes": size32,
            "size_int8_bytes": size8,
            "size_int8_expected_bytes": expected8,
            "params": count_parameters(pair.fp32),
            "train_seconds": pair.trained.train_seconds,
            "recipe": asdict(pair.trained.recipe),
            "table": TABLE,
            "row": _row("torch-dynamic (LSTM+Linear)", loss32, loss8, speed, size8),
        }
    )
    assert abs(loss8 - loss32) <= MAX_LOSS_DELTA, f"int8 loss {loss8:.4f} vs fp32 {loss32:.4f}"
    assert speed.ratio >= min_speedup, (
        f"int8 speedup {speed.ratio:.2f}x (IQR {speed.q1:.2f}-{speed.q3:.2f}) < {min_speedup:.2f}x"
    )
    assert size8 == pytest.approx(expected8, rel=SIZE_TOLERANCE), (size32, size8, expected8)


def _row(method: str, loss32: float, loss: float, speed, size: int) -> dict[str, object]:
    return {
        "method": method,
        "loss fp32": round(loss32, 4),
        "loss": round(loss, 4),
        "Δloss": round(loss - loss32, 4),
        "ppl": round(math.exp(loss), 1),
        "speedup vs torch fp32": f"{speed.ratio:.2f}x [{speed.q1:.2f}-{speed.q3:.2f}]",
        "size (MB)": round(size / 1e6, 1),
    }


@pytest.fixture(scope="module")
def lm_onnx(lm_pair: LMPair, tmp_path_factory) -> Path:
    """The fp32 LM exported to ONNX (dynamic sequence and batch axes)."""
    model = lm_pair.fp32
    tokens = torch.zeros(EVAL_BPTT, EVAL_BATCH, dtype=torch.long)
    path = tmp_path_factory.mktemp("ort-lm") / "lm-fp32.onnx"
    return export_onnx_lm(model, tokens, model.init_hidden(EVAL_BATCH), path)


@pytest.mark.parametrize("config", ORT_CONFIGS, ids=lambda c: f"ort-{c.mode}")
def test_lstm_lm_ort(
    benchmark, min_speedup: float, lm_pair: LMPair, lm_onnx: Path, config: OrtConfig
) -> None:
    """ONNX Runtime peer: loss on test and speedup vs torch fp32; the row times one full eval."""
    pair, test, shape = lm_pair, lm_pair.test, lm_pair.fp32.config
    path = ort_quantize(lm_onnx, lm_onnx.with_name(f"lm-ort-{config.mode}.onnx"), config)
    ort = OrtLM(path, shape.nlayers, shape.nhid, threads=1)
    evaluate = partial(evaluate_lm, bptt=EVAL_BPTT, batch_size=EVAL_BATCH)
    loss32, _, _ = pair.loss_fp32
    with pinned_threads(1):
        loss, ppl = benchmark.pedantic(evaluate, args=(ort, test), rounds=1, iterations=1)
    speed = paired_speedup(
        partial(evaluate, pair.fp32, test, max_windows=SPEED_WINDOWS),
        partial(evaluate, ort, test, max_windows=SPEED_WINDOWS),
        rounds=7,
        warmup=1,
        threads=1,
    )
    size = onnx_file_size(path)
    benchmark.extra_info.update(
        {
            "model": pair.trained.about,
            "data": pair.data,
            "config": {"backend": "onnxruntime", **config.to_dict()},
            "threads": 1,
            "loss_torch_fp32": loss32,
            "loss": loss,
            "loss_delta": loss - loss32,
            "ppl": ppl,
            "speedup": speed.ratio,
            "speedup_q1": speed.q1,
            "speedup_q3": speed.q3,
            "size_onnx_bytes": size,
            "table": TABLE,
            "row": _row(f"ort-{config.mode}", loss32, loss, speed, size),
        }
    )
    assert abs(loss - loss32) <= MAX_LOSS_DELTA, f"ORT loss {loss:.4f} vs torch {loss32:.4f}"
    if config.mode == "fp32":
        assert speed.ratio > 0.5, f"ORT fp32 runs {1 / speed.ratio:.1f}x slower than torch fp32"
    else:
        assert speed.ratio >= min_speedup, (
            f"ORT int8 speedup {speed.ratio:.2f}x < {min_speedup:.2f}x"
        )
        assert size < 0.5 * serialized_size(pair.fp32), f"ORT int8 file {size} B"


def test_reference_architecture_sizes(benchmark) -> None:
    """Checkpoint sizes of the tutorial's architecture (random init) vs its 113.9 -> 79.7 MB."""
    torch.manual_seed(0)
    fp32 = RNNModel(REFERENCE).eval()
    int8 = benchmark.pedantic(quantize_dynamic, args=(fp32, QUANT), rounds=1, iterations=1)
    size32, size8 = serialized_size(fp32), serialized_size(int8)
    ref32, ref8 = (mb * 1e6 for mb in REFERENCE_MB)
    benchmark.extra_info.update(
        {
            "model": f"word_language_model RNNModel {asdict(REFERENCE)}, random init",
            "data": "none (sizes depend only on shapes)",
            "config": QUANT.to_dict(),
            "size_fp32_bytes": size32,
            "size_int8_bytes": size8,
            "size_fp32_MB": size32 / 1e6,
            "size_int8_MB": size8 / 1e6,
            "size_fp32_MiB": size32 / 2**20,
            "size_int8_MiB": size8 / 2**20,
            "reference_MB": list(REFERENCE_MB),
            "size_int8_expected_bytes": expected_int8_size(fp32),
        }
    )
    assert size32 == pytest.approx(ref32, rel=0.02), f"fp32 {size32 / 1e6:.3f} MB vs {ref32}"
    assert size8 == pytest.approx(ref8, rel=0.02), f"int8 {size8 / 1e6:.3f} MB vs {ref8}"
    assert size8 == pytest.approx(expected_int8_size(fp32), rel=SIZE_TOLERANCE)
