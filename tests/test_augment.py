"""Augmentation for distillation: config checks, embedding neighbours, word replacement, the
teacher's labels for augmented rows, and the augmented MRPC-style setup end to end (tiny)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertTokenizerFast

from compress.distill.augment import UNLABELED, AugmentConfig, augment_texts, word_neighbours
from compress.distill.kd import (
    DistillConfig,
    TeacherTargets,
    distillation_loss,
    fill_teacher_labels,
)
from compress.measure.meters import pinned_threads
from fixtures.data.glue import PairSplit
from fixtures.models.bert import TINY, random_classifier
from fixtures.recipes.distill import MrpcDistillation
from fixtures.store.pretrained import ModelSource


@pytest.mark.parametrize(
    "kwargs",
    [
        {"copies": 0},
        {"copies": True},
        {"copies": 1.5},
        {"replace_prob": 0.0},
        {"replace_prob": 1.5},
        {"neighbours": 0},
    ],
    ids=str,
)
def test_bad_configs_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AugmentConfig(**kwargs)


VOCAB = {"[PAD]": 0, "[CLS]": 1, "cat": 2, "dog": 3, "car": 4, "##s": 5, "a": 6, "truck": 7}
# cat ~ dog, car ~ truck; the other rows are nearest to everything but must never be chosen
EMB = torch.tensor(
    [[9.0, 9], [9, 9], [1, 0.1], [1, 0.2], [0.1, 1], [1, 1], [1, 0.15], [0.2, 1]]
)  # fmt: skip


def test_word_neighbours_are_whole_words_by_cosine() -> None:
    table = word_neighbours(VOCAB, EMB, 1)
    assert table == {"cat": ("dog",), "dog": ("cat",), "car": ("truck",), "truck": ("car",)}
    assert word_neighbours(VOCAB, EMB, 3, chunk=1)["cat"] == ("dog", "truck", "car")


def test_word_neighbours_bad_input() -> None:
    with pytest.raises(ValueError, match="need more than 4 whole-word"):
        word_neighbours(VOCAB, EMB, 4)
    with pytest.raises(ValueError, match="tokenizer and model do not match"):
        word_neighbours(VOCAB, EMB[:5], 1)


TABLE = {"good": ("great", "fine"), "film": ("movie",)}


def test_every_replaceable_word_is_replaced_at_probability_one() -> None:
    config = AugmentConfig(copies=2, replace_prob=1.0, neighbours=1)
    first, second = augment_texts(["A Good film, good"], ["film ."], TABLE, config)
    # "Good" matches case-insensitively; "film," keeps its comma so it is not a word here;
    # neighbours=1 keeps only the nearest candidate
    assert first == ["A great film, great"] * 2
    assert second == ["movie ."] * 2


def test_copies_are_copy_major_seeded_and_partial() -> None:
    texts = [f"good film {i}" for i in range(50)]
    config = AugmentConfig(copies=3, replace_prob=0.5, seed=1)
    first, second = augment_texts(texts, None, TABLE, config)
    assert second is None and len(first) == 150
    assert [t.split()[-1] for t in first[:50]] == [str(i) for i in range(50)]  # copy 1 first
    assert first == augment_texts(texts, None, TABLE, config)[0]
    assert first != augment_texts(texts, None, TABLE, AugmentConfig(3, 0.5, seed=2))[0]
    changed = sum(t != o for t, o in zip(first, texts * 3, strict=True)) / len(first)
    assert 0.5 < changed < 0.95  # two words each replaced with p=0.5: 75% of texts change


@pytest.mark.parametrize("same_in_pair", [True, False], ids=["same-in-pair", "independent"])
def test_pair_replacements(same_in_pair: bool) -> None:
    """Same-in-pair: a word shared by both sentences gets one replacement (and within a
    sentence too); independent: occurrences are drawn on their own, so they differ."""
    pair = (["good film good film"] * 200, ["film good"] * 200)
    config = AugmentConfig(copies=1, replace_prob=0.5, same_in_pair=same_in_pair)
    first, second = augment_texts(*pair, TABLE, config)
    assert second is not None
    consistent = [
        len({a[0], a[2], b[1]}) == 1 and len({a[1], a[3], b[0]}) == 1
        for a, b in ((x.split(), y.split()) for x, y in zip(first, second, strict=True))
    ]
    assert all(consistent) if same_in_pair else not all(consistent)
    assert len(set(first)) > 2  # still random across pairs


def test_pairs_must_have_equal_lengths() -> None:
    with pytest.raises(ValueError, match="2 first sentences but 1 second"):
        augment_texts(["a", "b"], ["c"], TABLE, AugmentConfig())


def test_fill_teacher_labels_keeps_gold_and_labels_the_rest() -> None:
    batch = {"input_ids": torch.zeros(4, 3), "labels": torch.tensor([1, UNLABELED, 0, UNLABELED])}
    logits = torch.tensor([[0.0, 1], [2, 1], [0, 3], [0, 1]])
    targets = TeacherTargets((logits,), ({},), ())
    (filled,) = fill_teacher_labels([batch], targets)
    assert filled["labels"].tolist() == [1, 0, 0, 1]
    assert batch["labels"][1] == UNLABELED  # input untouched
    with pytest.raises(ValueError, match="1 teacher targets for 2 batches"):
        fill_teacher_labels([batch, batch], targets)
    with pytest.raises(ValueError, match="logits for 2 rows, batch has 4"):
        fill_teacher_labels([batch], TeacherTargets((logits[:2],), ({},), ()))


def test_cross_entropy_refuses_unlabelled_rows() -> None:
    logits, labels = torch.zeros(2, 2), torch.tensor([1, UNLABELED])
    with pytest.raises(ValueError, match="fill_teacher_labels"):
        distillation_loss(DistillConfig(), logits, labels, logits)
    loss, parts = distillation_loss(DistillConfig(ce_weight=0, kd_weight=1), logits, labels, logits)
    assert set(parts) == {"kd"} and float(loss) == pytest.approx(0.0)


WORDS = ["good", "great", "fine", "film", "movie", "picture", "bad", "poor", "awful", "plot"]


@pytest.fixture
def tiny_teacher(tmp_path: Path) -> ModelSource:
    """A random-init 2-layer BERT classifier and a word-level tokenizer, saved to disk."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path / "model")
    random_classifier({**TINY, "vocab_size": len(vocab)}).save_pretrained(tmp_path / "model")
    return ModelSource(str(tmp_path / "model"), "tiny random teacher", "sha256:tiny")


