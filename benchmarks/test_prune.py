"""Weight pruning with torch.nn.utils.prune: what every method x amount really buys.

One row per (method, amount) on two real models: the MiniLM-L6 fine-tuned on ``--task``
(default MRPC; its 36 encoder Linear weights pruned, F1 on the task's dev split) and the digits
CNN (every conv and linear weight, accuracy on the 450-image test split). Each row measures the
real sparsity, the dense checkpoint size, the size of two sparse encodings (torch CSR with
int64 indices; a bitmask plus the kept values), the paired latency ratio original / pruned-and-
made-permanent, and quality.
Invariants: the sparsity is exactly what was asked (to the element for unstructured
methods, whole rows for structured ones), the pruned model still runs, the dense size is
unchanged (+-0.1%), masks buy no speed (ratio inside [1/1.3, 1.3]), the
bitmask encoding is smaller than dense, and CSR is smaller exactly when its formula says so.
The timed row is one forward of the permanent pruned model. Run serially (never under xdist).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import torch
from tabulate import tabulate
from torch import nn

from compress.evaluate import evaluate_classifier, forward_fn, logits_of
from compress.measure import paired_speedup, pinned_threads, serialized_size, training_threads
from compress.prune import (
    PruneConfig,
    make_permanent,
    n_m_mask,
    prune,
    prune_targets,
    units_to_prune,
)
from compress.sparse import sparse_size, sparsity_report
from fixtures.bert import Encoded
from fixtures.digits import (
    DigitsRecipe,
    DigitsSplit,
    batches,
)

pytestmark = pytest.mark.timed

BERT_TARGETS = {"targets": ("bert.encoder.*",), "module_types": ("Linear",)}
CNN_TARGETS = {"targets": ("*",), "module_types": ("Linear", "Conv2d")}
UNSTRUCTURED_AMOUNTS = (0.1, 0.3, 0.5, 0.7, 0.9)
STRUCTURED_AMOUNTS = (0.1, 0.3, 0.5)
EVAL_BATCH = 32  # task dev examples per batch, sorted by length and trimmed (quality only)
LATENCY_ROUNDS = 16
SIZE_TOLERANCE = 0.001  # dense checkpoint of the permanent pruned model vs the original
NO_SPEED_BAND = 1.3  # masked dense latency / original must stay inside (1/band, band)


def _cases(targets: dict[str, tuple[str, ...]]) -> list[PruneConfig]:
    return [
        *(
            PruneConfig(method, amount, **targets)
            for method in ("random_unstructured", "l1_unstructured")
            for amount in UNSTRUCTURED_AMOUNTS
        ),
        *(PruneConfig("global_unstructured", a, **targets) for a in UNSTRUCTURED_AMOUNTS),
        *(PruneConfig("random_structured", a, dim=0, **targets) for a in STRUCTURED_AMOUNTS),
        *(PruneConfig("ln_structured", a, n=2, dim=0, **targets) for a in STRUCTURED_AMOUNTS),
        PruneConfig("custom_from_mask", **targets),  # 2:4 semi-structured, by magnitude
    ]


def _n_m_masks(model: nn.Module, config: PruneConfig) -> dict[str, torch.Tensor] | None:
    if config.method != "custom_from_mask":
        return None
    return {name: n_m_mask(module.weight, 2, 4) for name, module in prune_targets(model, config)}


def _check_sparsity(pruned: nn.Module, config: PruneConfig, masks: dict | None) -> dict:
    """Assert the measured zeros are exactly what the config asked for; return the figures."""
    report = sparsity_report(pruned, config)
    if config.method == "global_unstructured":
        assert report.zeros == units_to_prune(config.amount, report.total), report.zeros
    for layer in report.layers:
        name = layer.name.rsplit(".", 1)[0]
        if config.method in ("random_unstructured", "l1_unstructured"):
            assert layer.zeros == units_to_prune(config.amount, layer.total), layer
        elif config.structured:
            rows = units_to_prune(config.amount, layer.shape[0])
            assert layer.zero_rows == rows, layer
            assert layer.zeros == rows * (layer.total // layer.shape[0]), layer
        elif config.method == "custom_from_mask":
            assert layer.zeros == int((masks[name] == 0).sum()), layer
    return {
        "sparsity": report.sparsity,
        "zeros": report.zeros,
        "target_weights": report.total,
        "per_layer": report.table(),
    }


def _csr_bytes_formula(pruned: nn.Module, config: PruneConfig) -> tuple[int, int]:
    """(CSR bytes, dense bytes) of the target weights by hand: 4+8 per nonzero, 8 per row+1."""
    csr = dense = 0
    for _, module in prune_targets(pruned, config):
        weight = module.weight
        nnz = int((weight != 0).sum())
        csr += 12 * nnz + 8 * (weight.shape[0] + 1)
        dense += 4 * weight.numel()
    return csr, dense


@pytest.fixture(scope="module")
def table(pytestconfig: pytest.Config) -> Iterator[list[dict[str, object]]]:
    """Collects one row per case; prints the method x amount table when the module ends."""
    rows: list[dict[str, object]] = []
    yield rows
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    if rows and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\nprune: method x amount (1 thread)")
            reporter.write_line(tabulate(rows, headers="keys", floatfmt=".4g"))


def _measure(
    benchmark,
    pytestconfig: pytest.Config,
    config: PruneConfig,
    model: nn.Module,
    timed_batch: dict[str, torch.Tensor],
    quality: tuple[str, float, Callable[[nn.Module], float]],
) -> dict[str, object]:
    """Prune, check the invariants, time the permanent model; return the figures."""
    start = time.perf_counter()
    masks = _n_m_masks(model, config)
    pruned = prune(model, config, masks)
    prune_s = time.perf_counter() - start
    figures = _check_sparsity(pruned, config, masks)
    permanent = make_permanent(pruned)
    with torch.inference_mode():
        logits = logits_of(permanent, timed_batch)
    assert torch.isfinite(logits).all() and logits.shape[0] == len(next(iter(timed_batch.values())))
    metric, baseline, evaluate = quality
    value = evaluate(permanent)
    size_dense, size_pruned = serialized_size(model), serialized_size(permanent)
    size_masked = serialized_size(pruned)  # weight_orig + weight_mask: bigger, not smaller
    size_csr, size_bitmask = sparse_size(pruned, config, "csr"), sparse_size(pruned, config)
    csr_formula, dense_targets = _csr_bytes_formula(permanent, config)
    speed = paired_speedup(
        forward_fn(model, timed_batch),
        forward_fn(permanent, timed_batch),
        rounds=LATENCY_ROUNDS,
        warmup=2,
    )
    with pinned_threads(1), torch.inference_mode():
        benchmark.pedantic(forward_fn(permanent, timed_batch), rounds=5, warmup_rounds=1)
    figures.update(
        {
            "config": config.to_dict(),
            "threads": 1,
            metric: value,
            f"{metric}_unpruned": baseline,
            f"{metric}_drop_pts": 100 * (baseline - value),
            "size_dense_bytes": size_dense,
            "size_pruned_dense_bytes": size_pruned,
            "size_masked_bytes": size_masked,
            "size_csr_bytes": size_csr,
            "size_bitmask_bytes": size_bitmask,
            "latency_ratio": speed.ratio,
            "latency_ratio_q1": speed.q1,
            "latency_ratio_q3": speed.q3,
            "unpruned_median_s": speed.baseline.median,
            "pruned_median_s": speed.candidate.median,
            "prune_s": prune_s,
        }
    )
    benchmark.extra_info.update(figures)
    assert abs(size_pruned - size_dense) <= SIZE_TOLERANCE * size_dense, (size_pruned, size_dense)
    band = NO_SPEED_BAND
    assert 1 / band < speed.ratio < band, (
        f"a masked dense model changed latency by {speed.ratio:.2f}x "
        f"(IQR {speed.q1:.2f}-{speed.q3:.2f}); expected none"
    )
    assert size_bitmask < size_dense, (size_bitmask, size_dense)
    assert (size_csr < size_dense) == (csr_formula < dense_targets), (
        f"CSR {size_csr} B vs dense {size_dense} B, but the formula predicts "
        f"{csr_formula} B vs {dense_targets} B for the targets"
    )
    return figures


def _row(model: str, config: PruneConfig, figures: dict, metric: str) -> dict[str, object]:
    mb = 1e6
    return {
        "model": model,
        "method": config.id.rsplit("-", 1)[0] if config.method != "custom_from_mask" else "2:4",
        "amount": config.amount if config.method != "custom_from_mask" else "mask",
        "sparsity": figures["sparsity"],
        "dense MB": figures["size_pruned_dense_bytes"] / mb,
        "csr MB": figures["size_csr_bytes"] / mb,
        "bitmask MB": figures["size_bitmask_bytes"] / mb,
        "latency ratio": figures["latency_ratio"],
        metric: figures[metric],
    }


# ---- MiniLM-L6 fine-tuned on --task (default MRPC) -------------------------------------------


def _sorted_batches(dev: Encoded, size: int) -> list[dict[str, torch.Tensor]]:
    """Dev batches of similar lengths, trimmed to their longest row (same predictions, faster)."""
    lengths = dev.attention_mask.sum(1)
    order = torch.argsort(lengths, stable=True)
    return [dev.take(idx) for idx in torch.split(order, size)]


@pytest.fixture(scope="module")
def bert_eval(task_classifier) -> tuple[list[dict[str, torch.Tensor]], float]:
    """Length-sorted dev batches and the unpruned F1 on them."""
    dev = _sorted_batches(task_classifier.dev, EVAL_BATCH)
    with pinned_threads(training_threads()):  # untimed quality pass
        f1 = evaluate_classifier(task_classifier.fp32, dev, desc="dev").metrics["f1"]
    return dev, f1


@pytest.mark.parametrize("config", _cases(BERT_TARGETS), ids=lambda c: c.id)
def test_prune_bert(benchmark, pytestconfig, config, task_classifier, bert_eval, table) -> None:
    """Prune the fine-tuned MiniLM's encoder Linears; F1 on the task's dev split; one forward,
    batch 1, length 128."""
    dev, f1_unpruned = bert_eval
    clf = task_classifier
    timed = {k: v[:1] for k, v in clf.dev.batches(1)[0].items() if k != "labels"}

    def f1(model: nn.Module) -> float:
        with pinned_threads(training_threads()):  # untimed quality pass
            return evaluate_classifier(model, dev, desc=f"dev {config.id}").metrics["f1"]

    figures = _measure(benchmark, pytestconfig, config, clf.fp32, timed, ("f1", f1_unpruned, f1))
    benchmark.extra_info.update(
        {
            "model": clf.model_about,
            "data": clf.data_about,
            "task": clf.task,
            "split": f"{clf.task} dev ({len(clf.dev)} examples), batch {EVAL_BATCH} sorted",
            "timed_input": "one dev example padded to 128 tokens, batch 1",
        }
    )
    table.append(_row(f"minilm-l6-{clf.task}", config, figures, "f1"))


# ---- digits CNN ------------------------------------------------------------------------------

DIGITS_RECIPE = DigitsRecipe()  # what the session fixture digits_cnn trains
DIGITS_BATCH = 64


def _accuracy(model: nn.Module, digits: DigitsSplit) -> float:
    test = batches(digits.x_test, digits.y_test, DIGITS_BATCH)
    with pinned_threads(1):
        result = evaluate_classifier(model, test, desc="digits", progress=False)
    return result.metrics["accuracy"]


@pytest.fixture(scope="module")
def digits_baseline(digits: DigitsSplit, digits_cnn: nn.Module) -> float:
    return _accuracy(digits_cnn, digits)


@pytest.mark.parametrize("config", _cases(CNN_TARGETS), ids=lambda c: c.id)
def test_prune_digits(
    benchmark, pytestconfig, config, digits, digits_cnn, digits_baseline, table
) -> None:
    """Prune every conv/linear weight of the digits CNN; accuracy on 450 test images."""

    def accuracy(model: nn.Module) -> float:
        return _accuracy(model, digits)

    baseline = digits_baseline
    timed = {"x": digits.x_test}  # all 450 test images: ~20 ms, less noise than a small batch
    figures = _measure(
        benchmark, pytestconfig, config, digits_cnn, timed, ("accuracy", baseline, accuracy)
    )
    benchmark.extra_info.update(
        {
            "model": DIGITS_RECIPE.describe(),
            "data": digits.source,
            "split": f"test ({len(digits.y_test)} images)",
            "timed_input": f"all {len(digits.y_test)} test images in one batch",
        }
    )
    table.append(_row("digits-cnn", config, figures, "accuracy"))
