"""Size and latency measurement: serialized bytes, Linear weight bytes, parameters, timings."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from compress.core.torch_ao import nnqd


def serialized_size(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: what a checkpoint costs on disk."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _qtensor_bytes(weight: torch.Tensor) -> int:
    """Bytes of a quantized tensor's integers plus its scales and zero points."""
    data = weight.numel() * weight.element_size()
    if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        scales, zeros = weight.q_per_channel_scales(), weight.q_per_channel_zero_points()
        return data + scales.numel() * scales.element_size() + zeros.numel() * zeros.element_size()
    return data + 8 + 8  # one float64 scale and one int64 zero point


def linear_weight_bytes(model: nn.Module) -> int:
    """Bytes held by the weight matrices of every Linear (fp32, fp16 or packed int8 + scales)."""
    total = 0
    for module in model.modules():
        if isinstance(module, nnqd.Linear):
            weight = module.weight()
            total += (
                _qtensor_bytes(weight)
                if weight.is_quantized
                else (weight.numel() * weight.element_size())
            )
        elif isinstance(module, nn.Linear):
            total += module.weight.numel() * module.weight.element_size()
    return total


def replaced_weight_bytes(model: nn.Module) -> int:
    """fp32 bytes of the weight matrices dynamic int8 replaces: every LSTM ``weight_*`` and
    every Linear weight (biases stay fp32)."""
    total = 0
    for module in model.modules():
        if isinstance(module, nn.LSTM):
            names = [n for n, _ in module.named_parameters() if n.startswith("weight_")]
            total += sum(getattr(module, n).numel() * 4 for n in names)
        elif isinstance(module, nn.Linear):
            total += module.weight.numel() * 4
    return total


def expected_dynamic_int8_size(fp32: nn.Module) -> float:
    """The fp32 checkpoint's size minus 3/4 of the replaced weights (int8 is 1/4 of fp32):
    what dynamic int8 of every LSTM and Linear should weigh, scales aside."""
    return serialized_size(fp32) - 0.75 * replaced_weight_bytes(fp32)


def count_parameters(model: nn.Module) -> int:
    """Number of weights, counting packed int8 Linear weights as parameters too."""
    total = sum(p.numel() for p in model.parameters())
    for module in model.modules():
        if isinstance(module, nnqd.Linear):
            weight, bias = module._weight_bias()
            total += weight.numel() + (bias.numel() if bias is not None else 0)
    return total


TIMING_THREADS = 1  # every timed case: the reference's single-thread latency, no shared core


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def training_threads() -> int:
    """Threads for training and untimed quality passes: every core. Timed work pins
    TIMING_THREADS; a quality figure does not depend on the thread count beyond float
    rounding, and int8 kernels accumulate exactly."""
    return available_cores()


@contextlib.contextmanager
def pinned_threads(threads: int = 1) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``; restore the previous count."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if threads > available_cores():
        raise ValueError(
            f"threads={threads} exceeds the {available_cores()} cores this process may use: "
            "oversubscribed timings measure contention, not the model"
        )
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Timing:
    """Summary of repeated wall-clock timings, in seconds."""

    median: float
    q1: float
    q3: float
    min: float
    rounds: int

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        """Summarise a list of timings (at least one)."""
        if not seconds:
            raise ValueError("no timings to summarise")
        q1, _, q3 = _quartiles(seconds)
        return cls(statistics.median(seconds), q1, q3, min(seconds), len(seconds))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def percentiles(
    seconds: Sequence[float], points: Sequence[float] = (50, 90, 99)
) -> dict[str, float]:
    """{"p50": ..., "p90": ..., "p99": ...} of per-round latencies (linear interpolation)."""
    if not seconds:
        raise ValueError("percentiles need at least one timing")
    values = np.percentile(np.asarray(seconds, dtype=float), list(points))
    return {f"p{p:g}": float(v) for p, v in zip(points, values, strict=True)}


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_callable(
    fn: Callable[[], object],
    *,
    warmup: int = 3,
    rounds: int = 20,
    max_seconds: float = 60.0,
    threads: int = 1,
) -> Timing:
    """Time ``fn`` under ``torch.inference_mode`` with pinned threads: warm-up, then rounds.

    Stops early once ``max_seconds`` is spent, after at least 3 rounds.
    """
    with pinned_threads(threads), torch.inference_mode():
        for _ in range(warmup):
            fn()
        seconds: list[float] = []
        deadline = time.perf_counter() + max_seconds
        while len(seconds) < rounds and (len(seconds) < 3 or time.perf_counter() < deadline):
            seconds.append(_once(fn))
    return Timing.of(seconds)


@dataclass(frozen=True)
class Speedup:
    """Paired A/B timing: ratio of baseline to candidate time, per interleaved round."""

    ratio: float  # median over rounds of baseline_time / candidate_time
    q1: float  # first quartile of the per-round ratios
    q3: float  # third quartile of the per-round ratios
    baseline: Timing
    candidate: Timing
    baseline_s: tuple[float, ...] = ()  # every round's time, in order (for confidence intervals)
    candidate_s: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "ratio": self.ratio,
            "q1": self.q1,
            "q3": self.q3,
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
        }


def paired_speedup(
    baseline: Callable[[], object],
    candidate: Callable[[], object],
    *,
    warmup: int = 3,
    rounds: int = 20,
    max_seconds: float = 120.0,
    threads: int = 1,
) -> Speedup:
    """Time baseline and candidate interleaved (ABBA order) in one process; return the ratio.

    Interleaving makes both see the same machine state (frequency, cache, neighbours), so the
    ratio is comparable across runs even when absolute times drift.
    """
    with pinned_threads(threads), torch.inference_mode():
        for _ in range(warmup):
            baseline()
            candidate()
        times_a: list[float] = []
        times_b: list[float] = []
        deadline = time.perf_counter() + max_seconds
        while len(times_a) < rounds and (len(times_a) < 3 or time.perf_counter() < deadline):
            if len(times_a) % 2 == 0:
                times_a.append(_once(baseline))
                times_b.append(_once(candidate))
            else:
                times_b.append(_once(candidate))
                times_a.append(_once(baseline))
    ratios = [a / b for a, b in zip(times_a, times_b, strict=True)]
    q1, median, q3 = _quartiles(ratios)
    return Speedup(
        median, q1, q3, Timing.of(times_a), Timing.of(times_b), tuple(times_a), tuple(times_b)
    )
