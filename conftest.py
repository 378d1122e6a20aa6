"""Shared pytest options and session-scoped fixtures for tests/ and benchmarks/.

Data and models resolve in the order documented in README.md; a source that cannot be found
skips the cases that need it, with a message saying how to provide it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from compress.evaluate import EvalResult, evaluate_classifier
from compress.fingerprint import machine_fingerprint
from compress.measure import pinned_threads
from compress.quantize import DynamicQuantConfig, quantize_dynamic
from fixtures.bert import Encoded, encode_pairs, load_classifier, load_tokenizer
from fixtures.chinese_news import load_sogou
from fixtures.errors import InputError, SourceUnavailable
from fixtures.finetune import FinetuneRecipe, finetuned_classifier
from fixtures.glue import PairSplit, load_mrpc
from fixtures.models import AUTO_ONLINE, DEFAULT_MODEL, WHEEL_MODELS, ModelSource, resolve_model
from fixtures.sources import hub_reachable

T = TypeVar("T")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compress-bench")
    group.addoption(
        "--glue-dir",
        default=None,
        help="directory with MRPC/train.tsv and MRPC/dev.tsv (default: $GLUE_DIR)",
    )
    group.addoption(
        "--model",
        default=os.environ.get("COMPRESS_BENCH_MODEL", DEFAULT_MODEL),
        help="model to fine-tune: 'minilm-l6' (offline default), 'auto' "
        "(bert-base-uncased if the hub is reachable, else minilm-l6), a local "
        "save_pretrained directory, or a hub name such as bert-base-uncased",
    )
    group.addoption(
        "--f1-budget",
        type=float,
        default=1.0,
        help="largest allowed F1 drop fp32 - int8, in points (default 1.0)",
    )
    group.addoption(
        "--min-speedup",
        type=float,
        default=1.3,
        help="smallest allowed fp32/int8 latency ratio (default 1.3)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Reject a bad --glue-dir/GLUE_DIR, SOGOU_DIR or local --model before anything runs."""
    glue = config.getoption("--glue-dir") or os.environ.get("GLUE_DIR")
    sogou = os.environ.get("SOGOU_DIR")
    spec = config.getoption("--model")
    try:
        if glue:
            for split in ("train", "dev"):
                load_mrpc(split, glue)
        if sogou:
            load_sogou(sogou)
        if spec not in ("auto", *WHEEL_MODELS) and Path(spec).expanduser().exists():
            resolve_model(spec)
    except InputError as err:
        raise pytest.UsageError(f"bad input: {err}") from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which model and data sources this run uses, before anything is measured."""
    spec = config.getoption("--model")
    if spec == "auto":
        ran = (
            AUTO_ONLINE
            if hub_reachable()
            else f"{DEFAULT_MODEL} (hub unreachable: offline default)"
        )
        spec = f"auto -> {ran}"
    glue = config.getoption("--glue-dir") or os.environ.get("GLUE_DIR") or "unset (hub or skip)"
    fp = machine_fingerprint()
    return [
        f"compress-bench: model {spec}; GLUE_DIR {glue}",
        f"compress-bench: machine {fp['cpu_model']} [{' '.join(fp['isa'])}], int8 engine "
        f"{fp['quantized_engine']}, fingerprint {fp['id']}; timed cases run on 1 thread",
    ]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record what makes timings comparable: CPU, ISA flags, int8 engine, versions, threads."""
    machine_info["fingerprint"] = machine_fingerprint()


def _need(load: Callable[..., T], *args: object) -> T:
    """Call ``load``; skip the requesting case if no source can provide what it loads."""
    try:
        return load(*args)
    except SourceUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def glue_dir(pytestconfig: pytest.Config) -> Iterator[str | None]:
    """The GLUE directory from --glue-dir, else $GLUE_DIR, else None (hub or skip)."""
    yield pytestconfig.getoption("--glue-dir") or os.environ.get("GLUE_DIR") or None


@pytest.fixture(scope="session")
def mrpc_train(glue_dir: str | None) -> Iterator[PairSplit]:
    yield _need(load_mrpc, "train", glue_dir)


@pytest.fixture(scope="session")
def mrpc_dev(glue_dir: str | None) -> Iterator[PairSplit]:
    yield _need(load_mrpc, "dev", glue_dir)


@dataclass(frozen=True)
class MrpcClassifier:
    """A fine-tuned fp32 MRPC classifier, its int8 twin, and the tokenized dev split."""

    fp32: torch.nn.Module
    int8: torch.nn.Module
    quant_config: DynamicQuantConfig
    dev: Encoded
    fp32_dev: EvalResult  # fp32 scores on dev (batch 8, 1 thread), computed once per session
    tokenizer: PreTrainedTokenizerBase
    source: ModelSource  # the fine-tuned weights on disk (for methods that start from them)
    model_about: str  # which weights, fine-tuned how
    data_about: str  # which files (with hashes) the figures come from


@pytest.fixture(scope="session")
def mrpc_classifier(
    pytestconfig: pytest.Config, mrpc_train: PairSplit, mrpc_dev: PairSplit
) -> Iterator[MrpcClassifier]:
    """The --model fine-tuned on MRPC train (cached by recipe hash), fp32 and dynamic int8."""
    base = _need(resolve_model, pytestconfig.getoption("--model"))
    recipe = FinetuneRecipe()
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # show the fine-tuning progress bar (minutes)
        tuned = finetuned_classifier(base, mrpc_train, recipe, threads=os.cpu_count() or 1)
    fp32 = load_classifier(tuned)
    config = DynamicQuantConfig()
    tokenizer = load_tokenizer(tuned)
    dev = encode_pairs(tokenizer, mrpc_dev, recipe.max_length)
    with pinned_threads(1):
        fp32_dev = evaluate_classifier(fp32, dev.batches(8), desc="MRPC dev fp32")
    yield MrpcClassifier(
        fp32,
        quantize_dynamic(fp32, config),
        config,
        dev,
        fp32_dev,
        tokenizer,
        tuned,
        tuned.description,
        f"train: {mrpc_train.source}; eval: {mrpc_dev.source}",
    )
