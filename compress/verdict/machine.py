"""What this CPU's int8 kernels can do: a calibrated "int8 limit" and floors relative to it.

The suite runs on 2-core x86 machines of two kinds: AVX-512 with VNNI (an int8 dot-product
instruction) and AVX2 only. Int8 speedups differ a lot between them (MiniLM dynamic int8: about
2.5x on VNNI, 1.4-1.6x on AVX2), so a fixed floor such as ">= 1.3x" is either too lax on one or
fails on the other. Instead, a short calibration times one fp32 Linear against its dynamic int8
twin at a BERT shape (batch 8 x 128 tokens through MiniLM-L6's 384 -> 1536 FFN up-projection),
and speedup floors are expressed as a fraction of that measured limit.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from compress.measure.fingerprint import ISA_ALIASES
from compress.measure.meters import paired_speedup
from compress.quantize.dynamic import DynamicQuantConfig, quantize_dynamic, quantized_engine
from compress.verdict.gates import round_ratios

# ISA flags (Linux /proc/cpuinfo names, as in the fingerprint's ``isa``) of an int8 dot product.
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"})

CALIBRATION_SEED = 0
CALIBRATION_WARMUP = 3
CALIBRATION_MAX_SECONDS = 3.0  # stop early (after 3 rounds) on a busy machine


@dataclass(frozen=True)
class Int8Limit:
    """Paired fp32/int8 time ratio of one Linear GEMM: the most int8 can give on this CPU."""

    speedup: float  # median over rounds of fp32 time / int8 time
    q1: float
    q3: float
    rows: int
    in_features: int
    out_features: int
    threads: int
    rounds: int  # rounds actually timed (fewer than asked when the time budget ran out)
    engine: str  # quantized engine the int8 twin ran under
    samples: tuple[float, ...] = ()  # every round's ratio: compare gates the limit between runs

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Int8Limit:
        """Inverse of :meth:`to_dict`; ignores unknown keys."""
        names = {field.name for field in fields(cls)}
        kept = {key: value for key, value in data.items() if key in names}
        return cls(**kept | {"samples": tuple(kept.get("samples") or ())})


def _seeded_linear(in_features: int, out_features: int, generator: torch.Generator) -> nn.Linear:
    """A Linear with weights drawn from ``generator``; the global RNG is never touched."""
    linear = nn.utils.skip_init(nn.Linear, in_features, out_features)
    bound = 1.0 / math.sqrt(in_features)
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound, generator=generator)
        linear.bias.uniform_(-bound, bound, generator=generator)
    return linear.eval()


def calibration_models(
    rows: int, in_features: int, out_features: int, config: DynamicQuantConfig
) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """(fp32 Linear, its dynamic int8 twin, input): seeded, so every call gives the same three.

    Sets the quantized engine like ``quantize_dynamic``: call it inside ``quantized_engine``.
    """
    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    # Wrapped: torch.ao's quantize_dynamic swaps children only, a bare Linear would stay fp32.
    fp32 = nn.Sequential(_seeded_linear(in_features, out_features, generator)).eval()
    inputs = torch.randn(rows, in_features, generator=generator)
    return fp32, quantize_dynamic(fp32, config), inputs


def calibrate_int8_limit(
    rows: int = 1024,
    in_features: int = 384,
    out_features: int = 1536,
    *,
    threads: int = 1,
    rounds: int = 40,
    engine: str = "auto",
) -> Int8Limit:
    """Time an fp32 Linear against its dynamic int8 twin (paired, interleaved) on this CPU,
    packed for ``engine`` ("auto": this CPU's default; fbgemm, onednn, x86).

    Leaves global state as it found it: thread count (restored by ``paired_speedup``), the
    quantized engine (set only inside ``quantized_engine``) and the global RNG (unused).
    """
    config = DynamicQuantConfig(engine=engine)
    with quantized_engine(config.resolved_engine):
        fp32, int8, inputs = calibration_models(rows, in_features, out_features, config)
        result = paired_speedup(
            lambda: fp32(inputs),
            lambda: int8(inputs),
            warmup=CALIBRATION_WARMUP,
            rounds=rounds,
            max_seconds=CALIBRATION_MAX_SECONDS,
            threads=threads,
        )
    return Int8Limit(
        speedup=result.ratio,
        q1=result.q1,
        q3=result.q3,
        rows=rows,
        in_features=in_features,
        out_features=out_features,
        threads=threads,
        rounds=result.baseline.rounds,
        engine=config.resolved_engine,
        samples=round_ratios(result),
    )


def calibrate_half_limit(
    dtype: str = "bfloat16",
    rows: int = 1024,
    in_features: int = 384,
    out_features: int = 1536,
    *,
    threads: int = 1,
    rounds: int = 40,
) -> Int8Limit:
    """The same Linear in fp32 against its 16-bit copy on 16-bit inputs (``engine`` records the
    dtype): what bf16 / fp16 can give on this CPU (above 1 only with a native 16-bit GEMM)."""
    from compress.quantize.half import DTYPES

    generator = torch.Generator().manual_seed(CALIBRATION_SEED)
    fp32 = nn.Sequential(_seeded_linear(in_features, out_features, generator)).eval()
    inputs = torch.randn(rows, in_features, generator=generator)
    half, half_inputs = copy.deepcopy(fp32).to(DTYPES[dtype]), inputs.to(DTYPES[dtype])
    with torch.inference_mode():
        result = paired_speedup(lambda: fp32(inputs), lambda: half(half_inputs),
                                warmup=CALIBRATION_WARMUP, rounds=rounds,
                                max_seconds=CALIBRATION_MAX_SECONDS, threads=threads)  # fmt: skip
    return Int8Limit(result.ratio, result.q1, result.q3, rows, in_features, out_features,
                     threads, result.baseline.rounds, dtype, round_ratios(result))  # fmt: skip


def speedup_floor(
    limit: float, *, fraction: float, minimum: float, maximum: float | None = None
) -> float:
    """Lowest acceptable speedup: ``fraction * limit`` within ``[minimum, maximum]``.

    A compressed model's end-to-end speedup is bounded by what the int8 GEMM kernels of this CPU
    give (``limit``, e.g. ``calibrate_int8_limit().speedup``). A floor that is a fraction of that
    limit holds on AVX2-only and VNNI machines alike, where a fixed floor fails on the slower
    kind. ``minimum`` keeps "int8 must still help" (e.g. 1.1) on a machine whose limit is low;
    ``maximum`` stops the floor where the model's unquantized work, not the GEMM, bounds the
    speedup (a faster int8 GEMM then speeds the whole model up by less).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if not minimum > 0 or (maximum is not None and maximum < minimum):
        raise ValueError(f"need 0 < minimum <= maximum, got {minimum}, {maximum}")
    floor = max(minimum, fraction * limit)
    return floor if maximum is None else min(maximum, floor)


def has_int8_dot_product(isa: Iterable[str]) -> bool:
    """True when the ISA flags include an int8 dot-product instruction (VNNI, AMX-INT8, dotprod):
    without one, int8 GEMMs gain little over fp32 (and torchao's int8 dynamic path loses)."""
    if isinstance(isa, str):  # a raw "flags : ..." value, not a list
        isa = isa.split()
    flags = {ISA_ALIASES.get(flag.lower(), flag.lower()) for flag in isa}
    return not flags.isdisjoint(INT8_DOT_PRODUCT_FLAGS)
