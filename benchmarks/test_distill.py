"""Knowledge distillation: students trained with CE only vs + each KD loss vs all combined.

Two cases, each over several seeds (mean ± std, because single distillation runs are noisy):

- digits: the PyTorch KD tutorial's DeepNN teacher / LightNN student on 8x8 digits;
- mrpc: a 3-layer BERT student initialised from layers 0, 2, 4 of the fine-tuned 6-layer
  MiniLM teacher (the session fixture ``mrpc_classifier``), distilled on MRPC train, scored
  on MRPC dev; mix ``soft-target+aug`` distils on MRPC train plus 4 augmented copies
  labelled by the teacher (TinyBERT-style, ``fixtures.distill.MRPC_AUGMENTED``).

Rows: ``test_kd_quality[<case>-<mix>]`` times the seed-0 student's whole eval pass and
carries every seed's quality, fp32 and with dynamic int8 on top; ``test_kd_speed[<case>-
fp32|int8]`` times the student's forward and asserts its paired speedup vs the fp32 teacher.

Which mixes run: ``COMPRESS_BENCH_KD_GRID=ci`` (default: every mix for digits; CE-only,
soft-target and all combined for MRPC) or ``full`` (every mix for both; the augmented MRPC
mix alone takes ~18 min on 2 cores cold, so CI leaves it out);
seeds per mix come from the --profile (``fixtures.profiles``). Students are cached by recipe
hash. Run serially.
"""

from __future__ import annotations

import functools
import os
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from compress.distill import DistillConfig
from compress.evaluate import EvalResult, evaluate_classifier, forward_fn
from compress.measure import (
    count_parameters,
    paired_speedup,
    pinned_threads,
    serialized_size,
    training_threads,
)
from compress.quantize import DynamicQuantConfig, quantize_dynamic
from compress.stats import seed_summary
from fixtures.digits import DigitsSplit, batches
from fixtures.distill import (
    DIGITS_MIXES,
    MRPC_AUGMENTED,
    MRPC_MIXES,
    NEIGHBOURS_FROM,
    CNNRecipe,
    MrpcDistillation,
    StudentCNN,
    TeacherCNN,
    digits_teacher,
    distilled_digits_student,
    mix_config,
)
from fixtures.profiles import Profile

pytestmark = pytest.mark.timed

GRID = os.environ.get("COMPRESS_BENCH_KD_GRID", "ci")
if GRID not in ("ci", "full"):
    raise pytest.UsageError("COMPRESS_BENCH_KD_GRID must be 'ci' or 'full'")
CI_MRPC = ("ce-only", "soft-target", "all")
MIXES = {
    "digits": tuple(DIGITS_MIXES),
    "mrpc": tuple(MRPC_MIXES) if GRID == "full" else CI_MRPC,
}
METRIC = {"digits": "accuracy", "mrpc": "f1"}
INT8 = DynamicQuantConfig()  # every nn.Linear (the CNNs' convolutions stay fp32)
MAX_INT8_DROP_PTS = 2.0  # int8 vs fp32 student (asserted); vs the fp32 teacher: see below
# The target (int8 student <= 2 pt below the fp32 teacher), asserted for the recipe
# that meets it (measured: 1.4 pt); the other mixes miss it by 0.5-1.5 pt and are reported.
TARGET_MIXES = {"mrpc": ("soft-target+aug",), "digits": ()}
NON_INFERIORITY_PTS = 3.0  # guard against a broken loss: a mix may trail CE-only by this much
# The student's own architecture floor (fp32 vs the fp32 teacher); int8 on top must multiply
# it by the run's int8 floor (--min-speedup, relative to the CPU by default).
ARCH_SPEEDUP = {"mrpc": 1.8, "digits": 1.3}


@dataclass(eq=False)
class Case:
    """A teacher, how to get a student per (mix, seed), and the evaluation batches."""

    name: str
    teacher: nn.Module
    teacher_eval: EvalResult
    student: Callable[[str, int], nn.Module]  # (mix, seed) -> trained fp32 student (cached)
    eval_batches: list[dict[str, torch.Tensor]]
    speed_batch: dict[str, torch.Tensor]
    model_about: str
    data_about: str
    majority: float  # accuracy of always answering the most frequent class
    seeds: tuple[int, ...]  # students per mix (from the profile)

    @functools.cache  # noqa: B019 - one Case per module, lives as long as the module
    def scores(self, mix: str) -> dict[str, list[float]]:
        """Per seed: fp32 and int8 quality of the student trained with ``mix``."""
        metric = METRIC[self.name]
        fp32, int8, accuracy = [], [], []
        for seed in self.seeds:
            student = self.student(mix, seed)
            with pinned_threads(training_threads()):  # untimed quality passes
                res = evaluate_classifier(student, self.eval_batches, desc=f"{mix} s{seed}")
                fp32.append(res.metrics[metric])
                accuracy.append(res.metrics["accuracy"])
                q = quantize_dynamic(student, INT8)
                int8.append(evaluate_classifier(q, self.eval_batches, desc="int8").metrics[metric])
        return {"fp32": fp32, "int8": int8, "accuracy": accuracy}


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean, std, _ = seed_summary(values)  # sample std; 0.0 for a single seed
    return mean, std


