"""torchao's ``quantize_`` as a peer of torch.ao's dynamic int8: the API torch points to when
it deprecates ``torch.ao.quantization``.

``quantize_torchao(model, TorchaoConfig("int8-dynamic"))`` returns a quantized copy. Which
configs run, and how fast, depends on the CPU and on the torchao build: on this suite's
reference machine the int8 configs run in eager mode, while the int4 weight-only config needs
kernels (``mslk`` / CUDA) that a CPU install lacks, so asking for it raises
``BackendUnsupported`` naming what is missing rather than failing deep inside torchao.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from torch import nn

from compress.core.config import config_from_dict

# scheme -> the class of torchao.quantization it names (built as ``Class(**options)``)
SCHEMES = {
    "int8-dynamic": "Int8DynamicActivationInt8WeightConfig",  # int8 activations per token
    "int8-weight-only": "Int8WeightOnlyConfig",
    "int4-weight-only": "Int4WeightOnlyConfig",
}


class BackendUnsupported(RuntimeError):
    """The requested scheme has no kernel on this backend / machine."""


@dataclass(frozen=True)
class TorchaoConfig:
    """Which torchao config to apply to every ``nn.Linear``: a scheme of SCHEMES, or any
    ``torchao.quantization`` config class named by ``config_class`` with ``options``."""

    scheme: str = "int8-dynamic"  # int8 activations (per token) x int8 weights (per channel)
    group_size: int = 128  # int4-weight-only only: weights per scale group
    config_class: str = ""  # empty: SCHEMES[scheme]
    options: tuple[tuple[str, Any], ...] = ()  # keyword arguments of config_class

    def __post_init__(self) -> None:
        if isinstance(self.options, dict):  # from_dict: JSON has no tuples
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))
        if not self.config_class and self.scheme not in SCHEMES:
            raise ValueError(
                f"unknown torchao scheme {self.scheme!r}; expected one of {tuple(SCHEMES)} "
                "or a config_class"
            )
        if self.group_size not in (32, 64, 128, 256):
            raise ValueError(f"group_size must be 32, 64, 128 or 256, got {self.group_size}")

    @property
    def id(self) -> str:
        """Short readable name, e.g. ``torchao-int8-dynamic``."""
        return f"torchao-{self.scheme}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form, with torchao's version."""
        out: dict[str, object] = {"backend": "torchao", "scheme": self.scheme}
        if self.scheme == "int4-weight-only":
            out["group_size"] = self.group_size
        if self.config_class:
            out.update(config_class=self.config_class, options=dict(self.options))
        out["torchao"] = torchao_version()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TorchaoConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ("backend", "torchao"))

    def torchao_config(self) -> Any:
        """The torchao config object this scheme names."""
        from torchao import quantization as q

        options = dict(self.options)
        if self.scheme == "int4-weight-only":
            options["group_size"] = self.group_size
        return getattr(q, self.config_class or SCHEMES[self.scheme])(**options)


def torchao_version() -> str | None:
    """torchao's version, or None when it is not installed."""
    try:
        import torchao
    except ImportError:
        return None
    return torchao.__version__


def quantize_torchao(model: nn.Module, config: TorchaoConfig | None = None) -> nn.Module:
    """Return a copy of ``model`` with every ``nn.Linear`` quantized by torchao; input untouched.

    Raises BackendUnsupported when torchao is missing or has no kernel here for the scheme.
    """
    config = config or TorchaoConfig()
    if torchao_version() is None:
        raise BackendUnsupported("torchao is not installed: pip install torchao")
    from torchao.quantization import quantize_

    work = copy.deepcopy(model).eval()
    try:
        quantize_(work, config.torchao_config())
    except (ImportError, NotImplementedError, ValueError) as err:
        raise BackendUnsupported(
            f"torchao {torchao_version()} cannot apply {config.scheme} on this machine "
            f"({type(err).__name__}: {err}); int8 schemes run on CPU, int4 needs CUDA kernels"
        ) from err
    return work
