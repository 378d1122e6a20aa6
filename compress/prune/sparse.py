"""What pruning's zeros amount to: sparsity as measured, and sparse checkpoint encodings.

``sparsity_report`` counts the zeros of the weights a (pruned) model computes with, per layer
and overall, with whole zero rows and columns. ``encode_csr`` (torch CSR, int64 indices) and
``encode_bitmask`` (one bit per weight plus the kept values) store a weight losslessly
(``decode`` inverts both); ``sparse_size`` is the ``torch.save`` size of a permanent state
dict with every target weight so encoded: what a sparse checkpoint would cost, against the
dense one that pruning alone never shrinks. Targets are chosen by a
:class:`compress.prune.unstructured.PruneConfig`.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from compress.prune.unstructured import PruneConfig, make_permanent, prune_targets

ENCODINGS = ("csr", "bitmask")


@dataclass(frozen=True)
class LayerSparsity:
    """Zeros in one weight as the model computes with it (masks applied)."""

    name: str
    shape: tuple[int, ...]
    zeros: int
    total: int
    zero_rows: int  # slices along dim 0 that are entirely zero (output rows / channels)
    zero_cols: int  # slices along dim 1 that are entirely zero (input columns / channels)

    @property
    def sparsity(self) -> float:
        return self.zeros / self.total


@dataclass(frozen=True)
class SparsityReport:
    """Per-layer and overall sparsity of the weights a model computes with."""

    layers: tuple[LayerSparsity, ...]

    @property
    def zeros(self) -> int:
        return sum(layer.zeros for layer in self.layers)

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers)

    @property
    def sparsity(self) -> float:
        return self.zeros / self.total if self.total else 0.0

    def table(self) -> list[dict[str, object]]:
        """Rows for tabulate / extra_info."""
        return [
            {
                "layer": layer.name,
                "shape": list(layer.shape),
                "sparsity": round(layer.sparsity, 6),
                "zero_rows": layer.zero_rows,
                "zero_cols": layer.zero_cols,
            }
            for layer in self.layers
        ]


def sparsity_report(model: nn.Module, config: PruneConfig | None = None) -> SparsityReport:
    """Measure zeros in the (effective) weights of ``config``'s targets (default: all)."""
    config = config or PruneConfig()
    rows = []
    for name, module in prune_targets(model, config):
        weight = getattr(module, config.name).detach()
        zero = weight == 0
        flat = zero.reshape(weight.shape[0], -1)
        cols = zero.transpose(0, 1).reshape(weight.shape[1], -1) if weight.dim() > 1 else flat
        rows.append(
            LayerSparsity(
                _key(name, config.name),
                tuple(weight.shape),
                int(zero.sum()),
                weight.numel(),
                int(flat.all(1).sum()),
                int(cols.all(1).sum()) if weight.dim() > 1 else 0,
            )
        )
    return SparsityReport(tuple(rows))


def _key(module: str, param: str) -> str:
    return f"{module}.{param}" if module else param


def encode_csr(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """torch's CSR of the weight viewed as (rows, -1): int64 row pointers and columns."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        csr = weight.detach().reshape(weight.shape[0], -1).to_sparse_csr()
    return {  # clones: torch.save would otherwise store the whole shared storage
        "crow": csr.crow_indices().clone(),
        "col": csr.col_indices().clone(),
        "values": csr.values().clone(),
        "shape": torch.tensor(weight.shape),
    }


def encode_bitmask(weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """One bit per weight (1 = kept, packed 8 per byte) plus the kept values in order."""
    flat = weight.detach().reshape(-1)
    keep = flat != 0
    return {
        "bits": torch.from_numpy(np.packbits(keep.numpy())),
        "values": flat[keep].clone(),
        "shape": torch.tensor(weight.shape),
    }


def decode(encoded: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The dense weight back from ``encode_csr`` or ``encode_bitmask`` (lossless)."""
    shape = tuple(encoded["shape"].tolist())
    if "bits" in encoded:
        numel = math.prod(shape)
        keep = torch.from_numpy(np.unpackbits(encoded["bits"].numpy())[:numel].astype(bool))
        dense = torch.zeros(numel, dtype=encoded["values"].dtype)
        dense[keep] = encoded["values"]
        return dense.reshape(shape)
    rows = shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        csr = torch.sparse_csr_tensor(
            encoded["crow"], encoded["col"], encoded["values"], (rows, math.prod(shape) // rows)
        )
        return csr.to_dense().reshape(shape)


def sparse_state_dict(
    model: nn.Module, config: PruneConfig | None = None, encoding: str = "bitmask"
) -> dict[str, object]:
    """The model's permanent state dict with each target weight sparse-encoded."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    config = config or PruneConfig()
    dense = make_permanent(model)
    encode = encode_csr if encoding == "csr" else encode_bitmask
    encoded_keys = {_key(name, config.name) for name, _ in prune_targets(dense, config)}
    return {
        key: encode(value) if key in encoded_keys else value
        for key, value in dense.state_dict().items()
    }


def sparse_size(
    model: nn.Module, config: PruneConfig | None = None, encoding: str = "bitmask"
) -> int:
    """Bytes of ``torch.save`` of ``sparse_state_dict``: what a sparse checkpoint would cost."""
    buffer = io.BytesIO()
    torch.save(sparse_state_dict(model, config, encoding), buffer)
    return buffer.getbuffer().nbytes
