"""Size, parameter and timing measurement."""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from torch import nn

from compress.measure.meters import (
    Timing,
    count_parameters,
    linear_weight_bytes,
    paired_speedup,
    pinned_threads,
    serialized_size,
    time_callable,
)
from compress.quantize.dynamic import quantize_dynamic


@pytest.fixture
def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 128))


def test_linear_bytes_fp32_and_int8(mlp: nn.Module) -> None:
    weights = 256 * 512 + 512 * 128
    assert linear_weight_bytes(mlp) == 4 * weights
    int8 = quantize_dynamic(mlp)
    assert linear_weight_bytes(int8) == weights + 2 * 16  # int8 values + scale + zero point
    assert 0.24 <= linear_weight_bytes(int8) / linear_weight_bytes(mlp) <= 0.27


def test_parameter_count_survives_quantization(mlp: nn.Module) -> None:
    expected = 256 * 512 + 512 + 512 * 128 + 128
    assert count_parameters(mlp) == expected
    assert count_parameters(quantize_dynamic(mlp)) == expected


def test_serialized_size_shrinks_about_fourfold(mlp: nn.Module) -> None:
    fp32, int8 = serialized_size(mlp), serialized_size(quantize_dynamic(mlp))
    assert fp32 > 4 * (256 * 512 + 512 * 128)
    assert 0.2 < int8 / fp32 < 0.3


def test_pinned_threads_restores() -> None:
    before = torch.get_num_threads()
    with pinned_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1"), pinned_threads(0):
        pass


def test_timing_summary() -> None:
    t = Timing.of([3.0, 1.0, 2.0, 4.0, 5.0])
    assert (t.median, t.min, t.rounds) == (3.0, 1.0, 5)
    assert t.q1 == 2.0 and t.q3 == 4.0
    with pytest.raises(ValueError, match="no timings"):
        Timing.of([])


def test_time_callable_counts_rounds() -> None:
    calls = []
    timing = time_callable(lambda: calls.append(1), warmup=2, rounds=5)
    assert timing.rounds == 5 and len(calls) == 7


def test_paired_speedup_sees_a_known_ratio() -> None:
    speed = paired_speedup(lambda: time.sleep(0.006), lambda: time.sleep(0.002), warmup=1, rounds=8)
    assert 2.0 < speed.ratio < 3.5
    assert speed.baseline.rounds == speed.candidate.rounds == 8
    assert len(speed.baseline_s) == len(speed.candidate_s) == 8  # every round kept, in order
    ratios = [a / b for a, b in zip(speed.baseline_s, speed.candidate_s, strict=True)]
    assert speed.ratio == pytest.approx(statistics.median(ratios))  # paired round by round
    assert speed.baseline.median == statistics.median(speed.baseline_s)


def test_percentiles_of_latencies() -> None:
    from compress.measure.meters import percentiles

    got = percentiles([float(i) for i in range(1, 101)])
    assert got == pytest.approx({"p50": 50.5, "p90": 90.1, "p99": 99.01})
    with pytest.raises(ValueError, match="at least one"):
        percentiles([])


def test_more_threads_than_cores_is_refused() -> None:
    from compress.measure.meters import available_cores, pinned_threads

    before = torch.get_num_threads()
    too_many = pinned_threads(available_cores() + 1)
    with pytest.raises(ValueError, match=f"exceeds the {available_cores()} cores"), too_many:
        pass
    assert torch.get_num_threads() == before


def test_replaced_weight_bytes_counts_lstm_and_linear_weights_only() -> None:
    from compress.measure.meters import expected_dynamic_int8_size, replaced_weight_bytes

    model = torch.nn.ModuleDict({"lstm": torch.nn.LSTM(4, 8), "out": torch.nn.Linear(8, 3)})
    lstm_weights = (4 * 32 + 8 * 32) * 4  # weight_ih (32x4) and weight_hh (32x8), fp32
    assert replaced_weight_bytes(model) == lstm_weights + 8 * 3 * 4
    assert expected_dynamic_int8_size(model) == serialized_size(model) - 0.75 * (lstm_weights + 96)
