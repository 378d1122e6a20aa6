"""Int8 limit calibration and speedup floors relative to it."""

from __future__ import annotations

import json
import math
import statistics
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from compress.core.torch_ao import nnqd
from compress.quantize.dynamic import DynamicQuantConfig, default_engine, quantized_engine
from compress.verdict.machine import (
    Int8Limit,
    calibrate_int8_limit,
    calibration_models,
    has_int8_dot_product,
    speedup_floor,
)

TINY = {"rows": 16, "in_features": 32, "out_features": 64, "rounds": 3}


def test_int8_limit_round_trips_through_json() -> None:
    limit = Int8Limit(2.5, 2.3, 2.7, 1024, 384, 1536, 1, 15, "x86")
    data = json.loads(json.dumps(limit.to_dict()))
    assert data["speedup"] == 2.5
    assert data["out_features"] == 1536
    assert Int8Limit.from_dict(data) == limit


def test_int8_limit_keeps_its_rounds_through_json() -> None:
    limit = Int8Limit(2.5, 2.4, 2.6, 1024, 384, 1536, 1, 3, "x86", samples=(2.4, 2.5, 2.6))
    data = json.loads(json.dumps(limit.to_dict()))
    assert data["samples"] == [2.4, 2.5, 2.6]
    back = Int8Limit.from_dict(data)
    assert back == limit and back.samples == (2.4, 2.5, 2.6)  # a tuple again, not a list
    del data["samples"]  # a machine_info saved before the rounds were kept
    assert Int8Limit.from_dict(data).samples == ()


def test_speedup_floor_is_fraction_of_limit_above_minimum() -> None:
    assert speedup_floor(2.5, fraction=0.6, minimum=1.1) == pytest.approx(1.5)
    assert speedup_floor(1.5, fraction=0.6, minimum=1.1) == pytest.approx(1.1)
    assert speedup_floor(2.0, fraction=1.0, minimum=1.1) == pytest.approx(2.0)


def test_speedup_floor_stops_at_its_maximum() -> None:
    assert speedup_floor(6.12, fraction=0.35, minimum=1.05, maximum=1.3) == pytest.approx(1.3)
    assert speedup_floor(3.0, fraction=0.35, minimum=1.05, maximum=1.3) == pytest.approx(1.05)
    with pytest.raises(ValueError, match="minimum <= maximum"):
        speedup_floor(3.0, fraction=0.35, minimum=1.05, maximum=1.0)


@pytest.mark.parametrize(
    ("fraction", "minimum", "message"),
    [
        (0.0, 1.1, "fraction"),
        (-0.5, 1.1, "fraction"),
        (1.5, 1.1, "fraction"),
        (math.nan, 1.1, "fraction"),
        (0.5, 0.0, "minimum"),
        (0.5, -1.0, "minimum"),
        (0.5, math.nan, "minimum"),
    ],
)
def test_speedup_floor_rejects_bad_arguments(fraction: float, minimum: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        speedup_floor(2.0, fraction=fraction, minimum=minimum)


@pytest.mark.parametrize(
    ("isa", "expected"),
    [
        (["avx", "avx2", "avx512f", "avx512_vnni", "fma"], True),
        (["avx", "avx2", "avx_vnni", "fma"], True),
        (["avx512f", "amx_tile", "amx_int8"], True),
        (["asimd", "asimddp"], True),
        (["AVX512VNNI"], True),  # alias spelling, other case
        (["sse4_2", "avx", "avx2", "fma", "f16c"], False),
        (["avx512f", "avx512bw", "avx512vl", "amx_tile"], False),
        (["asimd"], False),
        ([], False),
        ("avx2 fma avx512_vnni", True),  # a raw cpuinfo flags value
        ("avx2 fma", False),
    ],
)
def test_has_int8_dot_product(isa: list[str] | str, expected: bool) -> None:
    assert has_int8_dot_product(isa) is expected


def test_calibration_on_tiny_shape_leaves_global_state_alone() -> None:
    others = [
        e for e in torch.backends.quantized.supported_engines if e not in ("none", default_engine())
    ]
    if not others:
        pytest.skip("only one int8 engine: an engine change could not be seen")
    other_engine = others[0]
    torch.backends.quantized.engine = other_engine  # conftest's autouse fixture restores it
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    limit = calibrate_int8_limit(**TINY)
    assert math.isfinite(limit.speedup) and limit.speedup > 0
    assert len(limit.samples) == limit.rounds  # one paired ratio per timed round
    assert statistics.median(limit.samples) == pytest.approx(limit.speedup, abs=1e-5)
    assert (limit.rows, limit.in_features, limit.out_features) == (16, 32, 64)
    assert limit.threads == 1 and limit.rounds == 3
    assert limit.engine != other_engine
    assert torch.backends.quantized.engine == other_engine
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)


