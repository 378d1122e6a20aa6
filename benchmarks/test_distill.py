"""Knowledge distillation: students trained with CE only vs + each KD loss vs all combined.

Two cases, each over several seeds (mean ± std, because single distillation runs are noisy):

- digits: the PyTorch KD tutorial's DeepNN teacher / LightNN student on 8x8 digits;
- mrpc: a 3-layer BERT student initialised from layers 0, 2, 4 of the fine-tuned 6-layer
  MiniLM teacher (the session fixture ``mrpc_classifier``), distilled on MRPC train, scored
  on MRPC test (dev when the test file is absent); mix ``soft-target+aug`` distils on MRPC
  train plus 4 augmented copies labelled by the teacher (TinyBERT-style,
  ``fixtures.recipes.distill.MRPC_AUGMENTED``).

Cases (compress.verdict.case): ``test_kd_quality[<case>-<mix>]`` times the seed-0 student's whole
eval pass and records every seed's quality, fp32 and with dynamic int8 on top: seed means with
their t-intervals (``compress.core.stats.seed_summary``), gated where the suite has a bar (int8
costs the student <= 2 pt; a mix trails CE-only by <= 3 pt; the issue's target, the int8
student <= 2 pt below the fp32 teacher, for the mixes that meet it; each pt figure's CI comes
from the per-seed differences). ``test_kd_speed[<case>-fp32|int8]`` times the student's
forward and gates its paired speedup vs the fp32 teacher and its size.

Which mixes run: ``COMPRESS_BENCH_KD_GRID=ci`` (default: every mix for digits; CE-only,
soft-target and all combined for MRPC) or ``full`` (every mix for both; the augmented MRPC
mix alone takes ~18 min on 2 cores cold, so CI leaves it out);
seeds per mix come from the --profile (``fixtures.recipes.profiles``). Students are cached by recipe
hash. Run serially.
"""

from __future__ import annotations

