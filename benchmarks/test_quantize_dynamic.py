"""Dynamic int8 quantization of every nn.Linear (reference experiment 1: BERT on GLUE MRPC).

Rows: forward latency fp32 vs int8 per (model, seq, batch); the int8 row also carries the
paired, interleaved speedup and the size figures. Quality: F1 before and after on MRPC test
(dev when the test file is absent), agreement and KL to fp32 over every held-out pair.
Every case runs on one thread; run this file serially (never under xdist).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from compress.measure.meters import (
    count_parameters,
    linear_weight_bytes,
    pinned_threads,
    serialized_size,
)
from compress.methods.registry import get
from compress.quantize.dynamic import DynamicQuantConfig
from compress.quantize.serialize import load_quantized, save_quantized
from compress.train.evaluate import evaluate_classifier, forward_fn, logits_of
from compress.verdict.gates import HEADLINE_SPEED_TOLERANCE
from compress.verdict.runner import run_compression
from fixtures.models.bert import synthetic_batch
from fixtures.plugins.pairs import Pair
from fixtures.recipes.profiles import Profile

pytestmark = pytest.mark.timed
LINEAR_RATIO = (0.24, 0.27)  # int8 weights + scales vs fp32 weights: 1/4 plus a little
MAX_SIZE_RATIO = 0.7  # whole checkpoint: the fp32 embeddings weigh most in the small MiniLM
# The seed's MRPC int8 invariant, "above 1.3x": MiniLM at length 128 clears it on both ISA
# classes seen (1.43-1.57x on an AVX2-only CPU, 1.71x with AVX2-capped kernels, 2.2-2.6x with
# VNNI; docs/findings.md), so it never falls below that on a slow machine's relative floor.
SEED_FLOOR = 1.3
MIN_AGREEMENT = 0.90  # int8 answers as fp32 does on >= 90% of held-out MRPC pairs (quick: 92.3%)


@dataclass(frozen=True)
class SpeedCase:
    """One latency configuration."""

    model: str  # "minilm-l6-mrpc" (fine-tuned, real) or "bert-base-random-init"
    seq: int  # tokens per example, padded
    batch: int  # examples per forward pass

    @property
    def id(self) -> str:
        return f"{self.model}-seq{self.seq}-bs{self.batch}"

    @property
    def seed_case(self) -> bool:
        """The seed's case, MiniLM on MRPC at length 128: its own floor."""
        return self.model == "minilm-l6-mrpc" and self.seq == 128

    @property
    def headline(self) -> bool:
        """The gate's headline (batch 1 of the seed's case): rounds enough to resolve a 5%
        change between runs. At batch 8 the ratio moved 2.07-2.60x between runs of one commit
        on one machine (docs/gate.md), so it keeps the 10% of every other speedup."""
        return self.seed_case and self.batch == 1


# The reference length (128) for both models; short inputs (32 tokens) for the real model,
# where attention and per-call overheads weigh more and int8 gains less.
SPEED_CASES = [
    *(SpeedCase(m, 128, b) for m in ("minilm-l6-mrpc", "bert-base-random-init") for b in (1, 8)),
    *(SpeedCase("minilm-l6-mrpc", 32, b) for b in (1, 8)),
]


def _speed_params() -> list:
    return [
        pytest.param(c, p, c.model, id=f"{c.id}-{p}") for c in SPEED_CASES for p in ("fp32", "int8")
    ]


@pytest.mark.parametrize(("case", "precision", "pair"), _speed_params(), indirect=["pair"])
def test_latency(
    benchmark,
    new_case,
    profile: Profile,
    min_speedup: float,
    case: SpeedCase,
    precision: str,
    pair: Pair,
) -> None:
    """Forward latency on one thread; the int8 row gates size and the paired speedup."""
    vocab = pair.fp32.config.vocab_size
    batch = synthetic_batch(vocab, case.batch, case.seq)
    full = max(3, 24 // case.batch) if "bert-base" in case.model else max(5, 40 // case.batch)
    rounds = profile.rounds(full)
    if precision == "fp32":  # the reference row: its latency only
        with pinned_threads(1), torch.inference_mode():
            benchmark.pedantic(forward_fn(pair.fp32, batch), rounds=rounds, warmup_rounds=2)
        return
    run = new_case(
        config=DynamicQuantConfig().to_dict(),
        model={"about": pair.about, "params": count_parameters(pair.fp32)},
        data={
            "input": "synthetic token ids (uniform, seed 0)",
            "seq": case.seq,
            "batch": case.batch,
        },
    )
    lin32, lin8 = linear_weight_bytes(pair.fp32), linear_weight_bytes(pair.int8)
    run.metric("linear_bytes_ratio", lin8 / lin32, "ratio", "lower", 0.005)
    run_compression(
        run,
        benchmark,
        reference=forward_fn(pair.fp32, batch),
        compressed=forward_fn(pair.int8, batch),
        rounds=rounds,
        warmup=2,
        floor=max(min_speedup, SEED_FLOOR) if case.seed_case else min_speedup,
        size_bytes=(serialized_size(pair.fp32), serialized_size(pair.int8)),
        max_size_ratio=MAX_SIZE_RATIO,
        expect=get("torch-dynamic").expect(),
        **({"tolerance": HEADLINE_SPEED_TOLERANCE, "resolve": True} if case.headline else {}),
    )
    lo, hi = LINEAR_RATIO
    assert lo <= lin8 / lin32 <= hi, (lin8, lin32)


def test_mrpc_quality(benchmark, settings, new_case, mrpc_classifier) -> None:
    """F1 fp32 vs int8 on the verdict split (MRPC test when present; paired CI of the drop),
    fidelity over every held-out pair; the row times the int8 pass over MRPC dev as the
    reference experiment does (batch 8, max length 128, one thread)."""
    clf = mrpc_classifier
    batches = clf.dev.batches(8)
    with pinned_threads(1):
        fp32_dev = evaluate_classifier(clf.fp32, batches, desc="MRPC dev fp32")
        int8_dev = benchmark.pedantic(
            evaluate_classifier,
            args=(clf.int8, batches),
            kwargs={"desc": "MRPC dev int8"},
            rounds=1,
            iterations=1,
        )
    run = new_case(
        config=clf.quant_config.to_dict(),
        model={"about": clf.model_about},
        data=clf.data(timed="MRPC dev, batch 8, padded to 128 tokens, one thread"),
    )
    int8 = clf.score(clf.int8, "MRPC int8")
    clf.record_quality(run, int8, budget_pts=settings.f1_budget, min_agreement=MIN_AGREEMENT)
    run.sizes(serialized_size(clf.fp32), serialized_size(clf.int8), max_ratio=MAX_SIZE_RATIO)
    run.report("eval_compressed_s", int8_dev.seconds, "s")
    run.report("eval_reference_s", fp32_dev.seconds, "s")
    run.finish(benchmark.extra_info)
    floor = run.metrics["f1_majority"].value  # F1 of always answering "paraphrase"
    assert clf.fp32_eval.metrics["f1"] > floor + 0.02, "fine-tuned model did not learn MRPC"


def test_int8_roundtrip(tmp_path, mrpc_classifier) -> None:
    """A saved and reloaded int8 model gives exactly the saved model's logits."""
    clf = mrpc_classifier
    batch = {k: v for k, v in clf.dev.batches(16)[0].items() if k != "labels"}
    path = save_quantized(clf.int8, tmp_path / "int8", clf.quant_config)
    reloaded = load_quantized(path)
    with torch.inference_mode():
        assert torch.equal(logits_of(clf.int8, batch), logits_of(reloaded, batch))
