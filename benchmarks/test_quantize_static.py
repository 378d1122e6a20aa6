"""Static int8 PTQ and QAT of a LeNet-style CNN on real 8x8 digits (scikit-learn load_digits).

One row per case: the int8 forward of 64 test images on one thread. Each row carries the
paired, interleaved fp32/int8 speedup on that batch, accuracy on the 450-image test split
before and after, and checkpoint sizes. Run this file serially (never under xdist).
"""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from compress.evaluate import evaluate_classifier, forward_fn
from compress.measure import paired_speedup, pinned_threads, serialized_size
from compress.qat import QATConfig, train_qat
from compress.quantize_static import StaticQuantConfig, quantize_static
from fixtures.digits import (
    FUSE,
    DigitsRecipe,
    DigitsSplit,
    batches,
)

pytestmark = pytest.mark.timed

RECIPE = DigitsRecipe()  # digits_cnn (conftest): conv 32/64, fc 256; ~98.7% fp32 accuracy
BATCH = 64  # images per timed forward
ROUNDS = 30
MAX_DROP_PTS = 2.0  # accuracy points int8 may lose against fp32
MAX_SIZE_RATIO = 0.3  # int8 checkpoint bytes / fp32 checkpoint bytes
MIN_FP32_ACCURACY = 0.95  # the fp32 model must have learned the task for the drop to mean much

CASES: list[StaticQuantConfig | QATConfig] = [
    *(
        StaticQuantConfig(observer=observer, per_channel_weights=per_channel)
        for observer in ("minmax", "histogram")
        for per_channel in (True, False)
    ),
    QATConfig(epochs=3, lr=1e-4),  # fine-tunes the trained fp32 weights, so a small lr
]


def _case_id(config: StaticQuantConfig | QATConfig) -> str:
    return config.id if isinstance(config, QATConfig) else f"ptq-{config.id}"


@pytest.fixture(scope="module")
def fp32_accuracy(digits: DigitsSplit, digits_cnn: nn.Module) -> float:
    """fp32 test accuracy, computed once for every case."""
    test = batches(digits.x_test, digits.y_test, BATCH)
    return evaluate_classifier(digits_cnn, test, desc="digits fp32").metrics["accuracy"]


def _quantize(
    fp32: nn.Module, config: StaticQuantConfig | QATConfig, split: DigitsSplit
) -> nn.Module:
    train = batches(split.x_train, split.y_train, BATCH, shuffle=True, seed=0)
    if isinstance(config, QATConfig):
        return train_qat(fp32, train, config, FUSE)
    return quantize_static(fp32, train, config, FUSE)


@pytest.mark.parametrize("config", CASES, ids=_case_id)
def test_int8_cnn(
    benchmark,
    min_speedup: float,
    config: StaticQuantConfig | QATConfig,
    digits: DigitsSplit,
    digits_cnn: nn.Module,
    fp32_accuracy: float,
) -> None:
    """Int8 forward latency at batch 64; asserts accuracy drop, size ratio and speedup."""
    start = time.perf_counter()
    int8 = _quantize(digits_cnn, config, digits)
    quantize_s = time.perf_counter() - start
    test = batches(digits.x_test, digits.y_test, BATCH)
    acc32 = fp32_accuracy
    acc8 = evaluate_classifier(int8, test, desc="digits int8").metrics["accuracy"]
    batch = {"x": digits.x_test[:BATCH]}
    speed = paired_speedup(
        forward_fn(digits_cnn, batch), forward_fn(int8, batch), rounds=ROUNDS, warmup=3, threads=1
    )
    with pinned_threads(1), torch.inference_mode():
        benchmark.pedantic(forward_fn(int8, batch), rounds=ROUNDS, warmup_rounds=3)
    size32, size8 = serialized_size(digits_cnn), serialized_size(int8)
    drop = 100 * (acc32 - acc8)
    benchmark.extra_info.update(
        {
            "model": RECIPE.describe(),
            "data": digits.source,
            "split": f"test ({len(digits.y_test)} images)",
            "batch": BATCH,
            "threads": 1,
            "config": config.to_dict(),
            "accuracy_fp32": acc32,
            "accuracy_int8": acc8,
            "accuracy_drop_pts": drop,
            "speedup": speed.ratio,
            "speedup_q1": speed.q1,
            "speedup_q3": speed.q3,
            "fp32_median_s": speed.baseline.median,
            "int8_median_s": speed.candidate.median,
            "size_fp32_bytes": size32,
            "size_int8_bytes": size8,
            "size_ratio": size8 / size32,
            "quantize_s": quantize_s,
        }
    )
    assert acc32 >= MIN_FP32_ACCURACY, f"fp32 digits CNN reached only {acc32:.4f}"
    assert drop <= MAX_DROP_PTS, f"accuracy drop {drop:.2f} pt > {MAX_DROP_PTS} pt"
    assert size8 <= MAX_SIZE_RATIO * size32, f"int8 {size8} B vs fp32 {size32} B"
    assert speed.ratio >= min_speedup, (
        f"int8 speedup {speed.ratio:.2f}x (IQR {speed.q1:.2f}-{speed.q3:.2f}) "
        f"< {min_speedup}x at batch {BATCH}"
    )
