"""Linear quantization math: hand-computed codes and scales, invariants per spec, bad input.

Expected values are worked out by hand in the comments. ``torch.round`` rounds half to even,
so hand-computed cases avoid exact .5 quotients unless the test is about ties and says so.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from compress.quantize.qmath import (
    QTensor,
    QuantSpec,
    compute_qparams,
    dequantize,
    power_of_two_scale,
    quantization_error,
    quantize,
)

SPECS = [
    QuantSpec(),
    QuantSpec(symmetric=False),
    QuantSpec(bits=4),
    QuantSpec(bits=4, symmetric=False),
    QuantSpec(bits=2),
    QuantSpec(granularity="channel"),
    QuantSpec(granularity="channel", axis=1),
    QuantSpec(bits=4, symmetric=False, granularity="channel"),
    QuantSpec(granularity="block", block_size=4),
    QuantSpec(bits=4, granularity="block", block_size=10),
    QuantSpec(bits=3, symmetric=False, granularity="block", block_size=6, pad=True),
]


def _x(shape: tuple[int, ...] = (6, 20), seed: int = 0) -> torch.Tensor:
    """Seeded normal data with a few exact zeros and one larger value."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    x[0, 0] = 0.0
    x[-1, -1] = 4.0
    return x


def _scale_per_element(qt: QTensor) -> torch.Tensor:
    """Each element's S, in the original shape."""
    s = qt.scale.expand(qt.q.shape)
    if qt.spec.granularity == "block":
        s = s.reshape(*s.shape[:-2], -1)[..., : qt.shape[-1]]
    return s.reshape(qt.shape)


# --- hand-computed values ---------------------------------------------------------------------


def test_symmetric_int8_by_hand() -> None:
    # S = 9.22/127 = 0.072598; 4.0/S = 55.098 -> 55; Z = 0
    x = torch.tensor([-9.22, 0.0, 4.0, 9.22])
    qt = quantize(x, QuantSpec())
    assert qt.scale.item() == pytest.approx(9.22 / 127, rel=1e-6)
    assert qt.zero_point.item() == 0
    assert qt.q.dtype == torch.int8
    assert qt.q.tolist() == [-127, 0, 55, 127]
    assert qt.dequantize().tolist() == pytest.approx([-9.22, 0.0, 55 * 9.22 / 127, 9.22], rel=1e-6)


def test_symmetric_tie_rounds_half_to_even() -> None:
    # 4.61/S with S = float32(9.22)/127 is exactly 63.5 in float32; round half to even -> 64
    x = torch.tensor([-9.22, 0.0, 4.61, 9.22])
    qt = quantize(x)
    assert (x[2] / qt.scale).item() == 63.5
    assert qt.q.tolist() == [-127, 0, 64, 127]
    # S = 127/127 = 1 exactly: -2.5 -> -2, -0.5 -> 0, 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
    y = torch.tensor([-127.0, -2.5, -0.5, 0.5, 1.5, 2.5, 127.0])
    assert quantize(y).q.tolist() == [-127, -2, 0, 0, 2, 2, 127]


def test_asymmetric_uint8_by_hand() -> None:
    # S = (2 - (-1))/255 = 3/255; Z = round(0 - (-1)/S) = 85; Q = round(R/S) + 85
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    qt = quantize(x, QuantSpec(symmetric=False))
    assert qt.scale.item() == pytest.approx(3 / 255, rel=1e-6)
    assert qt.zero_point.item() == 85
    assert qt.q.dtype == torch.uint8
    assert qt.q.tolist() == [0, 85, 170, 255]
    assert qt.dequantize().tolist() == pytest.approx(x.tolist(), abs=1e-6)


def test_asymmetric_range_always_includes_zero() -> None:
    # all positive: min widened to 0, S = 2/255, Z = 0; 0.3/S = 38.25 -> 38
    qt = quantize(torch.tensor([0.3, 2.0]), QuantSpec(symmetric=False))
    assert (qt.zero_point.item(), qt.q.tolist()) == (0, [38, 255])
    assert qt.scale.item() == pytest.approx(2 / 255, rel=1e-6)
    # all negative: max widened to 0, S = 2/255, Z = round(2/S) = 255; -0.5/S = -63.75 -> -64
    qt = quantize(torch.tensor([-2.0, -0.5]), QuantSpec(symmetric=False))
    assert (qt.zero_point.item(), qt.q.tolist()) == (255, [0, 191])


