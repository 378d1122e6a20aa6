"""Every eager method on the same fine-tuned MRPC classifier, one case per method, one run.

Methods: every eager method of the registry this CPU can run (compress.methods.registry:
torch.ao dynamic on the default engine and packed for fbgemm and onednn, static and QAT; ONNX
Runtime fp32, dynamic and static QDQ; torchao's ``quantize_`` int8 configs in eager mode,
labelled ``-eager``, compiled as torchao means them to run in test_compiled.py; bf16 weights
and bf16 autocast, fp16 where the CPU has a native fp16 GEMM), with the registry's budgets and
claim: a speed claim is gated at its own floor on this CPU (fixtures.plugins.machine.floor_of),
a record is kept to compare. One row per method: the forward of one dev batch (8 pairs, 128
tokens) on one thread. Each case records F1 and accuracy on MRPC test (dev without the test
file) with the F1 drop against torch fp32 (paired CI), agreement and KL to fp32 over every
held-out pair, the paired, interleaved speedup over torch fp32 on that batch, and the
serialized size (fixtures.models.scenario). Run this file serially (never under xdist).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from compress.measure.meters import serialized_size
from compress.methods.build import Built, Context, build
from compress.methods.registry import METHODS, Claim, Method
from fixtures.models.scenario import Quality, Timing, measure
from fixtures.plugins.machine import fingerprint_of, unmet
from fixtures.recipes.profiles import Profile
from fixtures.recipes.qat_bert import BertQATRecipe, qat_classifier

pytestmark = pytest.mark.timed

BATCH = 8  # pairs per forward, as in test_quantize_dynamic.test_mrpc_quality
ROUNDS = 10  # paired timing rounds in the full profile (scaled by the profile)
MAX_SIZE_RATIO = 0.8  # serialized bytes vs torch fp32, for every method but the ORT fp32 peer
# every eager method of the registry (compiled rows: test_compiled.py; pruning: test_prune*)
EAGER = [m for m in METHODS if m.family in ("torch.ao", "onnxruntime", "torchao", "torch")]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The eager methods this CPU can run (an fp16 row needs avx512_fp16 or amx_fp16; the
    report header names the methods left out and why)."""
    if metafunc.function.__name__ == "test_mrpc_method":
        fp = fingerprint_of(metafunc.config)
        runnable = [m for m in EAGER if not unmet(m, fp)]
        metafunc.parametrize("method", runnable, ids=lambda m: m.name)


@pytest.fixture(scope="module")
def dev_batch(mrpc_classifier) -> dict[str, torch.Tensor]:
    """The batch every speedup is timed on: the first 8 dev pairs, padded to 128 tokens."""
    return {k: v for k, v in mrpc_classifier.dev.batches(BATCH)[0].items() if k != "labels"}


@pytest.fixture(scope="module")
def ort_dir(tmp_path_factory) -> Path:
    """Where the ONNX models of this module go (the fp32 export once, then each method's)."""
    return tmp_path_factory.mktemp("ort")


def _qat_trainer(request: pytest.FixtureRequest):
    """QAT of the MRPC classifier on MRPC train (cached by recipe hash), progress shown."""
    clf = request.getfixturevalue("mrpc_classifier")

    def train(config) -> tuple[torch.nn.Module, dict[str, object]]:
        qat = BertQATRecipe(qat=config, max_batches=request.getfixturevalue("profile").qat_batches)
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():  # show QAT's progress bar (minutes, once)
            model = qat_classifier(clf.source, request.getfixturevalue("mrpc_train"), qat)
        return model, {**config.to_dict(), "batch_size": qat.batch_size, "steps": qat.max_batches}

    return train


def _build(method: Method, request: pytest.FixtureRequest) -> Built:
    clf = request.getfixturevalue("mrpc_classifier")
    if method.name == "torch-dynamic":  # the session's int8 model, shared with other modules
        config = {"method": "dynamic", **clf.quant_config.to_dict()}
        return Built(clf.int8, serialized_size(clf.int8), config, 0.0, method.expect())
    needs = method.needs
    context = Context(
        example=request.getfixturevalue("dev_batch"),
        calibration=request.getfixturevalue("mrpc_calibration") if needs.calibration else (),
        workdir=request.getfixturevalue("ort_dir"),
        train=_qat_trainer(request) if needs.train else None,
    )
    return build(method, clf.fp32, context)


def _check_recorded_speed(method: Method, speedup: float) -> None:
    """An ungated speedup still has to be a sane measurement of a working model."""
    assert speedup > 0.5, f"{method.name} runs {1 / speedup:.1f}x slower than fp32"


def test_mrpc_method(
    benchmark,
    request,
    new_case,
    profile: Profile,
    method_floor,
    mrpc_classifier,
    dev_batch,
    method: Method,
) -> None:
    """The method's forward of one dev batch; gates F1 drop, speedup and size vs torch fp32."""
    clf = mrpc_classifier
    built = _build(method, request)
    case = new_case(
        config={"id": method.name, "backend": method.family, **built.config,
                "note": method.about},
        model={"about": clf.model_about},
        data=clf.data(max_length=int(dev_batch["input_ids"].shape[1]), batch=BATCH),
    )  # fmt: skip
    timing = Timing(dev_batch, profile.rounds(ROUNDS), method_floor(method), warmup=2)
    quality = Quality(clf, method.max_drop_pts, method.min_agreement)
    size_ratio = MAX_SIZE_RATIO if method.smaller else None
    measure(case, benchmark, built, clf.fp32, timing, quality=quality, max_size_ratio=size_ratio)
    if method.claim is Claim.RECORD:
        _check_recorded_speed(method, case.metrics["speedup"].value)
