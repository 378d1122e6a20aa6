"""Weight pruning with ``torch.nn.utils.prune``: every method behind one validated config.

``PruneConfig`` picks random / L1 unstructured, random / Ln structured (``n`` and ``dim``),
custom masks (``n_m_mask`` builds semi-structured N:M ones), or global unstructured pruning
over every target at once; ``prune`` applies it to a copy, ``make_permanent`` folds the masks
into the weights. Pruning only zeroes weights: the dense checkpoint and the dense latency do
not change (the masked, re-parametrized model is even twice as big until ``make_permanent``).
Measuring the zeros, and what a sparse encoding of them would store: compress.prune.sparse.
"""

from __future__ import annotations

import copy
import fnmatch
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as tprune

from compress.core.config import config_from_dict

METHODS = (
    "random_unstructured",
    "l1_unstructured",
    "random_structured",
    "ln_structured",
    "custom_from_mask",
    "global_unstructured",
)
STRUCTURED = ("random_structured", "ln_structured")
GLOBAL_CRITERIA = {"l1": tprune.L1Unstructured, "random": tprune.RandomUnstructured}
MODULE_TYPES: dict[str, type[nn.Module]] = {
    "Linear": nn.Linear,
    "Conv1d": nn.Conv1d,
    "Conv2d": nn.Conv2d,
    "Conv3d": nn.Conv3d,
}


@dataclass(frozen=True)
class PruneConfig:
    """Which weights to prune, how, and how many.

    ``amount`` is a fraction in [0, 1] (rounded to whole units as torch does:
    ``round(amount * units)``) or an int count of units; a unit is one weight for the
    unstructured methods and one slice along ``dim`` for the structured ones.
    """

    method: str = "l1_unstructured"  # one of METHODS
    amount: float | int = 0.5
    n: int | float | str = 1  # Ln norm of ln_structured: a number > 0, "fro" or "inf"
    dim: int = 0  # structured: 0 prunes output rows (Linear) / output channels (Conv)
    targets: tuple[str, ...] = ("*",)  # fnmatch patterns on module names
    module_types: tuple[str, ...] = ("Linear", "Conv2d")  # keys of MODULE_TYPES
    name: str = "weight"  # the parameter to prune in each target module
    global_criterion: str = "l1"  # global_unstructured: "l1" or "random"
    seed: int = 0  # random methods

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
            raise ValueError(f"amount must be a float in [0, 1] or an int >= 0, got {amount!r}")
        if isinstance(amount, numbers.Integral):
            if amount < 0:
                raise ValueError(f"amount as a count of units must be >= 0, got {amount}")
        elif not 0.0 <= float(amount) <= 1.0:
            raise ValueError(f"amount as a fraction must be in [0, 1], got {amount}")
        if isinstance(self.n, str):
            if self.n not in ("fro", "inf"):
                raise ValueError(f"n must be a number > 0, 'fro' or 'inf', got {self.n!r}")
        elif isinstance(self.n, bool) or not self.n > 0:
            raise ValueError(f"n must be a number > 0, 'fro' or 'inf', got {self.n!r}")
        for field in ("targets", "module_types"):
            value = getattr(self, field)
            if isinstance(value, str):
                object.__setattr__(self, field, (value,))
            elif isinstance(value, list):
                object.__setattr__(self, field, tuple(value))
        if not self.targets:
            raise ValueError("targets is empty: give at least one module-name pattern")
        unknown = sorted(set(self.module_types) - set(MODULE_TYPES))
        if unknown or not self.module_types:
            raise ValueError(f"module_types must be some of {sorted(MODULE_TYPES)}, got {unknown}")
        if self.global_criterion not in GLOBAL_CRITERIA:
            raise ValueError(
                f"global_criterion must be one of {sorted(GLOBAL_CRITERIA)}, "
                f"got {self.global_criterion!r}"
            )

    @property
    def structured(self) -> bool:
        return self.method in STRUCTURED

    @property
    def id(self) -> str:
        """Readable test id, e.g. ``ln_structured-L2-dim0-0.3``."""
        parts = [self.method]
        if self.method == "ln_structured":
            parts.append(f"L{self.n}")
        if self.structured:
            parts.append(f"dim{self.dim}")
        if self.method == "global_unstructured":
            parts.append(self.global_criterion)
        if self.method != "custom_from_mask":
            parts.append(f"{self.amount:g}")
        return "-".join(parts)

    def to_dict(self) -> dict[str, object]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["targets"], out["module_types"] = list(self.targets), list(self.module_types)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruneConfig:
        """The config ``to_dict`` wrote (validated again)."""
        return config_from_dict(cls, data, ())


def _norm(n: int | float | str) -> int | float | str:
    return math.inf if n == "inf" else n


def units_to_prune(amount: float | int, units: int) -> int:
    """How many of ``units`` an amount removes: the int itself, or ``round(amount * units)``."""
    if isinstance(amount, numbers.Integral):
        return int(amount)
    return round(float(amount) * units)