def test_per_channel_one_scale_per_row() -> None:
    # row 0: S = 3/127; 0.3/S = 12.7 -> 13, 1.2/S = 50.8 -> 51
    # row 1: S = 20/127; 7/S = 44.45 -> 44, -5/S = -31.75 -> -32
    x = torch.tensor([[0.3, -3.0, 1.2], [7.0, -5.0, 20.0]])
    scale, zero = compute_qparams(x, QuantSpec(granularity="channel"))
    assert scale.shape == (2, 1)
    assert scale.flatten().tolist() == pytest.approx([3 / 127, 20 / 127], rel=1e-6)
    assert zero.flatten().tolist() == [0, 0]
    qt = quantize(x, QuantSpec(granularity="channel"))
    assert qt.q.tolist() == [[13, -127, 51], [44, -32, 127]]


def test_per_channel_axis_1_one_scale_per_column() -> None:
    x = torch.tensor([[0.3, -3.0, 1.2], [7.0, -5.0, 20.0]])
    scale, _ = compute_qparams(x, QuantSpec(granularity="channel", axis=1))
    assert scale.shape == (1, 3)
    assert scale.flatten().tolist() == pytest.approx([7 / 127, 5 / 127, 20 / 127], rel=1e-6)
    assert compute_qparams(x, QuantSpec(granularity="channel", axis=-1))[0].shape == (1, 3)


def test_blockwise_2x4_block2_has_four_scales() -> None:
    # blocks [1.5, -2] [3, 0.6] | [0, 0] [-4.4, 8]: S = 2/127, 3/127, 1 (all zero), 8/127
    # 1.5/S = 95.25 -> 95; 0.6/S = 25.4 -> 25; -4.4/S = -69.85 -> -70
    x = torch.tensor([[1.5, -2.0, 3.0, 0.6], [0.0, 0.0, -4.4, 8.0]])
    spec = QuantSpec(granularity="block", block_size=2)
    qt = quantize(x, spec)
    assert qt.scale.shape == (2, 2, 1)
    assert qt.scale.numel() == 4
    assert qt.scale.flatten().tolist() == pytest.approx([2 / 127, 3 / 127, 1.0, 8 / 127], rel=1e-6)
    assert qt.q.tolist() == [[[95, -127], [127, 25]], [[0, 0], [-70, 127]]]
    assert qt.dequantize().shape == x.shape
    assert qt.dequantize()[1, :2].tolist() == [0.0, 0.0]


def test_outlier_hurts_per_tensor_far_more_than_blockwise() -> None:
    # a 64-wide row: one outlier 100 in block 0, small values |v| <= 0.01 everywhere else.
    # per tensor S = 100/127 = 0.787, so every small value rounds to 0 (|v|/S <= 0.0127);
    # with 32-wide blocks the second block gets S = 0.01/127 and keeps its values.
    small = torch.linspace(-0.01, 0.01, 63)
    x = torch.cat([torch.tensor([100.0]), small]).reshape(1, 64)
    per_tensor = quantize(x, QuantSpec()).dequantize()
    blockwise = quantize(x, QuantSpec(granularity="block", block_size=32)).dequantize()
    assert quantize(x, QuantSpec()).q[0, 1:].abs().max().item() == 0
    far = slice(32, 64)  # the block without the outlier
    mse_tensor = (per_tensor[0, far] - x[0, far]).square().mean().item()
    mse_block = (blockwise[0, far] - x[0, far]).square().mean().item()
    assert mse_tensor == pytest.approx(x[0, far].square().mean().item())
    assert mse_block < mse_tensor / 1000


