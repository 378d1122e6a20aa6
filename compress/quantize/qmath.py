"""Linear quantization math, Q = round(R/S) + Z, per tensor, per channel or per block.

Pure torch and float32: the data are divided, rounded (``torch.round``: half to even) and
clamped in float32; the per-group statistics that give S and Z are combined in float64 and
S is stored as float32, so ``max - min`` cannot overflow. Every group's range includes 0, so
0.0 is always exactly representable, and an all-zero group gets S = 1 (never a division by 0).

``fixed_point`` rounds every scale up to a power of two (fixed-point quantization).

Symmetric specs use the restricted signed range -(2^(b-1) - 1)..2^(b-1) - 1 with Z = 0
(int8: -127..127); asymmetric specs use 0..2^b - 1 (uint8: 0..255). Integers of every width
(2..8 bits) are held one per byte: int8 when symmetric, uint8 when asymmetric, so int4 values
sit in an int8 container; ``QTensor.nbytes(packed=True)`` counts what bit-packing would store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

GRANULARITIES = ("tensor", "channel", "block")


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize: bit width, symmetric or not, and which elements share a scale."""

    bits: int = 8  # 2..8
    symmetric: bool = True  # signed restricted range with Z = 0, else unsigned with a zero point
    granularity: str = "tensor"  # "tensor", "channel" (one scale per index of axis) or "block"
    axis: int = 0  # the channel axis (granularity "channel" only); negative counts from the end
    block_size: int | None = None  # elements per block along the last dimension ("block" only)
    pad: bool = False  # zero-pad the last block when block_size does not divide the last dim
    fixed_point: bool = False  # every scale rounded up to a power of two (2^k; shifts, no multiply)

    def __post_init__(self) -> None:
        if not isinstance(self.bits, int) or isinstance(self.bits, bool):
            raise ValueError(f"bits must be an int in 2..8, got {self.bits!r}")
        if not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be in 2..8, got {self.bits}")
        if not isinstance(self.symmetric, bool):
            raise ValueError(f"symmetric must be True or False, got {self.symmetric!r}")
        if self.granularity not in GRANULARITIES:
            raise ValueError(
                f"unknown granularity {self.granularity!r}; expected one of {GRANULARITIES}"
            )
        if not isinstance(self.axis, int) or isinstance(self.axis, bool):
            raise ValueError(f"axis must be an int, got {self.axis!r}")
        if self.axis != 0 and self.granularity != "channel":
            raise ValueError(
                f"axis={self.axis} only applies to granularity 'channel', not {self.granularity!r}"
            )
        if self.granularity == "block":
            if self.block_size is None:
                raise ValueError("granularity 'block' needs block_size (elements per block)")
            if not isinstance(self.block_size, int) or isinstance(self.block_size, bool):
                raise ValueError(f"block_size must be an int, got {self.block_size!r}")
            if self.block_size < 1:
                raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        elif self.block_size is not None:
            raise ValueError(
                f"block_size={self.block_size} only applies to granularity 'block', "
                f"not {self.granularity!r}"
            )
        if not isinstance(self.pad, bool):
            raise ValueError(f"pad must be True or False, got {self.pad!r}")
        if not isinstance(self.fixed_point, bool):
            raise ValueError(f"fixed_point must be True or False, got {self.fixed_point!r}")
        if self.pad and self.granularity != "block":
            raise ValueError(
                f"pad=True only applies to granularity 'block', not {self.granularity!r}"
            )

    @property
    def qmin(self) -> int:
        """Smallest integer code: -(2^(b-1) - 1) when symmetric, else 0."""
        return -(2 ** (self.bits - 1) - 1) if self.symmetric else 0

    @property
    def qmax(self) -> int:
        """Largest integer code: 2^(b-1) - 1 when symmetric, else 2^b - 1."""
        return 2 ** (self.bits - 1) - 1 if self.symmetric else 2**self.bits - 1

    @property
    def dtype(self) -> torch.dtype:
        """Container of the integer codes: int8 when symmetric, uint8 when asymmetric."""
        return torch.int8 if self.symmetric else torch.uint8

    @property
    def id(self) -> str:
        """Short readable name, e.g. ``int4-block64`` or ``uint8-channel``."""
        kind = f"int{self.bits}" if self.symmetric else f"uint{self.bits}"
        pow2 = "-pow2" if self.fixed_point else ""
        if self.granularity == "block":
            return f"{kind}-block{self.block_size}{'-pad' if self.pad else ''}{pow2}"
        if self.granularity == "channel" and self.axis != 0:
            return f"{kind}-channel{self.axis}{pow2}"
        return f"{kind}-{self.granularity}{pow2}"