def prune_targets(model: nn.Module, config: PruneConfig) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module of ``config.module_types`` matching ``config.targets``.

    Raises ValueError if nothing matches or a match has no parameter ``config.name``.
    """
    types = tuple(MODULE_TYPES[t] for t in config.module_types)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, types) and any(fnmatch.fnmatch(name, p) for p in config.targets)
    ]
    if not found:
        raise ValueError(
            f"no {'/'.join(config.module_types)} module matches targets {list(config.targets)}"
        )
    for name, module in found:
        params = dict(module.named_parameters(recurse=False))
        if config.name not in params and f"{config.name}_orig" not in params:
            raise ValueError(
                f"module {name!r} ({type(module).__name__}) has no parameter {config.name!r}; "
                f"it has {sorted(params)}"
            )
    return found


def _check_units(name: str, weight: torch.Tensor, config: PruneConfig) -> None:
    if config.structured:
        if not -weight.dim() <= config.dim < weight.dim():
            raise ValueError(
                f"{name}: dim {config.dim} is out of range for a weight of shape "
                f"{tuple(weight.shape)}"
            )
        units, what = weight.shape[config.dim], f"slices along dim {config.dim}"
    else:
        units, what = weight.numel(), "weights"
    if units_to_prune(config.amount, units) > units:
        raise ValueError(f"{name}: amount {config.amount} is more than its {units} {what}")


def prune(
    model: nn.Module, config: PruneConfig, *, masks: Mapping[str, torch.Tensor] | None = None
) -> nn.Module:
    """A pruned deep copy of ``model`` (masks applied by forward pre-hooks, as torch does).

    ``masks`` (custom_from_mask only) maps each target module's name to a 0/1 tensor of its
    parameter's shape. Call ``make_permanent`` to fold the masks into the weights.
    """
    out = copy_model(model)
    targets = prune_targets(out, config)
    if config.method == "custom_from_mask":
        _check_masks(targets, config, masks)
    elif masks is not None:
        raise ValueError(f"masks are only used by custom_from_mask, not {config.method}")
    torch.manual_seed(config.seed)
    if config.method == "global_unstructured":
        total = sum(getattr(m, config.name).numel() for _, m in targets)
        if units_to_prune(config.amount, total) > total:
            raise ValueError(f"amount {config.amount} is more than the {total} target weights")
        tprune.global_unstructured(
            [(m, config.name) for _, m in targets],
            pruning_method=GLOBAL_CRITERIA[config.global_criterion],
            amount=config.amount,
        )
        return out
    for name, module in targets:
        weight = getattr(module, config.name)
        if config.method != "custom_from_mask":
            _check_units(name, weight, config)
        if config.method == "random_unstructured":
            tprune.random_unstructured(module, config.name, amount=config.amount)
        elif config.method == "l1_unstructured":
            tprune.l1_unstructured(module, config.name, amount=config.amount)
        elif config.method == "random_structured":
            tprune.random_structured(module, config.name, amount=config.amount, dim=config.dim)
        elif config.method == "ln_structured":
            tprune.ln_structured(
                module, config.name, amount=config.amount, n=_norm(config.n), dim=config.dim
            )
        else:
            mask = masks[name].to(dtype=weight.dtype)  # type: ignore[index]
            tprune.custom_from_mask(module, config.name, mask=mask)
    return out


def _check_masks(
    targets: list[tuple[str, nn.Module]],
    config: PruneConfig,
    masks: Mapping[str, torch.Tensor] | None,
) -> None:
    if masks is None:
        raise ValueError("custom_from_mask needs masks: {module name: 0/1 tensor}")
    names = {name for name, _ in targets}
    if missing := sorted(names - set(masks)):
        raise ValueError(f"no mask for target module(s) {missing}")
    if extra := sorted(set(masks) - names):
        raise ValueError(f"mask(s) for {extra}, which are not targets {sorted(names)}")
    for name, module in targets:
        shape, mask = tuple(getattr(module, config.name).shape), masks[name]
        if tuple(mask.shape) != shape:
            raise ValueError(
                f"mask for {name}.{config.name} has shape {tuple(mask.shape)}, expected {shape}"
            )
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"mask for {name}.{config.name} must hold only 0 and 1")


def _pruning_hooks(model: nn.Module) -> list[tuple[nn.Module, tprune.BasePruningMethod]]:
    return [
        (module, hook)
        for module in model.modules()
        for hook in module._forward_pre_hooks.values()
        if isinstance(hook, tprune.BasePruningMethod)
    ]


def copy_model(model: nn.Module) -> nn.Module:
    """Deep copy that also works on a pruned model (whose masked weights are not leaves)."""
    hooks = _pruning_hooks(model)
    memo: dict[int, object] = {id(getattr(m, h._tensor_name)): None for m, h in hooks}
    out = copy.deepcopy(model, memo)
    for module, hook in _pruning_hooks(out):
        setattr(module, hook._tensor_name, hook.apply_mask(module))
    return out


def make_permanent(model: nn.Module) -> nn.Module:
    """A copy with every pruning mask folded into its weight and the hooks removed."""
    out = copy_model(model)
    for module, hook in _pruning_hooks(out):
        tprune.remove(module, hook._tensor_name)
    return out


def n_m_mask(weight: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:
    """Semi-structured N:M mask (e.g. 2:4): in each group of ``m`` consecutive weights of a row
    (the row flattened over the input dims, last group padded), keep the ``n`` largest |w|.

    Rows whose length is a multiple of ``m`` end up exactly ``1 - n/m`` sparse.
    """
    if not 0 < n <= m:
        raise ValueError(f"need 0 < n <= m, got n={n}, m={m}")
    rows = weight.detach().reshape(weight.shape[0], -1).abs()
    width = rows.shape[1]
    padded = torch.nn.functional.pad(rows, (0, (-width) % m), value=-1.0)  # pads never win
    groups = padded.reshape(rows.shape[0], -1, m)
    keep = torch.zeros_like(groups)
    keep.scatter_(2, groups.topk(n, dim=2).indices, 1.0)
    keep = keep.reshape(rows.shape[0], -1)[:, :width]
    return keep.reshape(weight.shape)
