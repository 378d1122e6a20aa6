"""Weight pruning with torch.nn.utils.prune: what every method x amount really buys.

One case per (method, amount) on two real models: the MiniLM-L6 fine-tuned on ``--task``
(default MRPC; its 36 encoder Linear weights pruned, F1 on the verdict split, MRPC test) and
the digits CNN (every conv and linear weight, accuracy on the 450-image test split). The
amounts come from the profile (full: 10-90% in steps of 20; quick: 10/50/90%); structured
methods stop at 50%.
Each case records the real sparsity, the dense checkpoint sizes, the size of two sparse
encodings (torch CSR with int64 indices; a bitmask plus the kept values), the paired latency
ratio original / pruned-and-made-permanent (shown, not gated: masks are not meant to buy
speed), and the quality drop vs the unpruned model with its paired CI (compared between runs,
not gated: the grid surveys amounts up to 90%, which are meant to hurt).
Invariants, asserted after the case is recorded: the sparsity is exactly what was asked (to
the element for unstructured methods, whole rows for structured ones), the pruned model still
runs, the dense size is unchanged (+-0.1%), masks buy no speed (the ratio's CI reaches into
[1/1.3, 1.3]; a median outside warns), the bitmask encoding is smaller than dense, and CSR is
smaller exactly when its formula says so.
The timed row is one forward of the permanent pruned model. Run serially (never under xdist).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from tabulate import tabulate
from torch import nn

from compress.core.stats import accuracy, speedup_ci
from compress.measure.meters import (
    paired_speedup,
    pinned_threads,
    serialized_size,
)
from compress.prune.sparse import SparsityReport, sparse_size, sparsity_report
from compress.prune.unstructured import (
    PruneConfig,
    make_permanent,
    n_m_mask,
    prune,
    prune_targets,
    units_to_prune,
)
from compress.train.evaluate import EvalResult, evaluate_classifier, forward_fn, logits_of
from compress.verdict.case import Case
from compress.verdict.results import Metric
from fixtures.plugins.settings import profile_of
from fixtures.recipes.digits import DigitsRecipe, DigitsSplit, batches
from fixtures.recipes.profiles import Profile

pytestmark = pytest.mark.timed

BERT_TARGETS = {"targets": ("bert.encoder.*",), "module_types": ("Linear",)}
CNN_TARGETS = {"targets": ("*",), "module_types": ("Linear", "Conv2d")}
# amounts come from the profile (full: 0.1 0.3 0.5 0.7 0.9); structured ones stop at 0.5
STRUCTURED_MAX = 0.5
LATENCY_ROUNDS = 16  # paired rounds in the full profile (scaled by the profile)
ROW_ROUNDS = 5  # rounds of the pytest-benchmark row (scaled likewise)
SIZE_TOLERANCE = 0.001  # dense checkpoint of the permanent pruned model vs the original
NO_SPEED_BAND = 1.3  # masked dense latency / original must stay inside (1/band, band)
ENCODING_TOLERANCE = 0.01  # compare: a sparse encoding may grow 1% between runs


def _cases(targets: dict[str, tuple[str, ...]], amounts: tuple[float, ...]) -> list[PruneConfig]:
    structured = [a for a in amounts if a <= STRUCTURED_MAX]
    return [
        *(
            PruneConfig(method, amount, **targets)
            for method in ("random_unstructured", "l1_unstructured")
            for amount in amounts
        ),
        *(PruneConfig("global_unstructured", a, **targets) for a in amounts),
        *(PruneConfig("random_structured", a, dim=0, **targets) for a in structured),
        *(PruneConfig("ln_structured", a, n=2, dim=0, **targets) for a in structured),
        PruneConfig("custom_from_mask", **targets),  # 2:4 semi-structured, by magnitude
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every method at the profile's amounts, on the model of the test."""
    targets = {"test_prune_bert": BERT_TARGETS, "test_prune_digits": CNN_TARGETS}
    if metafunc.function.__name__ in targets:
        amounts = profile_of(metafunc.config).prune_amounts
        cases = _cases(targets[metafunc.function.__name__], amounts)
        metafunc.parametrize("config", cases, ids=lambda c: c.id)