@pytest.mark.parametrize(
    ("spec", "qmin", "qmax"),
    [
        (QuantSpec(bits=8), -127, 127),
        (QuantSpec(bits=4), -7, 7),
        (QuantSpec(bits=2), -1, 1),
        (QuantSpec(bits=8, symmetric=False), 0, 255),
        (QuantSpec(bits=4, symmetric=False), 0, 15),
    ],
    ids=lambda v: v.id if isinstance(v, QuantSpec) else str(v),
)
def test_integer_range(spec: QuantSpec, qmin: int, qmax: int) -> None:
    assert (spec.qmin, spec.qmax) == (qmin, qmax)
    # asymmetric: [-1, 2] gives Z = qmax/3 exactly (85 or 5), so both ends reach the range's
    # ends; [-1, 1] would make Z a .5 tie, and the rounded Z shifts the top code down by one
    hi = 1.0 if spec.symmetric else 2.0
    qt = quantize(torch.linspace(-1.0, hi, 101), spec)
    assert (qt.q.min().item(), qt.q.max().item()) == (qmin, qmax)


def test_nbytes_packed_and_unpacked() -> None:
    x = _x((64, 64))
    int8, int4 = quantize(x, QuantSpec(bits=8)), quantize(x, QuantSpec(bits=4))
    assert int8.nbytes() == 4096 + 4  # 4096 codes + one float32 scale
    assert int4.nbytes() == 2048 + 4  # packed: two codes per byte
    assert int4.nbytes() - 4 == (int8.nbytes() - 4) // 2
    assert int4.nbytes(packed=False) == 4096 + 4  # one code per int8 byte, as stored
    assert quantize(x, QuantSpec(symmetric=False)).nbytes() == 4096 + 4 + 1  # + uint8 zero
    assert quantize(x, QuantSpec(granularity="channel")).nbytes() == 4096 + 64 * 4
    blocks = quantize(x, QuantSpec(bits=4, symmetric=False, granularity="block", block_size=32))
    assert blocks.nbytes() == 2048 + 128 * 4 + 128 * 1  # 128 blocks: scale + zero each
    assert quantize(torch.ones(10), QuantSpec(bits=3)).nbytes() == math.ceil(30 / 8) + 4
    # 3x10 in blocks of 4, padded to 3x12: 9 scales; packing skips the 6 padding codes
    padded = quantize(_x((3, 10)), QuantSpec(bits=4, granularity="block", block_size=4, pad=True))
    assert padded.nbytes() == 30 // 2 + 9 * 4
    assert padded.nbytes(packed=False) == 36 + 9 * 4


def test_quantization_error_by_hand() -> None:
    # S = 1: 0.25 -> 0, so the only error is 0.25 on one of three elements
    x = torch.tensor([-127.0, 0.25, 127.0])
    err = quantization_error(x, QuantSpec())
    assert err["mse"] == pytest.approx(0.0625 / 3)
    assert err["max_abs"] == pytest.approx(0.25)
    signal = 2 * 127.0**2 + 0.0625
    assert err["sqnr_db"] == pytest.approx(10 * math.log10(signal / 0.0625))


def test_all_zero_input_gets_scale_one() -> None:
    qt = quantize(torch.zeros(2, 4), QuantSpec(symmetric=False, granularity="channel"))
    assert qt.scale.flatten().tolist() == [1.0, 1.0]
    assert qt.q.flatten().tolist() == [0] * 8
    assert torch.equal(qt.dequantize(), torch.zeros(2, 4))
    assert quantization_error(torch.zeros(3), QuantSpec())["sqnr_db"] == math.inf


def test_pad_round_trips_original_shape() -> None:
    x = _x((3, 10))
    spec = QuantSpec(bits=4, granularity="block", block_size=4, pad=True)
    qt = quantize(x, spec)
    assert qt.q.shape == (3, 3, 4)  # 10 -> 12: the last block holds 2 values and 2 zeros
    assert qt.q[:, -1, 2:].abs().max().item() == 0
    r = dequantize(qt)
    assert r.shape == x.shape
    assert torch.all((r - x).abs() <= _scale_per_element(qt) / 2 * (1 + 1e-5))


def test_other_float_dtypes_and_input_untouched() -> None:
    x = _x((4, 8)).to(torch.float64)
    before = x.clone()
    r = quantize(x, QuantSpec()).dequantize()
    assert r.dtype == torch.float32
    assert torch.equal(x, before)
    assert quantize(x.to(torch.bfloat16)).dequantize().shape == x.shape
    assert quantize(torch.tensor(3.0)).dequantize().item() == pytest.approx(3.0)