@pytest.fixture(scope="module")
def digits_case(digits: DigitsSplit, profile: Profile) -> Case:
    split = digits  # the session fixture (seed-0 split, the one the students train on)
    teacher = digits_teacher()
    test = batches(split.x_test, split.y_test, 64)
    with pinned_threads(1):
        teacher_eval = evaluate_classifier(teacher, test, desc="digits teacher")

    @functools.cache
    def student(mix: str, seed: int) -> nn.Module:
        return distilled_digits_student(mix_config("digits", mix, seed))

    t, s = TeacherCNN(), StudentCNN()
    counts = sorted(torch.bincount(split.y_test).tolist())
    return Case(
        "digits",
        teacher,
        teacher_eval,
        student,
        test,
        {"x": split.x_test[:64]},
        f"teacher: KD tutorial DeepNN on 1x8x8 ({count_parameters(t):,} params, {CNNRecipe()}); "
        f"student: LightNN ({count_parameters(s):,} params), random init per seed",
        f"{split.source}; eval: test split ({len(split.y_test)} images)",
        counts[-1] / len(split.y_test),
        tuple(range(profile.kd_seeds["digits"])),
    )


@pytest.fixture(scope="module")
def mrpc_case(pytestconfig: pytest.Config, profile: Profile, mrpc_classifier, mrpc_train) -> Case:
    clf = mrpc_classifier
    threads = training_threads()
    # clf.source: the fine-tuned weights on disk (the teacher's cache fingerprint)
    setup = MrpcDistillation(clf.source, mrpc_train, teacher=clf.fp32, threads=threads)
    augmented = {  # teacher_layers=(): augmented mixes distil logits only
        mix: MrpcDistillation(
            clf.source, mrpc_train, teacher=clf.fp32, teacher_layers=(), augment=a, threads=threads
        )
        for mix, a in MRPC_AUGMENTED.items()
    }
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    @functools.cache
    def student(mix: str, seed: int) -> nn.Module:
        with capture.global_and_fixture_disabled():  # show training progress (minutes)
            return augmented.get(mix, setup).student(mix_config("mrpc", mix, seed))

    dev = clf.dev.batches(8, trim=True)  # students: padding cut per batch (same predictions)
    positives, total = int(clf.dev.labels.sum()), len(clf.dev)
    return Case(
        "mrpc",
        clf.fp32,
        clf.fp32_dev,
        student,
        dev,
        {k: v for k, v in clf.dev.batches(8)[0].items() if k != "labels"},  # 8 x 128 tokens
        f"teacher: {clf.model_about}; student: {setup.describe()}",
        f"{clf.data_about}; student batches: length-bucketed, 32 pairs, max length 128",
        max(positives, total - positives) / total,
        tuple(range(profile.kd_seeds["mrpc"])),
    )


def _quality_params() -> list:
    return [pytest.param(c, m, id=f"{c}-{m}") for c in ("digits", "mrpc") for m in MIXES[c]]


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Case:
    return request.getfixturevalue(f"{request.param}_case")