@dataclass(frozen=True)
class Quality:
    """How a pruned model is scored: on ``batches``, against the unpruned model's predictions."""

    metric: str  # "f1" | "accuracy"
    score: Callable[[np.ndarray, np.ndarray], float]
    batches: list[dict[str, torch.Tensor]]
    reference: EvalResult  # the unpruned model on ``batches``
    threads: int

    def record(self, run: Case, model: nn.Module) -> None:
        """The drop vs the unpruned model, paired bootstrap CI; no budget (see the docstring)."""
        with pinned_threads(self.threads):  # untimed quality pass
            pruned = evaluate_classifier(model, self.batches, desc=run.id, progress=False)
        labels = torch.cat([b["labels"] for b in self.batches]).tolist()
        # budget_pts=None: Case.quality_drop has no ungated form; None records the drop, its CI
        # and both fractions and leaves them to compare (finish skips metrics without a budget).
        run.quality_drop(
            f"{self.metric}_drop_pts",
            labels,
            self.reference.predictions,
            pruned.predictions,
            self.score,
            budget_pts=None,
        )
        assert self.reference.logits is not None and pruned.logits is not None
        run.fidelity(self.reference.logits, pruned.logits, inputs=f"{len(labels)} test inputs")


def _n_m_masks(model: nn.Module, config: PruneConfig) -> dict[str, torch.Tensor] | None:
    if config.method != "custom_from_mask":
        return None
    return {name: n_m_mask(module.weight, 2, 4) for name, module in prune_targets(model, config)}


def _check_sparsity(report: SparsityReport, config: PruneConfig, masks: dict | None) -> None:
    """Assert the measured zeros are exactly what the config asked for."""
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


def _csr_bytes_formula(pruned: nn.Module, config: PruneConfig) -> tuple[int, int]:
    """(CSR bytes, dense bytes) of the target weights by hand: 4+8 per nonzero, 8 per row+1."""
    csr = dense = 0
    for _, module in prune_targets(pruned, config):
        weight = module.weight
        nnz = int((weight != 0).sum())
        csr += 12 * nnz + 8 * (weight.shape[0] + 1)
        dense += 4 * weight.numel()
    return csr, dense


def _latency_ratio(
    run: Case, model: nn.Module, permanent: nn.Module, timed: dict, rounds: int
) -> Metric:
    """Original / permanent-pruned latency, paired on 1 thread: shown with its CI, never gated
    as a speedup (masks are not meant to buy any; NO_SPEED_BAND is asserted by hand)."""
    speed = paired_speedup(
        forward_fn(model, timed), forward_fn(permanent, timed), rounds=rounds, warmup=2
    )
    _, ci = speedup_ci(speed.baseline_s, speed.candidate_s)
    run.report("latency_unpruned_s", speed.baseline.median, "s")
    run.report("latency_pruned_s", speed.candidate.median, "s")
    return run.add("latency_ratio", Metric(speed.ratio, "x", "report", ci=ci))


def _check_no_speed(ratio: Metric) -> None:
    """Masks buy no speed: fail when the ratio's whole CI lies outside NO_SPEED_BAND, warn when
    only the point does (like an inconclusive gate: a loaded machine, not the model)."""
    low, high, band = ratio.ci.low, ratio.ci.high, NO_SPEED_BAND
    text = f"a masked dense model changed latency by {ratio.value:.2f}x [CI {low:.2f}-{high:.2f}]"
    assert low < band and high > 1 / band, f"{text}; expected none (band {band}x)"
    if not 1 / band < ratio.value < band:
        warnings.warn(f"inconclusive: {text}, band {band}x", stacklevel=2)


def _measure(
    benchmark, run: Case, config: PruneConfig, model: nn.Module, timed, quality, profile: Profile
) -> None:
    """Prune, record the figures, finish the case, then assert the invariants."""
    start = time.perf_counter()
    masks = _n_m_masks(model, config)
    pruned = prune(model, config, masks=masks)
    run.report("prune_s", time.perf_counter() - start, "s")
    report = sparsity_report(pruned, config)
    run.report("sparsity", report.sparsity, "frac")  # exact by construction: asserted below
    run.report("zeros", report.zeros, "count")
    run.report("target_weights", report.total, "count")
    permanent = make_permanent(pruned)
    with torch.inference_mode():
        logits = logits_of(permanent, timed)
    quality.record(run, permanent)
    size_dense, size_pruned = serialized_size(model), serialized_size(permanent)
    run.sizes(size_dense, size_pruned)
    run.report("size_masked_bytes", serialized_size(pruned), "bytes")  # weight_orig + mask
    size_csr, size_bitmask = sparse_size(pruned, config, "csr"), sparse_size(pruned, config)
    for name, size in (("size_csr_bytes", size_csr), ("size_bitmask_bytes", size_bitmask)):
        run.metric(name, size, "bytes", "lower", ENCODING_TOLERANCE, relative=True)
    ratio = _latency_ratio(run, model, permanent, timed, profile.rounds(LATENCY_ROUNDS))
    with pinned_threads(1), torch.inference_mode():
        benchmark.pedantic(
            forward_fn(permanent, timed), rounds=profile.rounds(ROW_ROUNDS), warmup_rounds=1
        )
    run.finish(benchmark.extra_info)
    _check_sparsity(report, config, masks)
    assert torch.isfinite(logits).all() and logits.shape[0] == len(next(iter(timed.values())))
    assert abs(size_pruned - size_dense) <= SIZE_TOLERANCE * size_dense, (size_pruned, size_dense)
    _check_no_speed(ratio)
    assert size_bitmask < size_dense, (size_bitmask, size_dense)
    csr_formula, dense_targets = _csr_bytes_formula(permanent, config)
    assert (size_csr < size_dense) == (csr_formula < dense_targets), (
        f"CSR {size_csr} B vs dense {size_dense} B, but the formula predicts "
        f"{csr_formula} B vs {dense_targets} B for the targets"
    )


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