# --- invariants over every spec --------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_round_trip_error_is_at_most_half_a_step(spec: QuantSpec) -> None:
    x = _x()
    qt = quantize(x, spec)
    err = (qt.dequantize() - x).abs()
    s = _scale_per_element(qt)
    tol = 1 + 1e-5  # float32 rounding of R/S and of (Q - Z) * S
    inside = (qt.q.to(torch.int32) > spec.qmin) & (qt.q.to(torch.int32) < spec.qmax)
    inside = _ungroup(inside, qt)
    assert torch.all(err[inside] <= s[inside] / 2 * tol)
    # Z is rounded to an integer, which shifts the grid by up to S/2 against an asymmetric
    # range: a value at the end of the range can clamp with error up to S. Symmetric: S/2.
    bound = s / 2 if spec.symmetric else s
    assert torch.all(err <= bound * tol)


def _ungroup(t: torch.Tensor, qt: QTensor) -> torch.Tensor:
    if qt.spec.granularity == "block":
        t = t.reshape(*t.shape[:-2], -1)[..., : qt.shape[-1]]
    return t.reshape(qt.shape)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_codes_dtype_range_zero_and_determinism(spec: QuantSpec) -> None:
    x = _x()
    qt = quantize(x, spec)
    assert qt.q.dtype == (torch.int8 if spec.symmetric else torch.uint8)
    assert qt.zero_point.dtype == qt.q.dtype
    assert spec.qmin <= qt.q.min().item() <= qt.q.max().item() <= spec.qmax
    assert qt.shape == x.shape
    r = qt.dequantize()
    assert (r.shape, r.dtype) == (x.shape, torch.float32)
    assert r[0, 0].item() == 0.0  # 0.0 is exactly representable in every group
    again = quantize(x, spec)
    assert torch.equal(again.q, qt.q) and torch.equal(again.scale, qt.scale)
    scale, zero = compute_qparams(x, spec)
    assert torch.equal(scale, qt.scale) and torch.equal(zero, qt.zero_point)
    if spec.symmetric:
        assert qt.zero_point.abs().max().item() == 0


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_quantization_error_matches_round_trip(spec: QuantSpec) -> None:
    x = _x()
    diff = quantize(x, spec).dequantize() - x
    err = quantization_error(x, spec)
    assert set(err) == {"mse", "max_abs", "sqnr_db"}
    assert err["mse"] == pytest.approx(diff.square().mean().item(), rel=1e-5)
    assert err["max_abs"] == pytest.approx(diff.abs().max().item(), rel=1e-6)
    expected = 10 * math.log10(x.square().sum().item() / diff.square().sum().item())
    assert err["sqnr_db"] == pytest.approx(expected, abs=1e-3)