@pytest.mark.parametrize(("case", "mix"), _quality_params(), indirect=["case"])
def test_kd_quality(benchmark, case: Case, mix: str) -> None:
    """Quality over seeds (fp32 and int8) of one loss mix; the row times seed 0's eval pass."""
    metric = METRIC[case.name]
    scores = case.scores(mix)
    with pinned_threads(1):
        benchmark.pedantic(
            evaluate_classifier,
            args=(case.student(mix, case.seeds[0]), case.eval_batches),
            kwargs={"desc": f"{mix} timed", "progress": False},
            rounds=1,
            iterations=1,
        )
    mean, std = _mean_std(scores["fp32"])
    mean8, std8 = _mean_std(scores["int8"])
    ce_mean, ce_std = _mean_std(case.scores("ce-only")["fp32"])
    teacher_q = case.teacher_eval.metrics[metric]
    config = mix_config(case.name, mix, case.seeds[0])
    augment = MRPC_AUGMENTED.get(mix) if case.name == "mrpc" else None
    gain = 100 * (mean - ce_mean)
    drop8 = 100 * (teacher_q - mean8)
    benchmark.extra_info.update(
        {
            "case": case.name,
            "mix": mix,
            "config": {**config.to_dict(), "seed": list(case.seeds)},
            "grid": GRID,
            "model": case.model_about,
            "data": case.data_about + (f"; + {augment.copies} augmented copies" if augment else ""),
            "augment": {**augment.to_dict(), "candidates": NEIGHBOURS_FROM} if augment else None,
            "metric": metric,
            "threads_eval": 1,
            "seeds": list(case.seeds),
            f"{metric}_per_seed": scores["fp32"],
            f"{metric}_int8_per_seed": scores["int8"],
            f"{metric}_mean": mean,
            f"{metric}_std": std,
            f"{metric}_int8_mean": mean8,
            f"{metric}_int8_std": std8,
            f"{metric}_teacher": teacher_q,
            f"{metric}_ce_only_mean": ce_mean,
            f"{metric}_ce_only_std": ce_std,
            "gain_vs_ce_only_pts": gain,
            "beats_ce_only": bool(mean > ce_mean),
            "int8_drop_vs_teacher_pts": drop8,
            "accuracy_mean": statistics.mean(scores["accuracy"]),
            "majority_class_accuracy": case.majority,
        }
    )
    acc = statistics.mean(scores["accuracy"])
    assert acc > case.majority + 0.02, f"student accuracy {acc:.4f} ~ majority {case.majority}"
    assert 100 * (mean - mean8) <= MAX_INT8_DROP_PTS, f"int8 costs {100 * (mean - mean8):.2f} pt"
    assert mix not in TARGET_MIXES[case.name] or drop8 <= MAX_INT8_DROP_PTS, (
        f"int8 student {metric} {mean8:.4f} is {drop8:.2f} pt below the fp32 teacher's "
        f"{teacher_q:.4f} (target <= {MAX_INT8_DROP_PTS} pt)"
    )
    if drop8 > MAX_INT8_DROP_PTS:  # the target, reported for the other mixes
        warnings.warn(
            f"{case.name} {mix}: int8 student {metric} {mean8:.4f} is "
            f"{drop8:.2f} pt below the fp32 teacher's {teacher_q:.4f} "
            f"(target <= {MAX_INT8_DROP_PTS} pt)",
            stacklevel=1,
        )
    if mix == "ce-only":
        return
    if mean <= ce_mean:  # reported, not hidden: distillation did not help this mix
        warnings.warn(
            f"{case.name} {mix}: distilled {metric} {mean:.4f} ± {std:.4f} does not beat "
            f"CE-only {ce_mean:.4f} ± {ce_std:.4f} over seeds {list(case.seeds)}",
            stacklevel=1,
        )
    assert gain >= -NON_INFERIORITY_PTS, (
        f"{mix} {metric} {mean:.4f} trails CE-only {ce_mean:.4f} by {-gain:.2f} pt "
        f"(> {NON_INFERIORITY_PTS} pt)"
    )


def _speed_params() -> list:
    return [pytest.param(c, p, id=f"{c}-{p}") for c in ("digits", "mrpc") for p in ("fp32", "int8")]


@pytest.mark.parametrize(("case", "precision"), _speed_params(), indirect=["case"])
def test_kd_speed(
    benchmark, min_speedup: float, profile: Profile, case: Case, precision: str
) -> None:
    """Student forward (seed 0 of the all-combined mix) on one thread vs the fp32 teacher."""
    student = case.student("all", case.seeds[0])
    model = quantize_dynamic(student, INT8) if precision == "int8" else student
    batch = case.speed_batch
    rounds = profile.rounds(20)
    speed = paired_speedup(
        forward_fn(case.teacher, batch), forward_fn(model, batch), rounds=rounds, threads=1
    )
    with pinned_threads(1), torch.inference_mode():
        benchmark.pedantic(forward_fn(model, batch), rounds=rounds, warmup_rounds=3)
    sizes = {
        "size_teacher_bytes": serialized_size(case.teacher),
        "size_student_bytes": serialized_size(model),
        "params_teacher": count_parameters(case.teacher),
        "params_student": count_parameters(model),
    }
    benchmark.extra_info.update(
        {
            "case": case.name,
            "precision": precision,
            "model": case.model_about,
            "student_config": mix_config(case.name, "all", case.seeds[0]).to_dict(),
            "quant_config": INT8.to_dict() if precision == "int8" else None,
            "data": case.data_about,
            "batch_shape": {k: list(v.shape) for k, v in batch.items()},
            "threads": 1,
            "speedup_vs_teacher": speed.ratio,
            "speedup_q1": speed.q1,
            "speedup_q3": speed.q3,
            "teacher_median_s": speed.baseline.median,
            "student_median_s": speed.candidate.median,
            **sizes,
            "size_ratio": sizes["size_student_bytes"] / sizes["size_teacher_bytes"],
        }
    )
    floor = ARCH_SPEEDUP[case.name] * (min_speedup if precision == "int8" else 1.0)
    assert sizes["size_student_bytes"] < sizes["size_teacher_bytes"]
    assert speed.ratio >= floor, (
        f"{case.name} {precision} student speedup {speed.ratio:.2f}x "
        f"(IQR {speed.q1:.2f}-{speed.q3:.2f}) < {floor:.2f}x vs the fp32 teacher"
    )


def test_mix_table_is_consistent() -> None:
    """Every mix the benchmarks name builds a valid config (cheap guard for edits)."""
    for name, mixes in (("digits", DIGITS_MIXES), ("mrpc", MRPC_MIXES)):
        for mix in mixes:
            assert isinstance(mix_config(name, mix, 0), DistillConfig)
    assert set(CI_MRPC) <= set(MRPC_MIXES) and set(MRPC_AUGMENTED) <= set(MRPC_MIXES)
    assert all(
        set(TARGET_MIXES[c]) <= set(m) for c, m in (("digits", DIGITS_MIXES), ("mrpc", MRPC_MIXES))
    )
