"""Save and load dynamically quantized models so that reloaded logits equal the saved ones.

A quantized checkpoint is a directory: ``quantized.pt`` (the int8 state dict, loadable with
``weights_only=True``), ``quantization.json`` (the DynamicQuantConfig) and, for Hugging Face
models, ``config.json``. Loading rebuilds the fp32 skeleton, quantizes it with the saved config
and loads the state dict strictly, so a mismatched architecture fails loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from compress.core import torch_ao as _torch_ao
from compress.quantize.dynamic import DynamicQuantConfig, quantize_dynamic

STATE_FILE = "quantized.pt"
QUANT_FILE = "quantization.json"
HF_CONFIG_FILE = "config.json"


def save_quantized(model: nn.Module, path: str | Path, config: DynamicQuantConfig) -> Path:
    """Write ``model`` (already quantized with ``config``) to directory ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with _torch_ao.quiet_deprecations():
            torch.save(model.state_dict(), staging / STATE_FILE)
        (staging / QUANT_FILE).write_text(json.dumps(config.to_dict(), indent=2))
        hf_config = getattr(model, "config", None)
        if hf_config is not None and hasattr(hf_config, "to_json_file"):
            hf_config.to_json_file(staging / HF_CONFIG_FILE)
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _hf_skeleton(path: Path) -> nn.Module:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(path))


def load_quantized(
    path: str | Path, build_fp32: Callable[[], nn.Module] | None = None
) -> nn.Module:
    """Load a checkpoint written by :func:`save_quantized`.

    ``build_fp32`` returns an fp32 model of the saved architecture; without it, ``config.json``
    must be present and a Hugging Face sequence classifier is built from it.
    """
    path = Path(path)
    for name in (STATE_FILE, QUANT_FILE):
        if not (path / name).is_file():
            raise FileNotFoundError(
                f"{path / name}: missing; expected a directory written by "
                "compress.quantize.serialize.save_quantized"
            )
    try:
        saved = json.loads((path / QUANT_FILE).read_text())
        config = DynamicQuantConfig(
            module_types=tuple(saved["module_types"]), dtype=saved["dtype"], engine=saved["engine"]
        )
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path / QUANT_FILE}: not a valid quantization config ({err})") from err
    if build_fp32 is None:
        if not (path / HF_CONFIG_FILE).is_file():
            raise FileNotFoundError(
                f"{path / HF_CONFIG_FILE}: missing; pass build_fp32 to "
                "rebuild a model that is not a Hugging Face classifier"
            )
        build_fp32 = lambda: _hf_skeleton(path)  # noqa: E731
    model = quantize_dynamic(build_fp32(), config)
    with _torch_ao.quiet_deprecations():
        state = torch.load(path / STATE_FILE, weights_only=True)
        model.load_state_dict(state, strict=True)
    return model.eval()