def test_finer_groups_do_not_increase_error() -> None:
    x = _x((16, 256), seed=3) * torch.logspace(-2, 0, 16).unsqueeze(1)  # rows differ in scale
    specs = [
        QuantSpec(bits=4),
        QuantSpec(bits=4, granularity="channel"),
        QuantSpec(bits=4, granularity="block", block_size=64),
        QuantSpec(bits=4, granularity="block", block_size=16),
    ]
    mses = [quantization_error(x, s)["mse"] for s in specs]
    assert mses == sorted(mses, reverse=True), mses


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 1}, "bits must be in 2..8, got 1"),
        ({"bits": 9}, "bits must be in 2..8, got 9"),
        ({"bits": 8.0}, "bits must be an int"),
        ({"bits": True}, "bits must be an int"),
        ({"symmetric": 1}, "symmetric must be True or False"),
        ({"granularity": "row"}, "unknown granularity 'row'"),
        ({"granularity": "block"}, "granularity 'block' needs block_size"),
        ({"block_size": 32}, "block_size=32 only applies to granularity 'block', not 'tensor'"),
        ({"granularity": "channel", "block_size": 32}, "only applies to granularity 'block'"),
        ({"granularity": "block", "block_size": 0}, "block_size must be >= 1"),
        ({"granularity": "block", "block_size": 2.5}, "block_size must be an int"),
        ({"axis": 1}, "axis=1 only applies to granularity 'channel'"),
        ({"pad": True}, "pad=True only applies to granularity 'block'"),
        ({"granularity": "block", "block_size": 4, "pad": "yes"}, "pad must be True or False"),
    ],
    ids=[
        "bits-1",
        "bits-9",
        "bits-float",
        "bits-bool",
        "symmetric-int",
        "unknown-granularity",
        "block-without-size",
        "size-with-tensor",
        "size-with-channel",
        "block-size-0",
        "block-size-float",
        "axis-without-channel",
        "pad-without-block",
        "pad-not-bool",
    ],
)
def test_bad_spec(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuantSpec(**kwargs)


def _with(value: float) -> torch.Tensor:
    x = torch.ones(2, 3)
    x[1, 2] = value
    return x


@pytest.mark.parametrize(
    ("x", "spec", "message"),
    [
        (_with(math.nan), QuantSpec(), r"contains NaN/inf at index \(1, 2\) \(value nan\)"),
        (_with(math.inf), QuantSpec(), r"contains NaN/inf at index \(1, 2\) \(value inf\)"),
        (_with(-math.inf), QuantSpec(symmetric=False), r"NaN/inf at index \(1, 2\)"),
        (torch.empty(0, 4), QuantSpec(), r"input is empty \(shape \(0, 4\)\)"),
        (torch.arange(6).reshape(2, 3), QuantSpec(), "must be a floating-point tensor.*int64"),
        (
            torch.ones(2, 6),
            QuantSpec(granularity="block", block_size=4),
            "last dimension 6 is not divisible by block_size 4; pass pad=True",
        ),
        (
            torch.ones(2, 3),
            QuantSpec(granularity="block", block_size=8),
            "last dimension 3 is not divisible by block_size 8",
        ),
        (torch.tensor(1.0), QuantSpec(granularity="block", block_size=1), "at least 1 dimension"),
        (torch.ones(2, 3), QuantSpec(granularity="channel", axis=2), "axis 2 is out of range"),
        (torch.ones(2, 3), QuantSpec(granularity="channel", axis=-3), "axis -3 is out of range"),
        (torch.tensor(1.0), QuantSpec(granularity="channel"), "axis 0 is out of range for a 0-d"),
    ],
    ids=[
        "nan",
        "inf",
        "neg-inf",
        "empty",
        "int-tensor",
        "block-not-dividing",
        "block-larger-than-dim",
        "block-0d",
        "axis-too-big",
        "axis-too-negative",
        "channel-0d",
    ],
)
def test_bad_input(x: torch.Tensor, spec: QuantSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        quantize(x, spec)
    with pytest.raises(ValueError, match=message):
        compute_qparams(x, spec)
    with pytest.raises(ValueError, match=message):
        quantization_error(x, spec)


def test_non_tensor_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"expected a torch\.Tensor, got list"):
        quantize([1.0, 2.0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "spec",
    [
        QuantSpec(fixed_point=True),
        QuantSpec(granularity="channel", fixed_point=True),
        QuantSpec(bits=4, granularity="block", block_size=32, fixed_point=True),
        QuantSpec(bits=8, symmetric=False, fixed_point=True),
    ],
    ids=lambda s: s.id,
)
def test_fixed_point_scales_are_powers_of_two_and_cost_at_most_6db(spec: QuantSpec) -> None:
    x = torch.randn(64, 128, generator=torch.Generator().manual_seed(0))
    qt = quantize(x, spec)
    exponent = torch.log2(qt.scale)
    assert torch.equal(exponent, exponent.round()), "a fixed-point scale is not 2^k"
    plain = quantization_error(x, replace(spec, fixed_point=False))
    pow2 = quantization_error(x, spec)
    assert 0 <= plain["sqnr_db"] - pow2["sqnr_db"] <= 20 * math.log10(2) + 0.5
    assert spec.id.endswith("-pow2")


def test_power_of_two_scale_rounds_up_and_keeps_exact_powers() -> None:
    scale = torch.tensor([0.3, 0.5, 1.0, 0.26, 3.0, 2.0**-99])
    expected = torch.tensor([0.5, 0.5, 1.0, 0.5, 4.0, 2.0**-99])
    assert torch.equal(power_of_two_scale(scale), expected)


def test_fixed_point_flag_must_be_bool() -> None:
    with pytest.raises(ValueError, match="fixed_point must be True or False"):
        QuantSpec(fixed_point=1)  # type: ignore[arg-type]
