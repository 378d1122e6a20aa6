"""compress.quantize.half: 16-bit weights or autocast, fp32 outputs, nothing global changed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.measure.meters import serialized_size
from compress.quantize.half import HalfConfig, to_half
from compress.verdict.machine import calibrate_half_limit


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 3)).eval()


CONFIGS = [HalfConfig(), HalfConfig(autocast=True), HalfConfig("float16")]


@pytest.mark.parametrize("config", CONFIGS, ids=["bf16", "autocast", "fp16"])
def test_half_answers_in_fp32_and_leaves_the_input(config: HalfConfig) -> None:
    fp32 = _mlp()
    x = torch.randn(16, 32)
    half = to_half(fp32, config)
    out = half(x.to(config.torch_dtype) if not config.autocast else x)
    assert out.dtype == torch.float32
    assert next(fp32.parameters()).dtype == torch.float32  # the input model is untouched
    assert (out.argmax(-1) == fp32(x).argmax(-1)).float().mean() >= 0.9
    assert torch.allclose(out, fp32(x), atol=0.05)


def test_cast_weights_halve_the_checkpoint_autocast_does_not() -> None:
    fp32 = nn.Sequential(nn.Linear(256, 256), nn.Linear(256, 256))  # weights, not file overhead
    assert serialized_size(to_half(fp32)) < 0.6 * serialized_size(fp32)
    assert serialized_size(to_half(fp32, HalfConfig(autocast=True))) >= serialized_size(fp32)


def test_bad_half_config_is_refused() -> None:
    with pytest.raises(ValueError, match="dtype must be one of"):
        HalfConfig("int8")
    config = HalfConfig("float16", True)
    assert HalfConfig.from_dict(config.to_dict()) == config


def test_half_limit_is_a_paired_ratio_that_names_its_dtype() -> None:
    limit = calibrate_half_limit("bfloat16", rows=64, in_features=32, out_features=64, rounds=3)
    assert limit.engine == "bfloat16" and limit.speedup > 0 and len(limit.samples) == limit.rounds
