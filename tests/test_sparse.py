"""Unit tests for compress.prune.sparse: lossless CSR / bitmask encodings and their sizes.

(``sparsity_report`` is exercised by tests/test_prune.py, which measures every method with it.)
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.measure.meters import serialized_size
from compress.prune.sparse import decode, encode_bitmask, encode_csr, sparse_size
from compress.prune.unstructured import PruneConfig, prune


def _sparse_weight() -> torch.Tensor:
    weight = torch.zeros(8, 8)
    weight[torch.arange(8), torch.arange(8)] = torch.arange(1.0, 9.0)
    weight[0, 7] = -3.0
    return weight


def test_encodings_are_lossless_and_sized_by_hand() -> None:
    weight = _sparse_weight()  # 9 nonzeros of 64
    bitmask, csr = encode_bitmask(weight), encode_csr(weight)
    assert bitmask["bits"].numel() == 8 and bitmask["values"].numel() == 9  # 64 bits = 8 bytes
    assert csr["crow"].numel() == 9 and csr["col"].numel() == 9 and csr["values"].numel() == 9
    assert torch.equal(decode(bitmask), weight)
    assert torch.equal(decode(csr), weight)
    conv = torch.randn(4, 2, 3, 3) * (torch.rand(4, 2, 3, 3) > 0.5)
    assert torch.equal(decode(encode_bitmask(conv)), conv)
    assert torch.equal(decode(encode_csr(conv)), conv)


def test_sparse_size_pays_off_only_when_sparse_enough() -> None:
    model = nn.Linear(256, 256, bias=False)
    dense = serialized_size(model)
    sparse = prune(model, PruneConfig("l1_unstructured", 0.9))
    mild = prune(model, PruneConfig("l1_unstructured", 0.1))
    # bitmask: 8 KiB of bits + 4 B per kept weight; CSR: 12 B per kept weight + row pointers
    assert sparse_size(sparse, encoding="bitmask") < 0.2 * dense
    assert sparse_size(sparse, encoding="csr") < 0.35 * dense
    assert sparse_size(mild, encoding="bitmask") < dense
    assert sparse_size(mild, encoding="csr") > 2.5 * dense
    with pytest.raises(ValueError, match="encoding"):
        sparse_size(sparse, encoding="coo")
