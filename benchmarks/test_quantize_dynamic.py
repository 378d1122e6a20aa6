"""Dynamic int8 quantization of every nn.Linear (reference experiment 1: BERT on GLUE MRPC).

Rows: forward latency fp32 vs int8 per (model, seq, batch); the int8 row also carries the
paired, interleaved speedup and the size figures. Quality: F1 on MRPC dev before and after.
Every case runs on one thread; run this file serially (never under xdist).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch

from compress.evaluate import evaluate_classifier, forward_fn, logits_of
from compress.gates import check, measure_speedup, quality_drop_metric
from compress.measure import count_parameters, linear_weight_bytes, pinned_threads, serialized_size
from compress.quantize import DynamicQuantConfig, quantize_dynamic
from compress.results import Metric
from compress.serialize import load_quantized, save_quantized
from compress.stats import f1_binary
from fixtures.bert import BERT_BASE, random_classifier, synthetic_batch

pytestmark = pytest.mark.timed
LINEAR_RATIO = (0.24, 0.27)  # int8 weights + scales vs fp32 weights: 1/4 plus a little


@dataclass(frozen=True)
class SpeedCase:
    """One latency configuration."""

    model: str  # "minilm-l6-mrpc" (fine-tuned, real) or "bert-base-random-init"
    seq: int  # tokens per example, padded
    batch: int  # examples per forward pass

    @property
    def id(self) -> str:
        return f"{self.model}-seq{self.seq}-bs{self.batch}"


# The reference length (128) for both models; short inputs (32 tokens) for the real model,
# where attention and per-call overheads weigh more and int8 gains less.
SPEED_CASES = [
    *(SpeedCase(m, 128, b) for m in ("minilm-l6-mrpc", "bert-base-random-init") for b in (1, 8)),
    *(SpeedCase("minilm-l6-mrpc", 32, b) for b in (1, 8)),
]


@dataclass(frozen=True)
class Pair:
    """An fp32 model and its dynamic-int8 twin, with where the weights came from."""

    fp32: torch.nn.Module
    int8: torch.nn.Module
    about: str


@pytest.fixture(scope="module")
def bert_base_pair() -> Iterator[Pair]:
    fp32 = random_classifier(BERT_BASE)
    yield Pair(fp32, quantize_dynamic(fp32), "BertConfig() dims (bert-base), random weights")


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> Pair:
    """The model pair a SpeedCase names (fixtures resolve lazily: no unneeded downloads)."""
    if request.param == "minilm-l6-mrpc":
        clf = request.getfixturevalue("mrpc_classifier")
        return Pair(clf.fp32, clf.int8, clf.model_about)
    return request.getfixturevalue("bert_base_pair")


def _sizes(pair: Pair) -> dict[str, object]:
    lin32, lin8 = linear_weight_bytes(pair.fp32), linear_weight_bytes(pair.int8)
    return {
        "size_fp32_bytes": serialized_size(pair.fp32),
        "size_int8_bytes": serialized_size(pair.int8),
        "linear_fp32_bytes": lin32,
        "linear_int8_bytes": lin8,
        "linear_bytes_ratio": lin8 / lin32,
        "params": count_parameters(pair.fp32),
    }


def _speed_params() -> list:
    return [
        pytest.param(c, p, c.model, id=f"{c.id}-{p}") for c in SPEED_CASES for p in ("fp32", "int8")
    ]


@pytest.mark.parametrize(("case", "precision", "pair"), _speed_params(), indirect=["pair"])
def test_latency(
    benchmark, record_case, min_speedup: float, case: SpeedCase, precision: str, pair: Pair
) -> None:
    """Forward latency on one thread; the int8 row asserts size and paired speedup."""
    model = pair.fp32 if precision == "fp32" else pair.int8
    vocab = pair.fp32.config.vocab_size
    batch = synthetic_batch(vocab, case.batch, case.seq)
    rounds = max(3, 24 // case.batch) if "bert-base" in case.model else max(5, 40 // case.batch)
    benchmark.extra_info.update(
        {
            "model": pair.about,
            "data": "synthetic token ids (uniform random, seed 0, full attention mask)",
            "precision": precision,
            "seq": case.seq,
            "batch": case.batch,
            "threads": 1,
            "quant_config": DynamicQuantConfig().to_dict(),
        }
    )
    with pinned_threads(1), torch.inference_mode():
        benchmark.pedantic(forward_fn(model, batch), rounds=rounds, warmup_rounds=2)
    if precision == "fp32":
        return
    sizes = _sizes(pair)
    speed, speedup = measure_speedup(
        forward_fn(pair.fp32, batch),
        forward_fn(pair.int8, batch),
        floor=min_speedup,
        rounds=rounds,
        warmup=2,
    )
    benchmark.extra_info.update(sizes)
    benchmark.extra_info.update(
        {
            "speedup": speed.ratio,
            "speedup_q1": speed.q1,
            "speedup_q3": speed.q3,
            "fp32_median_s": speed.baseline.median,
            "int8_median_s": speed.candidate.median,
        }
    )
    record_case(
        benchmark,
        {
            "speedup": speedup,
            "size_int8_bytes": Metric(sizes["size_int8_bytes"], "bytes", "lower", 0.01, True),
            "size_fp32_bytes": Metric(sizes["size_fp32_bytes"], "bytes", "report"),
            "linear_bytes_ratio": Metric(sizes["linear_bytes_ratio"], "ratio", "lower", 0.005),
            "fp32_median_s": Metric(speed.baseline.median, "s", "report"),
            "int8_median_s": Metric(speed.candidate.median, "s", "report"),
        },
        config=DynamicQuantConfig().to_dict(),
        model={"about": pair.about},
        data={"input": "synthetic token ids", "seq": case.seq, "batch": case.batch},
    )
    lo, hi = LINEAR_RATIO
    assert lo <= sizes["linear_bytes_ratio"] <= hi, sizes
    assert sizes["size_int8_bytes"] < sizes["size_fp32_bytes"]
    check(f"int8 speedup ({case.id})", speedup)


def test_mrpc_quality(
    benchmark, pytestconfig: pytest.Config, record_case, mrpc_classifier
) -> None:
    """F1 on MRPC dev, fp32 vs int8, batch 8, max length 128; the row times the int8 pass."""
    clf = mrpc_classifier
    batches = clf.dev.batches(8)
    fp32 = clf.fp32_dev  # measured once per session, same batches and thread count
    with pinned_threads(1):
        int8 = benchmark.pedantic(
            evaluate_classifier,
            args=(clf.int8, batches),
            kwargs={"desc": "MRPC dev int8"},
            rounds=1,
            iterations=1,
        )
    drop = 100 * (fp32.metrics["f1"] - int8.metrics["f1"])
    benchmark.extra_info.update(
        {
            "model": clf.model_about,
            "data": clf.data_about,
            "split": f"MRPC dev ({len(clf.dev)} pairs)",
            "max_length": 128,
            "batch": 8,
            "threads": 1,
            "quant_config": clf.quant_config.to_dict(),
            "f1_fp32": fp32.metrics["f1"],
            "f1_int8": int8.metrics["f1"],
            "f1_drop_pts": drop,
            "accuracy_fp32": fp32.metrics["accuracy"],
            "accuracy_int8": int8.metrics["accuracy"],
            "eval_fp32_s": fp32.seconds,
            "eval_int8_s": int8.seconds,
            "size_fp32_bytes": serialized_size(clf.fp32),
            "size_int8_bytes": serialized_size(clf.int8),
        }
    )
    budget = pytestconfig.getoption("--f1-budget")
    labels = clf.dev.labels.tolist()
    drop_metric = quality_drop_metric(
        labels, fp32.predictions, int8.predictions, f1_binary, budget_pts=budget
    )
    record_case(
        benchmark,
        {
            "f1_drop_pts": drop_metric,
            "f1_int8": Metric(int8.metrics["f1"], "frac", "higher", 0.01),
            "f1_fp32": Metric(fp32.metrics["f1"], "frac", "higher", 0.01),
            "accuracy_int8": Metric(int8.metrics["accuracy"], "frac", "higher", 0.01),
            "size_int8_bytes": Metric(serialized_size(clf.int8), "bytes", "lower", 0.01, True),
            "eval_int8_s": Metric(int8.seconds, "s", "report"),
            "eval_fp32_s": Metric(fp32.seconds, "s", "report"),
        },
        config=clf.quant_config.to_dict(),
        model={"about": clf.model_about},
        data={"about": clf.data_about, "split": "MRPC dev", "examples": len(clf.dev)},
    )
    check("F1 drop fp32 -> int8 (pts, MRPC dev)", drop_metric)
    positives, total = int(clf.dev.labels.sum()), len(clf.dev)
    majority_f1 = 2 * positives / (total + positives)  # F1 of always answering "paraphrase"
    assert fp32.metrics["f1"] > majority_f1 + 0.02, "fine-tuned model did not learn MRPC"


def test_int8_roundtrip(tmp_path, mrpc_classifier) -> None:
    """A saved and reloaded int8 model gives exactly the saved model's logits."""
    clf = mrpc_classifier
    batch = {k: v for k, v in clf.dev.batches(16)[0].items() if k != "labels"}
    path = save_quantized(clf.int8, tmp_path / "int8", clf.quant_config)
    reloaded = load_quantized(path)
    with torch.inference_mode():
        assert torch.equal(logits_of(clf.int8, batch), logits_of(reloaded, batch))
