"""Structured fine-pruning of MiniLM-L6: heads and FFN neurons pruned, then physically removed.

The task is ``--task`` (default MRPC; conftest ``task_classifier`` is the fine-tuned model and
the distillation teacher). ``RECIPES`` (``fixtures.fine_prune``, cached by recipe hash; cubic
schedule, distillation from the fine-tuned model; ``COMPRESS_BENCH_FINE_PRUNE`` picks them):

- ``taylor`` (CI): from the fine-tuned model, first-order Taylor scores;
- ``movement``: from the pretrained model, movement scores accumulated while fine-tuning on the
  task (Sanh et al. 2020, as nn_pruning did).

Rows:

- ``test_fine_pruned[<recipe>-fp32]`` / ``[<recipe>-int8]``: one forward of the compacted
  model (and of its dynamic int8 twin) on a dev batch of 8 padded to 128 tokens, 1 thread.
  Asserts: compacted logits equal the masked model's (``LOGIT_ATOL``), the parameter count
  equals what the masks say, F1 drop on the task's dev split within the recipe's budget,
  paired speedup vs the unpruned fp32 model.
- ``test_one_shot_scores[...]``: the taylor recipe's sparsity without fine-tuning, per score,
  to show what the score choice does before any recovery training.

Run serially (never under xdist).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
import torch
from tabulate import tabulate
from torch import nn

from compress.evaluate import EvalResult, evaluate_classifier, forward_fn, logits_of
from compress.fine_prune import StructuredPruneConfig
from compress.gates import check, measure_speedup, quality_drop_metric
from compress.measure import (
    count_parameters,
    pinned_threads,
    serialized_size,
    training_threads,
)
from compress.prune_structured import (
    Gates,
    Masks,
    compact,
    expected_parameters,
    magnitude_scores,
    select_masks,
    shape_report,
)
from compress.quantize import DynamicQuantConfig, quantize_dynamic
from compress.results import Metric
from compress.stats import f1_binary
from fixtures.bert import encode_pairs
from fixtures.fine_prune import FinePrunedModel, fine_pruned_classifier
from fixtures.models import resolve_model
from fixtures.profiles import Profile

pytestmark = pytest.mark.timed


@dataclass(frozen=True)
class Recipe:
    """Where fine-pruning starts and how it prunes (the teacher is always the fine-tuned model)."""

    start: str  # "fine-tuned" (the task_classifier) or "pretrained" (--model, new head)
    config: StructuredPruneConfig
    f1_budget_pts: float  # largest F1 drop vs the unpruned fp32 model (fp32 and int8)


RECIPES = {
    # From the fine-tuned model, first-order Taylor scores: the CI recipe.
    "taylor": Recipe(
        "fine-tuned",
        StructuredPruneConfig(head_sparsity=0.4, ffn_sparsity=0.65, score="taylor", lr=5e-5),
        1.5,  # the target
    ),
    # Sanh et al. 2020 / nn_pruning: movement scores accumulated while fine-tuning the
    # *pretrained* model on the task (a fine-tuned model's gradients carry no movement signal).
    "movement": Recipe(
        "pretrained",
        StructuredPruneConfig(
            head_sparsity=0.4,
            ffn_sparsity=0.65,
            score="movement",
            epochs=3,
            lr=1e-4,
            cooldown_ratio=0.4,
        ),
        6.0,  # a comparison row (measured: 5.2 pt on MRPC); the guard catches a collapse
    ),
}
# Which recipes run: COMPRESS_BENCH_FINE_PRUNE=taylor (default, CI) or e.g. "taylor,movement"
# (movement trains 3 epochs from the pretrained model: 20 min measured on 2 shared cores).
RUN = tuple(os.environ.get("COMPRESS_BENCH_FINE_PRUNE", "taylor").split(","))
if not RUN or set(RUN) - set(RECIPES):
    raise pytest.UsageError(f"COMPRESS_BENCH_FINE_PRUNE: comma-separated {sorted(RECIPES)}")
CONFIG = RECIPES["taylor"].config  # the one-shot rows prune to the CI recipe's sparsity
# The targets vs the unpruned fp32 model (reported to hold on AVX2-only machines
# too); with int8, also at least the fp32 target times the run's int8 floor.
TARGET_SPEEDUP = {"fp32": 1.8, "int8": 2.5}
LOGIT_ATOL = 1e-4  # compacted vs masked logits (float32 summation order differs)
ROUNDS = 20  # paired timing rounds in the full profile (scaled by the profile)


def _recipe(name: str, profile: Profile) -> Recipe:
    """RECIPES[name]; the CI recipe (taylor) takes its epochs and F1 budget from the profile."""
    recipe = RECIPES[name]
    if name != "taylor":
        return recipe
    config = replace(recipe.config, epochs=profile.fine_prune_epochs)
    return replace(recipe, config=config, f1_budget_pts=profile.fine_pruned_f1_budget_pts)
ONE_SHOT_BATCHES = 8  # training batches of 32 used to score units for the one-shot rows


@dataclass(frozen=True)
class Pruned:
    name: str  # key of RECIPES
    recipe: Recipe
    fine: FinePrunedModel
    small: nn.Module
    small_int8: nn.Module
    load_s: float
    shapes: list[dict[str, object]]  # shape_report rows: layer, weight, before, after


@pytest.fixture(scope="module", params=RUN)
def pruned(
    request, pytestconfig: pytest.Config, profile: Profile, task_train, task_classifier
) -> Iterator[Pruned]:
    """The fine-pruned classifier (trained now or from cache), compacted, and its int8 twin."""
    recipe = _recipe(request.param, profile)
    tuned = task_classifier.source  # the fine-tuned weights the session fixture loaded
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    start = time.perf_counter()
    with capture.global_and_fixture_disabled():  # show the fine-pruning progress bar
        fine = fine_pruned_classifier(
            resolve_model(pytestconfig.getoption("--model"))
            if recipe.start == "pretrained"
            else tuned,
            task_train,
            recipe.config,
            teacher=tuned,
            threads=training_threads(),
        )
    load_s = time.perf_counter() - start
    small = compact(fine.model, fine.masks)
    rows = shape_report(task_classifier.fp32, small)
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nfine-pruned ({request.param}): per-layer shapes before -> after"
            )
            reporter.write_line(tabulate(rows, headers="keys"))
    int8 = quantize_dynamic(small, DynamicQuantConfig())
    yield Pruned(request.param, recipe, fine, small, int8, load_s, rows)


def _dev_eval(model: nn.Module, task_classifier, desc: str) -> EvalResult:
    """Task dev, batch 8, length 128 (the protocol of the conftest fp32 figure), every core."""
    with pinned_threads(training_threads()):
        return evaluate_classifier(model, task_classifier.dev.batches(8), desc=desc)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_fine_pruned(
    benchmark, record_case, min_speedup: float, profile: Profile, precision, pruned, task_classifier
) -> None:
    """Compacted (and int8) fine-pruned MiniLM: logits, parameters, F1 drop, speedup."""
    fine, small = pruned.fine, pruned.small
    model = small if precision == "fp32" else pruned.small_int8
    dev_batches = task_classifier.dev.batches(8)
    timed = {k: v for k, v in dev_batches[0].items() if k != "labels"}
    # compacted == masked: same function, fewer weights
    diffs = []
    with Gates(fine.model, fine.masks), torch.inference_mode():
        for batch in dev_batches[:4]:
            diff = logits_of(fine.model, batch) - logits_of(small, batch)
            diffs.append(float(diff.abs().max()))
    params_before = count_parameters(task_classifier.fp32)
    params_after = count_parameters(small)
    expected = expected_parameters(fine.model, fine.masks)
    result = _dev_eval(model, task_classifier, f"{task_classifier.task} dev pruned {precision}")
    base = task_classifier.fp32_dev
    drop = 100 * (base.metrics["f1"] - result.metrics["f1"])
    target = TARGET_SPEEDUP[precision]
    if precision == "int8":
        target = max(target, TARGET_SPEEDUP["fp32"] * min_speedup)
    speed, speedup = measure_speedup(
        forward_fn(task_classifier.fp32, timed),
        forward_fn(model, timed),
        floor=target,
        rounds=profile.rounds(ROUNDS),
    )
    budget = pruned.recipe.f1_budget_pts
    drop_metric = quality_drop_metric(
        task_classifier.dev.labels.tolist(),
        base.predictions,
        result.predictions,
        f1_binary,
        budget_pts=budget,
    )
    with pinned_threads(1), torch.inference_mode():
        benchmark.pedantic(forward_fn(model, timed), rounds=profile.rounds(ROUNDS), warmup_rounds=3)
    kept = fine.masks.kept()
    benchmark.extra_info.update(
        {
            "model": fine.about,
            "data": task_classifier.data_about,
            "task": task_classifier.task,
            "split": f"{task_classifier.task} dev ({len(task_classifier.dev)} examples), batch 8, "
            "max length 128",
            "timed_input": "first dev batch: 8 pairs padded to 128 tokens",
            "threads": 1,
            "recipe": pruned.name,
            "start": pruned.recipe.start,
            "config": pruned.recipe.config.to_dict(),
            "precision": precision,
            "heads_kept": kept["heads"],
            "ffn_kept": kept["ffn"],
            "shapes": pruned.shapes,
            "params_before": params_before,
            "params_after": params_after,
            "params_ratio": params_before / params_after,
            "size_before_bytes": serialized_size(task_classifier.fp32),
            "size_after_bytes": serialized_size(model),
            "max_logit_diff_compact_vs_masked": max(diffs),
            "f1_unpruned": base.metrics["f1"],
            "f1": result.metrics["f1"],
            "accuracy_unpruned": base.metrics["accuracy"],
            "accuracy": result.metrics["accuracy"],
            "f1_drop_pts": drop,
            "dev_pass_unpruned_s": base.seconds,
            "dev_pass_s": result.seconds,
            "speedup": speed.ratio,
            "speedup_q1": speed.q1,
            "speedup_q3": speed.q3,
            "unpruned_median_s": speed.baseline.median,
            "pruned_median_s": speed.candidate.median,
            "fine_prune_s": pruned.fine.train_seconds,
            "fixture_s": pruned.load_s,
            "hyperparameters_chosen_on": "MRPC dev (no separate validation split)",
        }
    )
    assert max(diffs) <= LOGIT_ATOL, f"compacted logits differ from masked by {max(diffs):.2e}"
    assert params_after == expected, (params_after, expected)
    heads = sum(m.numel() for m in fine.masks.heads)
    assert sum(kept["heads"]) == heads - round(pruned.recipe.config.head_sparsity * heads), kept
    record_case(
        benchmark,
        {
            "speedup": speedup,
            "f1_drop_pts": drop_metric,
            "f1": Metric(result.metrics["f1"], "frac", "higher", 0.01),
            "params_ratio": Metric(params_before / params_after, "ratio", "higher", 0.01),
            "size_after_bytes": Metric(serialized_size(model), "bytes", "lower", 0.01, True),
            "max_logit_diff_compact_vs_masked": Metric(max(diffs), "abs", "report"),
        },
        config=pruned.recipe.config.to_dict(),
        model={"about": fine.about, "recipe": pruned.name, "precision": precision},
        data={"about": task_classifier.data_about, "split": f"{task_classifier.task} dev"},
    )
    check(f"F1 drop ({precision}, pts)", drop_metric)
    check(f"{precision} pruned speedup", speedup)


@pytest.fixture(scope="module")
def score_batches(task_train, task_classifier) -> list[dict[str, torch.Tensor]]:
    data = encode_pairs(task_classifier.tokenizer, task_train, 128)
    return data.bucketed(32, seed=0)[:ONE_SHOT_BATCHES]


def _gradient_scores(
    model: nn.Module, batches: list[dict[str, torch.Tensor]], score: str
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    masks = Masks.ones(model)
    acc = [torch.zeros_like(m) for m in masks.heads + masks.ffn]
    with pinned_threads(1), Gates(model, masks, track_grad=True) as gates:
        for batch in batches:
            model(**batch).loss.backward()
            for a, gate in zip(acc, gates.heads + gates.ffn, strict=True):
                a.add_(gate.grad.abs() if score == "taylor" else -gate.grad)
                gate.grad = None
    model.zero_grad(set_to_none=True)
    n = len(masks.heads)
    return acc[:n], acc[n:]


@pytest.mark.parametrize("score", ["magnitude", "movement", "taylor"])
def test_one_shot_scores(benchmark, score, task_classifier, score_batches) -> None:
    """Prune to CONFIG's sparsity in one shot (no fine-tuning); F1 on the task's dev per score."""
    import copy

    model = copy.deepcopy(task_classifier.fp32)
    scores = (
        magnitude_scores(model)
        if score == "magnitude"
        else _gradient_scores(model, score_batches, score)
    )
    masks = select_masks(*scores, CONFIG.head_sparsity, CONFIG.ffn_sparsity)
    small = compact(model, masks)
    kept = masks.kept()
    heads, neurons = (sum(m.numel() for m in ms) for ms in (masks.heads, masks.ffn))
    assert sum(kept["heads"]) == heads - round(CONFIG.head_sparsity * heads)
    assert sum(kept["ffn"]) == neurons - round(CONFIG.ffn_sparsity * neurons)
    result = _dev_eval(small, task_classifier, f"{task_classifier.task} dev one-shot {score}")
    timed = {k: v for k, v in task_classifier.dev.batches(8)[0].items() if k != "labels"}
    with pinned_threads(1), torch.inference_mode():
        benchmark.pedantic(forward_fn(small, timed), rounds=5, warmup_rounds=1)
    benchmark.extra_info.update(
        {
            "model": task_classifier.model_about,
            "data": task_classifier.data_about,
            "task": task_classifier.task,
            "score": score,
            "scored_on": f"{ONE_SHOT_BATCHES} train batches of 32"
            if score != "magnitude"
            else "weights",
            "head_sparsity": CONFIG.head_sparsity,
            "ffn_sparsity": CONFIG.ffn_sparsity,
            "heads_kept": kept["heads"],
            "ffn_kept": kept["ffn"],
            "f1_unpruned": task_classifier.fp32_dev.metrics["f1"],
            "f1": result.metrics["f1"],
            "accuracy": result.metrics["accuracy"],
        }
    )