import functools
import statistics
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from compress.core.stats import seed_summary
from compress.measure.kernels import Expect
from compress.measure.meters import (
    count_parameters,
    pinned_threads,
    serialized_size,
    training_threads,
)
from compress.quantize.dynamic import DynamicQuantConfig, quantize_dynamic
from compress.train.evaluate import EvalResult, evaluate_classifier, forward_fn
from compress.verdict.case import FRACTION_TOLERANCE, Case
from compress.verdict.gates import QUALITY_TOLERANCE_PTS
from compress.verdict.results import Direction, Metric
from compress.verdict.runner import run_compression
from fixtures.plugins.settings import settings_of
from fixtures.recipes.digits import DigitsSplit, batches
from fixtures.recipes.distill import (
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
from fixtures.recipes.profiles import Profile

pytestmark = pytest.mark.timed

CI_MRPC = ("ce-only", "soft-target", "all")
MIXES = {  # by grid (the run's settings: COMPRESS_BENCH_KD_GRID)
    "ci": {"digits": tuple(DIGITS_MIXES), "mrpc": CI_MRPC},
    "full": {"digits": tuple(DIGITS_MIXES), "mrpc": tuple(MRPC_MIXES)},
}
METRIC = {"digits": "accuracy", "mrpc": "f1"}
INT8 = DynamicQuantConfig()  # every nn.Linear (the CNNs' convolutions stay fp32)
MAX_INT8_DROP_PTS = 2.0  # int8 vs fp32 student (gated); vs the fp32 teacher: see below
# The target (int8 student <= 2 pt below the fp32 teacher), gated for the recipe
# that meets it; the other mixes miss it and are reported (figures: docs/findings.md).
TARGET_MIXES = {"mrpc": ("soft-target+aug",), "digits": ()}
NON_INFERIORITY_PTS = 3.0  # guard against a broken loss: a mix may trail CE-only by this much
# The student's own architecture floor (fp32 vs the fp32 teacher); int8 on top must multiply
# it by the run's int8 floor (--min-speedup, relative to the CPU by default).
ARCH_SPEEDUP = {"mrpc": 1.8, "digits": 1.3}
MAX_SIZE_RATIO = 1.0  # the student's checkpoint may not outweigh its teacher's


@dataclass(eq=False)
class KDCase:
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
    split: str = "test"  # where the quality figures come from

    @functools.cache  # noqa: B019 - one KDCase per module, lives as long as the module
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


def _seed_mean(run: Case, name: str, values: list[float], seeds: tuple[int, ...] = ()) -> float:
    """``<name>_mean`` (a fraction; its t-interval over seeds, None for one seed), the sample
    std as a report and each of ``seeds``' values as reports; returns the mean."""
    mean, std, ci = seed_summary(values)
    run.add(f"{name}_mean", Metric(mean, "frac", "higher", FRACTION_TOLERANCE, ci=ci))
    run.report(f"{name}_std", std, "frac")
    for seed, value in zip(seeds, values, strict=False):
        run.report(f"{name}_seed{seed}", value, "frac")
    return mean


def _seed_pts(
    run: Case, name: str, diffs: list[float], direction: Direction, budget: float | None
) -> float:
    """A difference in points, mean over seeds with the t-interval of the per-seed differences
    (same seed, same evaluation examples), gated at ``budget`` if given; returns the mean."""
    mean, _, ci = seed_summary([100 * d for d in diffs])
    metric = Metric(mean, "pts", direction, QUALITY_TOLERANCE_PTS, budget=budget, ci=ci)
    run.add(name, metric)
    return mean


@pytest.fixture(scope="module")
def digits_case(digits: DigitsSplit, profile: Profile) -> KDCase:
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
    return KDCase(
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
def mrpc_case(pytestconfig: pytest.Config, profile: Profile, mrpc_classifier, mrpc_train) -> KDCase:
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

    positives, total = int(clf.eval.labels.sum()), len(clf.eval)
    return KDCase(
        "mrpc",
        clf.fp32,
        clf.fp32_eval,
        student,
        clf.eval.scoring(),  # the verdict split (MRPC test), length-sorted, trimmed
        {k: v for k, v in clf.dev.batches(8)[0].items() if k != "labels"},  # 8 x 128 tokens
        f"teacher: {clf.model_about}; student: {setup.describe()}",
        f"{clf.data_about}; student batches: length-bucketed, 32 pairs, max length 128",
        max(positives, total - positives) / total,
        tuple(range(profile.kd_seeds["mrpc"])),
        clf.eval_split,
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The quality rows: every mix of the run's grid, for both cases."""
    if metafunc.function.__name__ == "test_kd_quality":
        mixes = MIXES[settings_of(metafunc.config).kd_grid]
        params = [pytest.param(c, m, id=f"{c}-{m}") for c in ("digits", "mrpc") for m in mixes[c]]
        metafunc.parametrize(("case", "mix"), params, indirect=["case"])


@pytest.fixture
def case(request: pytest.FixtureRequest) -> KDCase:
    return request.getfixturevalue(f"{request.param}_case")


def _open_quality(new_case, case: KDCase, mix: str, grid: str) -> Case:
    augment = MRPC_AUGMENTED.get(mix) if case.name == "mrpc" else None
    config = {**mix_config(case.name, mix, case.seeds[0]).to_dict(), "seed": list(case.seeds)}
    if augment:
        config["augment"] = {**augment.to_dict(), "candidates": NEIGHBOURS_FROM}
    data = case.data_about + (f"; + {augment.copies} augmented copies" if augment else "")
    examples = sum(len(b["labels"]) for b in case.eval_batches)
    return new_case(
        config={**config, "mix": mix, "grid": grid},
        model={"about": case.model_about},
        data={"about": data, "split": case.split, "examples": examples},
    )


def _record_quality(run: Case, case: KDCase, mix: str, scores: dict) -> dict[str, float]:
    """Seed means (with t-intervals) and the gated differences in points; returns the means."""
    metric, fp32, int8 = METRIC[case.name], scores["fp32"], scores["int8"]
    teacher = case.teacher_eval.metrics[metric]
    run.metric(f"{metric}_teacher", teacher, "frac", "higher", FRACTION_TOLERANCE)
    means = {
        "fp32": _seed_mean(run, metric, fp32, case.seeds),
        "int8": _seed_mean(run, f"{metric}_int8", int8, case.seeds),
    }
    means["accuracy"] = (
        _seed_mean(run, "accuracy", scores["accuracy"]) if metric != "accuracy" else means["fp32"]
    )
    run.report("majority_class_accuracy", case.majority, "frac")
    cost = [a - b for a, b in zip(fp32, int8, strict=True)]  # int8 vs the same fp32 student
    _seed_pts(run, "int8_drop_pts", cost, "lower", MAX_INT8_DROP_PTS)
    below = [teacher - v for v in int8]
    target = MAX_INT8_DROP_PTS if mix in TARGET_MIXES[case.name] else None  # else: a warning
    means["drop8"] = _seed_pts(run, "int8_drop_vs_teacher_pts", below, "lower", target)
    if mix != "ce-only":
        ce = case.scores("ce-only")["fp32"]
        gain = [a - c for a, c in zip(fp32, ce, strict=True)]  # seed i vs CE-only seed i
        _seed_pts(run, "gain_vs_ce_only_pts", gain, "higher", -NON_INFERIORITY_PTS)
        means["ce_only"] = statistics.mean(ce)
    return means


def test_kd_quality(benchmark, new_case, settings, case: KDCase, mix: str) -> None:
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
    run = _open_quality(new_case, case, mix, settings.kd_grid)
    means = _record_quality(run, case, mix, scores)
    run.finish(benchmark.extra_info)
    acc = means["accuracy"]
    assert acc > case.majority + 0.02, f"student accuracy {acc:.4f} ~ majority {case.majority}"
    if means["drop8"] > MAX_INT8_DROP_PTS:  # the target, reported for the other mixes
        warnings.warn(
            f"{case.name} {mix}: int8 student {metric} {means['int8']:.4f} is "
            f"{means['drop8']:.2f} pt below the fp32 teacher's "
            f"{case.teacher_eval.metrics[metric]:.4f} (target <= {MAX_INT8_DROP_PTS} pt)",
            stacklevel=1,
        )
    if "ce_only" in means and means["fp32"] <= means["ce_only"]:  # distillation did not help
        warnings.warn(
            f"{case.name} {mix}: distilled {metric} {means['fp32']:.4f} does not beat CE-only "
            f"{means['ce_only']:.4f} over seeds {list(case.seeds)}",
            stacklevel=1,
        )


def _speed_params() -> list:
    return [pytest.param(c, p, id=f"{c}-{p}") for c in ("digits", "mrpc") for p in ("fp32", "int8")]


@pytest.mark.parametrize(("case", "precision"), _speed_params(), indirect=["case"])
def test_kd_speed(
    benchmark, new_case, min_speedup: float, profile: Profile, case: KDCase, precision: str
) -> None:
    """Student forward (seed 0 of the all-combined mix) on one thread vs the fp32 teacher."""
    student = case.student("all", case.seeds[0])
    model = quantize_dynamic(student, INT8) if precision == "int8" else student
    batch = case.speed_batch
    config = {"student": mix_config(case.name, "all", case.seeds[0]).to_dict()}
    run = new_case(
        config={**config, "quant": INT8.to_dict()} if precision == "int8" else config,
        model={"about": case.model_about, "precision": precision},
        data={
            "about": case.data_about,
            "batch_shape": {k: list(v.shape) for k, v in batch.items()},
        },
    )
    run.report("params_teacher", count_parameters(case.teacher), "count")
    run.report("params_student", count_parameters(model), "count")
    run_compression(
        run,
        benchmark,
        reference=forward_fn(case.teacher, batch),
        compressed=forward_fn(model, batch),
        rounds=profile.rounds(20),
        floor=ARCH_SPEEDUP[case.name] * (min_speedup if precision == "int8" else 1.0),
        size_bytes=(serialized_size(case.teacher), serialized_size(model)),
        max_size_ratio=MAX_SIZE_RATIO,
        expect=Expect(precision),
    )


# The losses each mix's name promises (compress.distill.kd.LOSSES with a weight above zero).
MIX_LOSSES = {
    "ce-only": {"ce"},
    "soft-target": {"ce", "kd"},
    "soft-target+aug": {"ce", "kd"},
    "cosine": {"ce", "cos"},
    "mse-regressor": {"ce", "mse"},
    "all": {"ce", "kd", "cos", "mse"},
}


def test_mix_table_is_consistent() -> None:
    """Every mix the benchmarks name builds a valid config that trains the losses its name
    says, under the seed it is asked for (cheap guard for edits)."""
    for name, mixes in (("digits", DIGITS_MIXES), ("mrpc", MRPC_MIXES)):
        for mix in mixes:
            config = mix_config(name, mix, 3)  # DistillConfig validates weights and layer map
            used = {loss for loss, weight in config.weights.items() if weight > 0}
            assert used == MIX_LOSSES[mix], (name, mix, config.weights)
            assert config.seed == 3, (name, mix)
    assert set(CI_MRPC) <= set(MRPC_MIXES) and set(MRPC_AUGMENTED) <= set(MRPC_MIXES)
    assert all(
        set(TARGET_MIXES[c]) <= set(m) for c, m in (("digits", DIGITS_MIXES), ("mrpc", MRPC_MIXES))
    )
