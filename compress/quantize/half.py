"""16-bit floating point as compression: bf16 / fp16 weights, or fp32 weights run under
autocast. ``to_half(model, HalfConfig("bfloat16"))`` returns a new module; the input is
untouched and nothing global is changed.

The returned module takes and returns what the fp32 model does: floating outputs (logits) come
back as fp32, so scores, agreement and KL are computed as for every other method. Whether
16-bit is fast depends on the CPU: bf16 GEMMs run natively with ``avx512_bf16`` / ``amx_bf16``
(oneDNN), fp16 with ``avx512_fp16`` / ``amx_fp16``; elsewhere they are converted and may be
slower than fp32 (compress.verdict.machine.calibrate_gemm_limit measures it).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from compress.core.config import config_from_dict

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}
# the /proc/cpuinfo flags of a native GEMM per dtype (any one of them)
NATIVE_FLAGS = {"bfloat16": ("avx512_bf16", "amx_bf16"), "float16": ("avx512_fp16", "amx_fp16")}


@dataclass(frozen=True)
class HalfConfig:
    """Which 16-bit type, and whether the weights are cast or only the matmuls (autocast)."""

    dtype: str = "bfloat16"  # "bfloat16" or "float16"
    autocast: bool = False  # False: weights cast (half the checkpoint); True: fp32 weights

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if not isinstance(self.autocast, bool):
            raise ValueError(f"autocast must be True or False, got {self.autocast!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HalfConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data)


class HalfModel(nn.Module):
    """``inner`` run in 16-bit; floating outputs returned as fp32."""

    def __init__(self, inner: nn.Module, config: HalfConfig) -> None:
        super().__init__()
        self.inner = inner
        self.config = config

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.config.autocast:
            with torch.autocast("cpu", dtype=self.config.torch_dtype):
                return to_fp32(self.inner(*args, **kwargs))
        return to_fp32(self.inner(*args, **kwargs))


def to_fp32(out: Any) -> Any:
    """``out`` with its 16-bit floating tensors as fp32 (tensors, tuples, model outputs)."""
    if torch.is_tensor(out):
        return out.float() if out.is_floating_point() else out
    if hasattr(out, "logits"):
        return type(out)(logits=to_fp32(out.logits))
    if isinstance(out, tuple):
        return tuple(to_fp32(part) for part in out)
    return out


def to_half(model: nn.Module, config: HalfConfig | None = None) -> HalfModel:
    """A 16-bit copy of ``model`` (weights cast, or autocast around fp32 weights); the input
    is untouched."""
    config = config or HalfConfig()
    inner = copy.deepcopy(model).eval()
    if not config.autocast:
        inner = inner.to(config.torch_dtype)
    return HalfModel(inner, config).eval()
