"""Your model, your data: cases generated from a suite file (compress.methods.suite, docs/suite.md).

``pytest benchmarks --suite FILE`` runs one case per declared (model, method, batch size) and
nothing else; without ``--suite`` this module runs ``benchmarks/suites/mrpc.toml``: the MRPC
classifier the suite fine-tunes, exported to a directory as a user's model would be, beside
the built-in MRPC cases of the same run.

Each case: the method's model (compress.methods) timed on the first ``batch`` rows of the
evaluation file, padded to the model's max length, as the benchmark row; the paired,
interleaved speedup over eager fp32 with its CI (one thread; compiled variants too: the
reference is the model as the user runs it now) gated at the model's ``min_speedup`` or the
CPU's int8 floor; p50/p90/p99 latency of both; the serialized size. At the smallest batch
size it also scores the model on the whole evaluation file (the declared metric's drop with
its paired CI, accuracy's drop, agreement and KL to fp32; a regression head's correlation
drop, agreement within the tolerance and mean absolute difference; gated at the budgets) and, for
eager torch models, the peak memory of a fresh process serving it (recorded).
Run this file serially (never under xdist).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from compress.measure.memory import peak_memory
from compress.methods.build import Built, Context, build
from compress.methods.registry import get
from compress.methods.suite import DeclaredModel, Suite, load_suite
from compress.quantize.compiled import CompileError, ToolchainMissing
from fixtures.models.scenario import Quality, Timing, measure
from fixtures.models.task import TaskClassifier
from fixtures.plugins.settings import settings_of
from fixtures.recipes.declared import (
    calibration_batches,
    check_suite,
    declared_classifier,
    export_classifier,
    trainer,
)
from fixtures.recipes.profiles import Profile

pytestmark = pytest.mark.timed

BUILTIN = Path(__file__).parent / "suites" / "mrpc.toml"
MRPC_MODEL = "COMPRESS_BENCH_MRPC_MODEL"  # the built-in suite's model directory
ROUNDS = 30  # paired rounds at batch 1 in the full profile (scaled by the batch and profile)
MAX_SIZE_RATIO = 0.8  # int8 checkpoints vs fp32
MEMORY_FORWARDS = 5
TAILS = (90, 99)  # latency percentiles per arm (the median is speedup_{baseline,candidate}_s)


def _suite_file(config: pytest.Config) -> Path:
    return Path(settings_of(config).suite or BUILTIN)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per declared (model, method, batch size); paths are resolved at run time."""
    if metafunc.function.__name__ == "test_declared":
        suite = load_suite(_suite_file(metafunc.config), strict=False)
        params = [
            pytest.param(m.name, method, b, id=f"{m.name}-{method}-bs{b}")
            for m in suite.models
            for method in m.methods
            for b in m.batch_sizes
        ]
        metafunc.parametrize(("model_name", "method", "batch"), params)


@pytest.fixture(scope="session")
def declared_suite(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Suite]:
    """--suite's file; without it, the built-in MRPC file with the fine-tuned MRPC
    classifier exported to a directory (skips where MRPC cannot be loaded)."""
    settings = settings_of(request.config)
    if settings.suite:
        yield load_suite(settings.suite)  # checked before the run (conftest)
        return
    if not settings.glue_dir:
        pytest.skip("the built-in suite file reads MRPC from GLUE_DIR (or --glue-dir)")
    clf: TaskClassifier = request.getfixturevalue("mrpc_classifier")
    out = tmp_path_factory.mktemp("declared") / "mrpc-minilm"
    export_classifier(clf.fp32, clf.tokenizer, out)
    suite = load_suite(BUILTIN, {MRPC_MODEL: str(out), "GLUE_DIR": settings.glue_dir})
    check_suite(suite)
    yield suite


