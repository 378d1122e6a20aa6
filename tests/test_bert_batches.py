"""fixtures.bert.Encoded: batch dicts cut from a padded split."""

from __future__ import annotations

import torch

from fixtures.bert import Encoded


def _encoded() -> Encoded:
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]])
    ids = torch.arange(12).reshape(3, 4) * mask
    return Encoded(ids, torch.zeros_like(ids), mask, torch.tensor([0, 1, 0]))


def test_take_trims_to_the_longest_row_of_the_selection() -> None:
    batch = _encoded().take(torch.tensor([0, 2]))
    assert batch["input_ids"].tolist() == [[0, 1], [8, 0]]
    assert batch["labels"].tolist() == [0, 0]
    assert _encoded().take(torch.tensor([0, 2]), trim=False)["input_ids"].shape == (2, 4)


def test_batches_cover_every_row_once_in_order_or_shuffled() -> None:
    data = _encoded()
    plain = data.batches(2)
    assert [b["labels"].tolist() for b in plain] == [[0, 1], [0]]
    assert all(b["input_ids"].shape[1] == 4 for b in plain)  # no trim: padded length kept
    shuffled = data.batches(2, shuffle=True, seed=3, trim=True)
    rows = torch.cat([b["input_ids"][:, 0] for b in shuffled]).sort().values.tolist()
    assert rows == [0, 4, 8]