@dataclass
class QTensor:
    """Integer codes with their scales and zero points; ``q`` is in the grouped view."""

    q: torch.Tensor  # int8 (symmetric) or uint8 (asymmetric), one code per byte
    scale: torch.Tensor  # float32, broadcastable to q
    zero_point: torch.Tensor  # same dtype as q, broadcastable to q; all 0 when symmetric
    spec: QuantSpec
    shape: torch.Size  # shape of the original tensor

    def dequantize(self) -> torch.Tensor:
        """The float32 reconstruction (q - Z) * S, in the original shape."""
        return dequantize(self)

    def nbytes(self, packed: bool = True) -> int:
        """Bytes of codes + float32 scales + zero points (ceil(bits/8) each, asymmetric only).

        Packed: ceil(bits x numel / 8) for the original elements (a packer needs no block
        padding: the shape says where rows end). Unpacked: the codes as held here, one byte
        each, padding included.
        """
        if packed:
            data = math.ceil(math.prod(self.shape) * self.spec.bits / 8)
        else:
            data = self.q.numel() * self.q.element_size()
        scales = self.scale.numel() * 4
        zero_bytes = 0 if self.spec.symmetric else math.ceil(self.spec.bits / 8)
        return data + scales + self.zero_point.numel() * zero_bytes


def _check_input(x: torch.Tensor, spec: QuantSpec) -> None:
    """Raise ValueError unless ``x`` is a non-empty, finite float tensor that fits ``spec``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"input must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"input is empty (shape {tuple(x.shape)}); nothing to quantize")
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        index = tuple(torch.nonzero(~finite)[0].tolist())
        raise ValueError(
            f"input contains NaN/inf at index {index} (value {x[index].item()}); "
            "quantization needs finite values"
        )
    if spec.granularity == "channel" and not -x.dim() <= spec.axis < x.dim():
        raise ValueError(
            f"axis {spec.axis} is out of range for a {x.dim()}-d tensor of shape {tuple(x.shape)}"
        )
    if spec.granularity == "block":
        if x.dim() == 0:
            raise ValueError("block granularity needs a tensor with at least 1 dimension")
        last = x.shape[-1]
        if last % spec.block_size != 0 and not spec.pad:
            raise ValueError(
                f"last dimension {last} is not divisible by block_size {spec.block_size}; "
                "pass pad=True to zero-pad the last block of each row"
            )


def _grouped(x: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """``x`` as float32; for blocks, padded and reshaped to (*leading, n_blocks, block_size)."""
    x = x.detach().to(torch.float32)
    if spec.granularity != "block":
        return x
    size = spec.block_size
    extra = -x.shape[-1] % size
    if extra:
        x = F.pad(x, (0, extra))
    return x.reshape(*x.shape[:-1], x.shape[-1] // size, size)


def _group_minmax(g: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group (min, max) with keepdim, both widened to include 0."""
    if spec.granularity == "tensor":
        lo, hi = g.amin().reshape([1] * g.dim()), g.amax().reshape([1] * g.dim())
    elif spec.granularity == "block":
        lo, hi = g.amin(dim=-1, keepdim=True), g.amax(dim=-1, keepdim=True)
    else:
        axis = spec.axis % g.dim()
        dims = [d for d in range(g.dim()) if d != axis]
        # amin/amax over dim=[] would reduce everything: a 1-d tensor is its own channels
        lo = g.amin(dim=dims, keepdim=True) if dims else g
        hi = g.amax(dim=dims, keepdim=True) if dims else g
    return lo.clamp(max=0.0), hi.clamp(min=0.0)


