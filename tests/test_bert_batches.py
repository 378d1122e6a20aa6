"""fixtures.models.bert: Encoded batch dicts cut from a padded split; encode_texts by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fixtures.data.glue import PairSplit
from fixtures.models.bert import Encoded, encode_pairs, encode_texts
from fixtures.recipes.chinese_bert import SPECIAL_TOKENS, build_tokenizer


def _encoded() -> Encoded:
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]])
    ids = torch.arange(12).reshape(3, 4) * mask
    return Encoded(ids, torch.zeros_like(ids), mask, torch.tensor([0, 1, 0]))


def test_take_trims_to_the_longest_row_of_the_selection() -> None:
    batch = _encoded().take(torch.tensor([0, 2]))
    assert batch["input_ids"].tolist() == [[0, 1], [8, 0]]
    assert batch["labels"].tolist() == [0, 0]
    assert _encoded().take(torch.tensor([0, 2]), trim=False)["input_ids"].shape == (2, 4)


@pytest.mark.parametrize(
    ("count", "rows"), [(2, [0, 9]), (4, [0, 3, 6, 9]), (10, None), (None, None)]
)
def test_spread_takes_rows_evenly_over_the_split(count: int | None, rows: list | None) -> None:
    ids = torch.arange(10).unsqueeze(1).repeat(1, 4)
    data = Encoded(ids, torch.zeros_like(ids), torch.ones_like(ids), torch.arange(10) % 2)
    out = data.spread(count)
    if rows is None:  # the whole split
        assert out is data
    else:
        assert out.input_ids[:, 0].tolist() == rows and out.labels.tolist() == [r % 2 for r in rows]
        assert out.input_ids.shape[1] == 4  # padding kept
    with pytest.raises(ValueError, match="count"):
        data.spread(0)


def test_batches_cover_every_row_once_in_order_or_shuffled() -> None:
    data = _encoded()
    plain = data.batches(2)
    assert [b["labels"].tolist() for b in plain] == [[0, 1], [0]]
    assert all(b["input_ids"].shape[1] == 4 for b in plain)  # no trim: padded length kept
    shuffled = data.batches(2, shuffle=True, seed=3, trim=True)
    rows = torch.cat([b["input_ids"][:, 0] for b in shuffled]).sort().values.tolist()
    assert rows == [0, 4, 8]


def test_encode_texts_single_and_pairs_by_hand(tmp_path: Path) -> None:
    tokenizer = build_tokenizer([*SPECIAL_TOKENS, "a", "b", "c"], tmp_path)  # a=5, b=6, c=7
    single = encode_texts(tokenizer, ["a b", "c"], [1, 0], max_length=6)
    assert single.input_ids.tolist() == [[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]]  # [CLS] .. [SEP]
    assert single.attention_mask.tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]]
    assert single.token_type_ids.tolist() == [[0] * 6] * 2
    assert single.labels.dtype == torch.long and single.labels.tolist() == [1, 0]
    pair = encode_texts(tokenizer, ["a"], [1], second=["c b"], max_length=8)
    assert pair.input_ids.tolist() == [[2, 5, 3, 7, 6, 3, 0, 0]]
    assert pair.token_type_ids.tolist() == [[0, 0, 0, 1, 1, 1, 0, 0]]
    truncated = encode_texts(tokenizer, ["a b c"], [0], max_length=3)
    assert truncated.input_ids.tolist() == [[2, 5, 3]]


def test_encode_pairs_of_a_single_sentence_split(tmp_path: Path) -> None:
    """A PairSplit without sentence2 (Rotten Tomatoes) encodes one segment per example."""
    tokenizer = build_tokenizer([*SPECIAL_TOKENS, "a", "b", "c"], tmp_path)
    split = PairSplit(("a b", "c"), None, (1, 0), source="test", sha256="0" * 64)
    enc = encode_pairs(tokenizer, split, max_length=5)
    assert enc.input_ids.tolist() == [[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]]
    assert enc.token_type_ids.sum() == 0
    with pytest.raises(ValueError, match="differ in length"):
        PairSplit(("a",), ("b", "c"), (1,), source="test", sha256="0" * 64)


@pytest.mark.parametrize("seed", [None, 0, 1])
def test_by_length_sorts_every_row_and_trims(seed: int | None) -> None:
    lengths = [5, 2, 9, 3, 7, 4, 8]
    mask = torch.zeros(7, 12, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    ids = torch.arange(7).unsqueeze(1).repeat(1, 12)
    data = Encoded(ids, torch.zeros_like(ids), mask, torch.arange(7))
    out = data.by_length(3, seed=seed)
    assert [len(b["labels"]) for b in out] == [3, 3, 1]
    assert sorted(torch.cat([b["labels"] for b in out]).tolist()) == list(range(7))
    assert [b["input_ids"].shape[1] for b in out] == [4, 8, 9]  # each trimmed to its longest
    if seed is None:  # no ties here: the order is the length order
        assert torch.cat([b["labels"] for b in out]).tolist() == [1, 3, 5, 0, 4, 6, 2]


def test_scoring_batches_carry_each_rows_index_sorted_by_length() -> None:
    batches = _encoded().scoring(2)
    assert [b["index"].tolist() for b in batches] == [[2, 0], [1]]  # lengths 1, 2 | 3
    assert [b["input_ids"].shape[1] for b in batches] == [2, 3]
    assert batches[0]["labels"].tolist() == [0, 0]


def test_adding_splits_keeps_this_one_first() -> None:
    joined = _encoded() + _encoded().rows(torch.tensor([1]))
    assert len(joined) == 4 and joined.labels.tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="padded to different lengths"):
        _encoded() + Encoded(*(t[:, :2] if t.ndim == 2 else t for t in
                               (joined.input_ids, joined.token_type_ids,
                                joined.attention_mask, joined.labels)))  # fmt: skip
