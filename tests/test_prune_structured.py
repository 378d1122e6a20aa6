"""Unit tests for compress.prune.structured, prune.fine_prune, fixtures.recipes.fine_prune."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compress.prune.fine_prune import StructuredPruneConfig, cubic_sparsity, fine_prune
from compress.prune.structured import (
    Gates,
    Masks,
    compact,
    expand,
    expected_parameters,
    magnitude_scores,
    select_masks,
    shape_report,
)
from fixtures.data.glue import PairSplit
from fixtures.models.bert import TINY, Encoded, random_classifier, synthetic_batch
from fixtures.recipes import fine_prune as fixture_fine_prune
from fixtures.store.pretrained import ModelSource

# TINY: 2 layers, hidden 64, 4 heads of 16, FFN 256.
HIDDEN, HEAD, HEADS, FFN = 64, 16, 4, 256


def _batch(seed: int = 0, size: int = 3, length: int = 12) -> dict[str, torch.Tensor]:
    batch = synthetic_batch(TINY["vocab_size"], size, length, seed=seed)
    batch["attention_mask"][0, length // 2 :] = 0  # some padding
    return batch


def _masks(heads: list[list[int]], ffn_kept: list[int]) -> Masks:
    ffn = []
    for kept in ffn_kept:
        mask = torch.zeros(FFN)
        mask[torch.randperm(FFN, generator=torch.Generator().manual_seed(kept))[:kept]] = 1.0
        ffn.append(mask)
    return Masks([torch.tensor(h, dtype=torch.float32) for h in heads], ffn)


# ---- config and schedule --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"head_sparsity": 1.2}, "head_sparsity"),
        ({"ffn_sparsity": -0.1}, "ffn_sparsity"),
        ({"score": "fisher"}, "score"),
        ({"min_heads": 0}, "must be >= 1"),
        ({"warmup_ratio": 0.6, "cooldown_ratio": 0.5}, "sum < 1"),
        ({"epochs": 0}, "must be > 0"),
    ],
)
def test_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StructuredPruneConfig(**kwargs)


def test_cubic_schedule_by_hand() -> None:
    # 100 steps: 10 warm-up at 0, cubic ramp over 60, last 30 at the final sparsity
    values = [cubic_sparsity(s, 100, 0.8, 10, 30) for s in (0, 9, 10, 40, 69, 70, 99)]
    assert values[:3] == [0.0, 0.0, 0.0]
    assert values[3] == pytest.approx(0.8 * (1 - 0.5**3))  # half-way: 0.7
    assert 0.79 < values[4] < 0.8 and values[5:] == [0.8, 0.8]


# ---- mask selection -------------------------------------------------------------------------


def test_select_masks_ranks_globally() -> None:
    heads = [torch.tensor([5.0, 1.0, 4.0]), torch.tensor([3.0, 2.0, 6.0])]
    ffn = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])]
    masks = select_masks(heads, ffn, head_sparsity=0.5, ffn_sparsity=0.5)
    # 3 of 6 heads removed: scores 1, 2, 3 go
    assert masks.heads[0].tolist() == [1.0, 0.0, 1.0] and masks.heads[1].tolist() == [0, 0, 1]
    # 2 of 4 neurons removed, but every layer keeps >= 1: layer 0 keeps its best (2.0)
    assert masks.ffn[0].tolist() == [0.0, 1.0] and masks.ffn[1].tolist() == [0.0, 1.0]


def test_removing_every_head_keeps_one_per_layer() -> None:
    heads = [torch.tensor([5.0, 1.0, 4.0]), torch.tensor([3.0, 2.0, 6.0])]
    ffn = [torch.ones(2), torch.ones(2)]
    masks = select_masks(heads, ffn, head_sparsity=1.0, ffn_sparsity=1.0)
    assert masks.heads[0].tolist() == [1.0, 0.0, 0.0] and masks.heads[1].tolist() == [0, 0, 1]
    assert masks.kept() == {"heads": [1, 1], "ffn": [1, 1]}
    with pytest.raises(ValueError, match="at least one head"):
        select_masks(heads, ffn, 1.0, 1.0, min_heads=0)
    with pytest.raises(ValueError, match="head_sparsity"):
        select_masks(heads, ffn, 1.5, 0.0)


def test_magnitude_scores_find_a_dead_head() -> None:
    model = random_classifier(TINY)
    layer = model.bert.encoder.layer[1]
    with torch.no_grad():
        attn = layer.attention.self
        for lin in (attn.query, attn.key, attn.value):
            lin.weight[2 * HEAD : 3 * HEAD] = 0
        layer.attention.output.dense.weight[:, 2 * HEAD : 3 * HEAD] = 0
    heads, ffn = magnitude_scores(model)
    assert heads[1][2] == 0 and (heads[1][[0, 1, 3]] > 0).all()
    assert [h.shape for h in heads] == [(HEADS,)] * 2 and [f.shape for f in ffn] == [(FFN,)] * 2
    masks = select_masks(heads, ffn, 1 / 8, 0.0)
    assert masks.heads[1].tolist() == [1.0, 1.0, 0.0, 1.0] and masks.heads[0].sum() == HEADS


# ---- gates, compaction ----------------------------------------------------------------------


def test_all_ones_gates_change_nothing_and_hooks_go_away() -> None:
    model = random_classifier(TINY)
    batch = _batch()
    plain = model(**batch).logits
    with Gates(model, Masks.ones(model)):
        assert torch.equal(model(**batch).logits, plain)
    assert all(not layer.output.dense._forward_pre_hooks for layer in model.bert.encoder.layer)


def test_compact_matches_the_masked_model() -> None:
    model = random_classifier(TINY)
    masks = _masks([[1, 0, 1, 0], [0, 0, 1, 0]], [100, 7])
    batch = _batch()
    with Gates(model, masks), torch.no_grad():
        masked = model(**batch).logits
    small = compact(model, masks)
    with torch.no_grad():
        assert torch.allclose(small(**batch).logits, masked, atol=1e-5)
    # by hand: a head costs 16 * (3 * 64 + 3 + 64) = 4144, a neuron 64 + 1 + 64 = 129
    removed = (2 + 3) * HEAD * (3 * HIDDEN + 3 + HIDDEN) + (FFN - 100 + FFN - 7) * (2 * HIDDEN + 1)
    full = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in small.parameters()) == full - removed
    assert expected_parameters(model, masks) == full - removed
    layer = small.bert.encoder.layer[1]
    assert layer.attention.self.query.weight.shape == (HEAD, HIDDEN)
    assert layer.attention.output.dense.weight.shape == (HIDDEN, HEAD)
    assert layer.intermediate.dense.weight.shape == (7, HIDDEN)
    assert layer.output.dense.weight.shape == (HIDDEN, 7)
    assert model.bert.encoder.layer[1].intermediate.dense.out_features == FFN  # input untouched


def test_shape_report_and_expand() -> None:
    model = random_classifier(TINY)
    masks = _masks([[1, 1, 1, 0], [1, 0, 0, 0]], [64, 32])
    small = compact(model, masks)
    report = shape_report(model, small)
    rows = {(r["layer"], r["weight"]): (r["before"], r["after"]) for r in report}
    assert rows[(0, "heads")] == (4, 3)
    assert rows[(1, "intermediate.dense")] == ([FFN, HIDDEN], [32, HIDDEN])
    assert rows[(1, "attention.output.dense")] == ([HIDDEN, HIDDEN], [HIDDEN, HEAD])
    with torch.no_grad():  # change the small model, expand it back, compact again
        for p in small.parameters():
            p.add_(0.01)
    again = compact(expand(model, small, masks), masks)
    for a, b in zip(small.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_compact_rejects_a_layer_without_heads() -> None:
    model = random_classifier(TINY)
    with pytest.raises(ValueError, match="layer 1 would keep 0 heads"):
        compact(model, _masks([[1, 0, 0, 0], [0, 0, 0, 0]], [10, 10]))
    with pytest.raises(ValueError, match="expected"):
        compact(model, _masks([[1, 0, 0], [1, 0, 0]], [10, 10]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        compact(model, Masks([torch.full((4,), 0.5)] * 2, [torch.ones(FFN)] * 2))
    with pytest.raises(ValueError, match="not a BERT"):
        compact(nn.Linear(2, 2), Masks.ones(model))


def test_masks_round_trip() -> None:
    masks = _masks([[1, 0, 1, 0], [0, 0, 1, 0]], [100, 7])
    again = Masks.from_dict(masks.to_dict())
    pairs = zip(masks.heads + masks.ffn, again.heads + again.ffn, strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


# ---- fine-pruning ---------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["magnitude", "movement", "taylor"])
def test_fine_prune_reaches_the_target(score: str) -> None:
    model = random_classifier(TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = [{**_batch(seed=i, size=4), "labels": torch.tensor([0, 1, 0, 1])} for i in range(3)]
    config = StructuredPruneConfig(
        head_sparsity=0.5, ffn_sparsity=0.75, score=score, epochs=2, update_every=1
    )
    result = fine_prune(model, config, batches=lambda epoch: data, teacher=model)
    assert result.masks.kept()["heads"] and sum(result.masks.kept()["heads"]) == 4  # 8 - 4
    assert sum(result.masks.kept()["ffn"]) == 128  # 512 - 384
    assert [h["head"] for h in result.history] == sorted(h["head"] for h in result.history)
    assert result.history[-1]["head"] == 0.5 and result.history[-1]["ffn"] == 0.75
    assert result.model.bert.encoder.layer[0].intermediate.dense.out_features == FFN
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    batch = _batch()
    with Gates(result.model, result.masks), torch.no_grad():
        masked = result.model(**batch).logits
    with torch.no_grad():
        small = compact(result.model, result.masks)
        assert torch.allclose(small(**batch).logits, masked, atol=1e-5)


def test_bucketed_batches_cover_every_row_once() -> None:
    lengths = torch.tensor([5, 9, 3, 12, 7, 4, 10, 6, 8, 11])
    mask = (torch.arange(12) < lengths[:, None]).long()
    data = Encoded(torch.arange(10)[:, None].repeat(1, 12), mask * 0, mask, torch.arange(10))
    out = data.bucketed(3, seed=0, bucket=2)
    assert sorted(torch.cat([b["labels"] for b in out]).tolist()) == list(range(10))
    for batch in out:
        assert batch["input_ids"].shape[1] == int(lengths[batch["labels"]].max())
    with pytest.raises(ValueError):
        data.bucketed(0, seed=0)


def test_fine_pruned_cache_key_names_a_distinct_teacher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Self-distillation keeps the original key (cached entries stay valid); another teacher
    (a pretrained start taught by the fine-tuned model) is part of the key."""
    keys = []

    def capture(kind: str, key: dict, build, **_: object):
        keys.append(key)
        raise LookupError("stop")

    monkeypatch.setattr(fixture_fine_prune, "cached_entry", capture)
    start = ModelSource("/pretrained", "pretrained", "sha256:aa")
    tuned = ModelSource("/tuned", "tuned", "finetuned:bb")
    split = PairSplit(("a",), None, (1,), source="t", sha256="0" * 64)
    config = StructuredPruneConfig()
    for teacher in (None, start, tuned):
        with pytest.raises(LookupError):
            fixture_fine_prune.fine_pruned_classifier(start, split, config, teacher=teacher)
    assert "teacher" not in keys[0] and keys[0] == keys[1]
    assert keys[2] == {**keys[0], "teacher": "finetuned:bb"}