def _qparams_grouped(g: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = (t.to(torch.float64) for t in _group_minmax(g, spec))
    if spec.symmetric:
        scale = (torch.maximum(-lo, hi) / spec.qmax).to(torch.float32)
    else:
        scale = ((hi - lo) / (spec.qmax - spec.qmin)).to(torch.float32)
    # all-zero groups (and ranges so tiny that S underflows to 0) get S = 1
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    if spec.fixed_point:  # up, not to nearest: the range still fits, nothing is clipped
        scale = power_of_two_scale(scale)
    if spec.symmetric:
        zero = torch.zeros(scale.shape, dtype=spec.dtype)
    else:
        zero = torch.round(spec.qmin - lo / scale.to(torch.float64))
        zero = zero.clamp(spec.qmin, spec.qmax).to(spec.dtype)
    return scale, zero


def power_of_two_scale(scale: torch.Tensor) -> torch.Tensor:
    """The smallest power of two >= each (positive) scale: fixed-point quantization, where
    R = Q * 2^k and rescaling is a shift. At most doubles the step, so the round-trip MSE of a
    range that is not clipped grows at most 4x (6.02 dB of SQNR)."""
    mantissa, exponent = torch.frexp(scale)  # scale = mantissa * 2^exponent, mantissa in [0.5, 1)
    exact = mantissa == 0.5
    return torch.ldexp(torch.ones_like(scale), torch.where(exact, exponent - 1, exponent))


def compute_qparams(x: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, zero_point) per group, broadcastable to the grouped view of ``x``.

    The grouped view is ``x`` itself for "tensor" and "channel", and ``x`` zero-padded and
    reshaped to (*x.shape[:-1], n_blocks, block_size) for "block". Scales are float32; zero
    points have the codes' dtype (int8 zeros when symmetric, uint8 when asymmetric).
    """
    _check_input(x, spec)
    return _qparams_grouped(_grouped(x, spec), spec)


def quantize(x: torch.Tensor, spec: QuantSpec | None = None) -> QTensor:
    """Quantize a float tensor: Q = clamp(round(R/S) + Z, qmin, qmax).

    Round-trip error is at most S/2 per element, except that an asymmetric Z rounded to an
    integer shifts the grid by up to S/2, so a value clamped at the end of the range may be
    off by up to S.
    """
    spec = spec or QuantSpec()
    _check_input(x, spec)
    g = _grouped(x, spec)
    scale, zero = _qparams_grouped(g, spec)
    q = torch.round(g / scale) + zero.to(torch.float32)
    q = q.clamp_(spec.qmin, spec.qmax).to(spec.dtype)
    return QTensor(q, scale, zero, spec, x.shape)


def dequantize(qt: QTensor) -> torch.Tensor:
    """The float32 reconstruction R' = (Q - Z) * S, cropped and reshaped to ``qt.shape``."""
    r = (qt.q.to(torch.float32) - qt.zero_point.to(torch.float32)) * qt.scale
    if qt.spec.granularity == "block":
        r = r.reshape(*r.shape[:-2], -1)[..., : qt.shape[-1]]
    return r.reshape(qt.shape)


def quantization_error(x: torch.Tensor, spec: QuantSpec | None = None) -> dict[str, float]:
    """Round-trip error of ``x``: mse, max_abs, and sqnr_db = 10 log10(signal / noise power)."""
    spec = spec or QuantSpec()
    reference = x.detach().to(torch.float32)
    err = (dequantize(quantize(x, spec)) - reference).to(torch.float64)
    noise = float(err.square().sum())
    signal = float(reference.to(torch.float64).square().sum())
    return {
        "mse": noise / err.numel(),
        "max_abs": float(err.abs().max()),
        "sqnr_db": sqnr_db(signal, noise),
    }


def sqnr_db(signal_power: float, noise_power: float) -> float:
    """10 log10(signal / noise); inf when there is no noise at all."""
    if noise_power == 0:
        return math.inf
    if signal_power == 0:
        return -math.inf
    return 10 * math.log10(signal_power / noise_power)