@dataclass
class Declared:
    """One declared model, loaded once; its methods built once (compiled: per batch size)."""

    suite: Suite
    spec: DeclaredModel
    clf: TaskClassifier
    calibration: list[dict[str, torch.Tensor]]
    workdir: Path
    built: dict[tuple[str, int], Built] = field(default_factory=dict)
    fp32_peak: int | None = None

    def inputs(self, batch: int) -> dict[str, torch.Tensor]:
        """The timed batch: the first ``batch`` evaluation rows, padded to the max length."""
        return {k: v for k, v in self.clf.eval.batches(batch)[0].items() if k != "labels"}

    def build(self, name: str, batch: int, profile: Profile) -> Built:
        method = get(name)
        key = (name, batch if method.compiled else 0)
        if key not in self.built:
            context = Context(
                example=self.inputs(batch),
                calibration=self.calibration,
                workdir=self.workdir,
                name=self.spec.name,
                train=trainer(self.suite, self.spec, self.clf, profile),
            )
            self.built[key] = build(method, self.clf.fp32, context)
        return self.built[key]


@pytest.fixture(scope="module")
def declared(declared_suite: Suite, tmp_path_factory) -> Iterator[dict[str, Declared]]:
    """Each declared model by name, loaded on first use."""

    class Models(dict):
        def __missing__(self, name: str) -> Declared:
            spec = declared_suite.model(name)
            clf = declared_classifier(declared_suite, spec)
            calibration = calibration_batches(declared_suite, spec, clf)
            workdir = tmp_path_factory.mktemp(name)
            self[name] = Declared(declared_suite, spec, clf, calibration, workdir)
            return self[name]

    yield Models()


def _memory(case, model: Declared, built: Built, method: str) -> None:
    """A fresh process's peak memory serving the model (eager torch models only)."""
    if not isinstance(built.model, torch.nn.Module) or get(method).compiled:
        return  # ONNX Runtime sessions and compiled graphs are not saved as torch modules
    inputs = model.inputs(1)
    if model.fp32_peak is None:
        fp32 = peak_memory(model.clf.fp32, inputs, forwards=MEMORY_FORWARDS, case="fp32")
        model.fp32_peak = fp32.peak_bytes
    peak = peak_memory(built.model, inputs, forwards=MEMORY_FORWARDS, case=method).peak_bytes
    case.report("process_peak_reference_bytes", model.fp32_peak, "bytes")
    case.report("process_peak_bytes", peak, "bytes")
    case.report("process_peak_ratio", peak / model.fp32_peak, "ratio")


def test_declared(
    benchmark,
    new_case,
    profile: Profile,
    min_speedup: float,
    declared: dict[str, Declared],
    model_name: str,
    method: str,
    batch: int,
) -> None:
    """One method on one declared model at one batch size, against eager fp32."""
    model = declared[model_name]
    try:
        built = model.build(method, batch, profile)
    except (CompileError, ToolchainMissing) as err:
        pytest.skip(str(err))
    inputs = model.inputs(batch)
    case = new_case(
        config={"id": method, "declared": model.spec.name, **built.config},
        model={"about": model.clf.model_about, "name": model.spec.name},
        data=model.clf.data(max_length=int(inputs["input_ids"].shape[1]), batch=batch),
    )
    budgets = model.spec.budgets
    # scored (and its memory probed) at the smallest batch only; built for this case: at
    # that batch, or per batch where compiled (fine-pruned: training time, or the cache's load)
    first = batch == model.spec.batch_sizes[0]
    if first:
        _memory(case, model, built, method)
    quality = Quality(model.clf, budgets.quality_drop_pts, budgets.min_agreement,
                      budgets.agreement_tolerance)  # fmt: skip
    timing = Timing(inputs, profile.rounds(max(6, ROUNDS // batch)),
                    budgets.min_speedup or min_speedup, tails=TAILS)  # fmt: skip
    measure(case, benchmark, built, model.clf.fp32, timing, quality=quality if first else None,
            max_size_ratio=MAX_SIZE_RATIO, build_s=first or get(method).compiled)  # fmt: skip