def test_the_int8_limit_is_measured_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept on the run's config, not in a process-wide cache: another run measures its own."""
    import fixtures.plugins.machine as machine

    calls: list[int] = []

    def tiny() -> Int8Limit:
        calls.append(1)
        return calibrate_int8_limit(**TINY)

    monkeypatch.setattr(machine, "calibrate_int8_limit", lambda engine: tiny())
    run, other = SimpleNamespace(stash=pytest.Stash()), SimpleNamespace(stash=pytest.Stash())
    assert machine.int8_limit_of(run) is machine.int8_limit_of(run)
    assert len(calls) == 1
    machine.int8_limit_of(other)
    assert len(calls) == 2
    assert machine.fingerprint_of(run) is machine.fingerprint_of(run)


def test_calibration_times_a_packed_int8_linear() -> None:
    config = DynamicQuantConfig()
    with quantized_engine(config.resolved_engine):
        fp32, int8, inputs = calibration_models(16, 32, 64, config)
        assert [type(m) for m in fp32.modules()] == [nn.Sequential, nn.Linear]
        assert [type(m) for m in int8.children()] == [nnqd.Linear]
        assert inputs.shape == (16, 32)
        with torch.inference_mode():
            assert torch.allclose(int8(inputs), fp32(inputs), atol=0.05)


def _run(monkeypatch: pytest.MonkeyPatch, int8: dict[str, float], half: float, **settings):
    """A run's config whose limits are the given figures (no calibration is timed)."""
    import fixtures.plugins.machine as machine
    from fixtures.plugins.settings import SETTINGS_KEY, Settings

    def limit(speedup: float, engine: str) -> Int8Limit:
        return Int8Limit(speedup, speedup, speedup, 8, 8, 8, 1, 3, engine)

    monkeypatch.setattr(machine, "calibrate_int8_limit", lambda engine: limit(int8[engine], engine))
    monkeypatch.setattr(machine, "calibrate_half_limit", lambda dtype: limit(half, dtype))
    config = SimpleNamespace(stash=pytest.Stash())
    config.stash[SETTINGS_KEY] = Settings(**settings)
    return config


@pytest.mark.parametrize(
    ("method", "int8", "half", "expected"),
    [
        ("torch-dynamic", {"auto": 3.6}, 1.0, 1.26),  # 0.35 x the default engine's limit
        ("torch-dynamic-onednn", {"onednn": 5.08}, 1.0, 1.3),  # its own engine's, capped
        ("torch-dynamic-onednn", {"onednn": 1.65}, 1.0, 1.05),  # never below the minimum
        ("bf16", {}, 3.79, 1.3),  # a fast bf16 path: held to a floor
        ("bf16", {}, 0.6, None),  # no fast bf16 path: recorded, not gated in-run
        ("ort-fp32", {}, 3.0, None),  # a record
    ],
)
def test_each_method_is_held_to_its_own_limit(monkeypatch, method, int8, half, expected) -> None:
    from compress.methods.registry import get
    from fixtures.plugins.machine import floor_of

    floor = floor_of(_run(monkeypatch, int8, half), get(method))
    assert floor == (None if expected is None else pytest.approx(expected))


def test_a_fixed_min_speedup_holds_for_every_int8_engine(monkeypatch) -> None:
    from compress.methods.registry import get
    from fixtures.plugins.machine import floor_of

    config = _run(monkeypatch, {"onednn": 5.0}, 1.0, min_speedup=1.1)
    assert floor_of(config, get("torch-dynamic-onednn")) == 1.1