def _row(model: str, config: PruneConfig, run: Case, metric: str) -> dict[str, object]:
    """The terminal table's row: a view of the case's metrics."""
    value = {name: m.value for name, m in run.metrics.items()}
    mb = 1e6
    two_four = config.method == "custom_from_mask"
    return {
        "model": model,
        "method": "2:4" if two_four else config.id.rsplit("-", 1)[0],
        "amount": "mask" if two_four else config.amount,
        "sparsity": value["sparsity"],
        "dense MB": value["size_bytes"] / mb,
        "csr MB": value["size_csr_bytes"] / mb,
        "bitmask MB": value["size_bitmask_bytes"] / mb,
        "latency ratio": value["latency_ratio"],
        metric: value[f"{metric}_compressed"],
    }


# ---- MiniLM-L6 fine-tuned on --task (default MRPC) -------------------------------------------


@dataclass(frozen=True)
class ClassifierQuality:
    """A pruned fine-tuned classifier scored like every other (TaskClassifier.record_quality):
    drops on the verdict split with the constant predictor's floor, fidelity over the pool."""

    clf: Any  # fixtures.models.task.TaskClassifier

    def record(self, run: Case, model: nn.Module) -> None:
        result = self.clf.score(model, run.id)
        self.clf.record_quality(run, result, budget_pts=None)  # recorded, compared, not gated


@pytest.fixture(scope="module")
def bert_quality(task_classifier) -> ClassifierQuality:
    return ClassifierQuality(task_classifier)


def test_prune_bert(
    benchmark, new_case, profile, config, task_classifier, bert_quality, table
) -> None:
    """Prune the fine-tuned MiniLM's encoder Linears; F1 on the verdict split (MRPC test);
    one forward, batch 1, length 128."""
    clf = task_classifier
    timed = {k: v[:1] for k, v in clf.dev.batches(1)[0].items() if k != "labels"}
    run = new_case(
        config=config.to_dict(),
        model={"about": clf.model_about},
        data=clf.data(
            task=clf.task,
            batching="batch 32, sorted by length, trimmed",
            timed_input="one dev example padded to 128 tokens, batch 1",
        ),
    )
    _measure(benchmark, run, config, clf.fp32, timed, bert_quality, profile)
    table.append(_row(f"minilm-l6-{clf.task}", config, run, "f1"))


# ---- digits CNN ------------------------------------------------------------------------------

DIGITS_RECIPE = DigitsRecipe()  # what the session fixture digits_cnn trains
DIGITS_BATCH = 64


@pytest.fixture(scope="module")
def digits_quality(digits: DigitsSplit, digits_cnn: nn.Module) -> Quality:
    test = batches(digits.x_test, digits.y_test, DIGITS_BATCH)
    with pinned_threads(1):
        unpruned = evaluate_classifier(digits_cnn, test, desc="digits", progress=False)
    return Quality("accuracy", accuracy, test, unpruned, 1)


def test_prune_digits(
    benchmark, new_case, profile, config, digits, digits_cnn, digits_quality, table
) -> None:
    """Prune every conv/linear weight of the digits CNN; accuracy on 450 test images."""
    n = len(digits.y_test)
    run = new_case(
        config=config.to_dict(),
        model={"about": DIGITS_RECIPE.describe()},
        data={
            "source": digits.source,
            "split": "test",
            "examples": n,
            "timed_input": f"all {n} test images in one batch",
        },
    )
    timed = {"x": digits.x_test}  # all 450 test images: ~20 ms, less noise than a small batch
    _measure(benchmark, run, config, digits_cnn, timed, digits_quality, profile)
    table.append(_row("digits-cnn", config, run, "accuracy"))
