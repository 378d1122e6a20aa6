"""Every technique config: to_dict -> from_dict gives the same config; an unknown key is named."""

from __future__ import annotations

from dataclasses import replace

import pytest

from compress.distill.augment import AugmentConfig
from compress.distill.kd import DistillConfig
from compress.prune.fine_prune import StructuredPruneConfig
from compress.prune.unstructured import PruneConfig
from compress.quantize.dynamic import DynamicQuantConfig
from compress.quantize.onnx_runtime import OrtConfig
from compress.quantize.qat import QATConfig
from compress.quantize.static import StaticQuantConfig
from compress.quantize.torchao_configs import TorchaoConfig
from compress.search.space import SearchConfig
from compress.train.loop import OptimConfig
from fixtures.recipes.digits import FUSE

CONFIGS = [
    AugmentConfig(copies=2),
    DistillConfig(kd_weight=0.5, cos_weight=0.5, layer_map=((1, 2),), frozen=("bert.emb",)),
    StructuredPruneConfig(head_sparsity=0.3, score="movement"),
    OrtConfig(mode="static", per_channel=True),
    PruneConfig("ln_structured", 0.3, n=2, dim=0, targets=("0",)),
    QATConfig(epochs=2, fuse=FUSE),
    QATConfig(),
    DynamicQuantConfig(module_types=("LSTM", "Linear"), keep_fp32=("decoder",)),
    DynamicQuantConfig(fixed_point=True),
    StaticQuantConfig(observer="percentile", modules="linear"),
    StaticQuantConfig(fuse=FUSE),
    TorchaoConfig("int8-dynamic"),
    SearchConfig(trials=3, budgets_pts=(1.0,)),
    OptimConfig(kind="adamw", schedule="linear", warmup_ratio=0.1, max_grad_norm=1.0),
]


def _as_written(config: object) -> object:
    """The config its ``to_dict`` describes: an "auto" engine is written resolved, so that a
    result names the engine that ran."""
    if getattr(config, "engine", None) == "auto":
        return replace(config, engine=config.resolved_engine)  # type: ignore[attr-defined]
    return config


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_round_trip(config: object) -> None:
    again = type(config).from_dict(config.to_dict())  # type: ignore[attr-defined]
    assert again == _as_written(config)  # dataclass equality: every field, tuples as tuples
    assert type(again).from_dict(again.to_dict()) == again  # a fixed point from then on


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_unknown_key_is_named(config: object) -> None:
    data = {**config.to_dict(), "lerning_rate": 1.0}  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lerning_rate'\]"):
        type(config).from_dict(data)  # type: ignore[attr-defined]


def test_fusion_is_part_of_the_config() -> None:
    assert "fuse" not in StaticQuantConfig().to_dict()  # older result dicts stay identical
    assert StaticQuantConfig(fuse=FUSE).to_dict()["fuse"][0] == ["conv1", "relu1"]
    with pytest.raises(ValueError, match="fuse must be groups of module names"):
        QATConfig(fuse=((),))