def test_augmented_distillation_end_to_end(tiny_teacher: ModelSource, tmp_path: Path) -> None:
    rng = torch.Generator().manual_seed(0)
    picks = torch.randint(len(WORDS), (40, 5), generator=rng).tolist()
    texts = tuple(" ".join(WORDS[i] for i in row) for row in picks)
    train = PairSplit(texts[:20], texts[20:], (0, 1) * 10, source="toy", sha256="0" * 64)
    aug = AugmentConfig(copies=2, replace_prob=0.5, neighbours=3)
    setup = MrpcDistillation(
        tiny_teacher, train, layers=(1,), teacher_layers=(), augment=aug, root=tmp_path / "c"
    )
    assert len(setup.data) == 60 and setup.data.labels[20:] == (UNLABELED,) * 40
    assert setup.data.sentence1[:20] == train.sentence1
    changed = zip(setup.data.sentence1[20:], texts[:20] * 2, strict=True)
    assert sum(a != b for a, b in changed) > 10
    labels = torch.cat([b["labels"] for b in setup.batches])
    assert len(labels) == 60 and bool((labels >= 0).all())
    assert "augmented copies" in setup.describe()
    config = DistillConfig(ce_weight=0.5, kd_weight=0.5, lr=1e-3)
    with pinned_threads(1):
        student = setup.student(config)
    assert student.config.num_hidden_layers == 1
    plain = MrpcDistillation(tiny_teacher, train, layers=(1,), teacher_layers=())
    assert "augment" in setup._key() and "augment" not in plain._key()
    assert len(plain.data) == 20
