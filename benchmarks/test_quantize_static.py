"""Static int8 PTQ and QAT of a LeNet-style CNN on real 8x8 digits (scikit-learn load_digits).

One row per case: the int8 forward of 64 test images on one thread. Each case records the
paired, interleaved fp32/int8 speedup on that batch, accuracy on the 450-image test split
before and after with the drop's paired CI, and checkpoint sizes (compress.verdict.case). Run this
file serially (never under xdist).
"""

from __future__ import annotations

import time

import pytest
from torch import nn

from compress.core.stats import accuracy
from compress.measure.kernels import Expect
from compress.measure.meters import serialized_size
from compress.quantize.qat import QATConfig, train_qat
from compress.quantize.static import StaticQuantConfig, quantize_static
from compress.train.evaluate import EvalResult, evaluate_classifier, forward_fn
from compress.verdict.runner import Scored, run_compression
from fixtures.recipes.digits import (
    FUSE,
    DigitsRecipe,
    DigitsSplit,
    batches,
)

pytestmark = pytest.mark.timed

RECIPE = DigitsRecipe()  # digits_cnn (conftest): conv 32/64, fc 256
BATCH = 64  # images per timed forward
ROUNDS = 30
MAX_DROP_PTS = 2.0  # accuracy points int8 may lose against fp32
MAX_SIZE_RATIO = 0.3  # int8 checkpoint bytes / fp32 checkpoint bytes
MIN_FP32_ACCURACY = 0.95  # the fp32 model must have learned the task for the drop to mean much

CASES: list[StaticQuantConfig | QATConfig] = [
    *(
        StaticQuantConfig(observer=observer, per_channel_weights=per_channel, fuse=FUSE)
        for observer in ("minmax", "histogram")
        for per_channel in (True, False)
    ),
    QATConfig(epochs=3, lr=1e-4, fuse=FUSE),  # fine-tunes the trained fp32 weights, so a small lr
]


def _case_id(config: StaticQuantConfig | QATConfig) -> str:
    return config.id if isinstance(config, QATConfig) else f"ptq-{config.id}"


@pytest.fixture(scope="module")
def fp32_eval(digits: DigitsSplit, digits_cnn: nn.Module) -> EvalResult:
    """fp32 test accuracy and predictions, computed once for every case."""
    test = batches(digits.x_test, digits.y_test, BATCH)
    return evaluate_classifier(digits_cnn, test, desc="digits fp32")


def _quantize(
    fp32: nn.Module, config: StaticQuantConfig | QATConfig, split: DigitsSplit
) -> nn.Module:
    train = batches(split.x_train, split.y_train, BATCH, shuffle=True, seed=0)
    if isinstance(config, QATConfig):
        return train_qat(fp32, config, batches=train)
    return quantize_static(fp32, config, calibration=train)


@pytest.mark.parametrize("config", CASES, ids=_case_id)
def test_int8_cnn(
    benchmark,
    new_case,
    min_speedup: float,
    config: StaticQuantConfig | QATConfig,
    digits: DigitsSplit,
    digits_cnn: nn.Module,
    fp32_eval: EvalResult,
) -> None:
    """Int8 forward latency at batch 64; gates accuracy drop, size ratio and speedup."""
    start = time.perf_counter()
    int8 = _quantize(digits_cnn, config, digits)
    quantize_s = time.perf_counter() - start
    test = batches(digits.x_test, digits.y_test, BATCH)
    int8_eval = evaluate_classifier(int8, test, desc="digits int8")
    case = new_case(
        config=config.to_dict(),
        model={"about": RECIPE.describe()},
        data={"about": digits.source, "split": "test", "examples": len(digits.y_test)},
    )
    case.report("quantize_s", quantize_s, "s")
    assert fp32_eval.logits is not None and int8_eval.logits is not None
    case.fidelity(fp32_eval.logits, int8_eval.logits, inputs="digits test (450 images)")
    batch = {"x": digits.x_test[:BATCH]}
    run_compression(
        case,
        benchmark,
        reference=forward_fn(digits_cnn, batch),
        compressed=forward_fn(int8, batch),
        rounds=ROUNDS,
        floor=min_speedup,
        scored=Scored(
            digits.y_test.tolist(),
            fp32_eval.predictions,
            int8_eval.predictions,
            accuracy,
            name="accuracy_drop_pts",
            budget_pts=MAX_DROP_PTS,
        ),
        size_bytes=(serialized_size(digits_cnn), serialized_size(int8)),
        max_size_ratio=MAX_SIZE_RATIO,
        expect=Expect("int8"),
    )
    acc32 = fp32_eval.metrics["accuracy"]
    assert acc32 >= MIN_FP32_ACCURACY, f"fp32 digits CNN reached only {acc32:.4f}"
