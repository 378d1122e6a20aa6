"""Unit tests for the char-level Chinese BERT: vocabulary, tokenizer, training, label map."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import BertForSequenceClassification

from fixtures.data.chinese_news import NewsSplit
from fixtures.recipes import chinese_bert
from fixtures.recipes.chinese_bert import (
    SPECIAL_TOKENS,
    CharBertRecipe,
    build_tokenizer,
    char_bert_classifier,
    char_bert_config,
    char_vocab,
    check_label_map,
    encode_news,
    finetuned_hub_classifier,
    load_news_classifier,
)
from fixtures.store.errors import InputError, SourceUnavailable

TINY = CharBertRecipe(
    hidden=64, layers=1, intermediate=128, max_positions=64, train_length=16, epochs=12,
    batch_size=8, lr=3e-3, warmup_ratio=0.0, dropout=0.0,
)  # fmt: skip


def toy_split(n: int = 24) -> NewsSplit:
    """Class 体育 always contains 球, class 汽车 always contains 车 (trivially separable)."""
    fill = "的了在是有和就不人都一"
    texts, labels = [], []
    for i in range(n):
        key = "球" if i % 2 == 0 else "车"
        texts.append(fill[i % 7 : i % 7 + 3] + key + fill[(i * 3) % 8 : (i * 3) % 8 + 3])
        labels.append(i % 2)
    return NewsSplit(tuple(texts), tuple(labels), ("体育", "汽车"), "toy", f"toy-{n}")


# ---------------------------------------------------------------------------- vocabulary


def test_char_vocab_order_and_continuations() -> None:
    vocab = char_vocab(["AB车车", "车 1A"], min_count=1)
    # specials, then by count (车 3, A 2), then ties by code point (1 < B), then ## of non-CJK
    assert vocab == [*SPECIAL_TOKENS, "车", "A", "1", "B", "##A", "##1", "##B"]
    assert char_vocab(["AB车车", "车 1A"], min_count=2) == [*SPECIAL_TOKENS, "车", "A", "##A"]


def test_tokenizer_splits_every_character(tmp_path: Path) -> None:
    tok = build_tokenizer(char_vocab(["恒生AH指数1.95%"]), tmp_path)
    ids = tok("恒生AH 1.95% 新")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == [
        "[CLS]", "恒", "生", "A", "##H", "1", ".", "9", "##5", "%", "[UNK]", "[SEP]",
    ]  # fmt: skip
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:5] == list(
        SPECIAL_TOKENS
    )
    with pytest.raises(ValueError, match="must start with"):
        build_tokenizer(["a", "b"], tmp_path / "x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": 100}, "multiple of 64"),
        ({"layers": 0}, "layers must be >= 1"),
        ({"train_length": 600}, "train_length must be in"),
        ({"position_shift": 500}, "position_shift must be in"),
        ({"lr": 0.0}, "invalid optimiser"),
        ({"dropout": 1.0}, "dropout must be in"),
    ],
    ids=["hidden", "layers", "train-length", "shift", "lr", "dropout"],
)
def test_recipe_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CharBertRecipe(**kwargs)


# ---------------------------------------------------------------------------- training


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPRESS_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_trains_learns_saves_and_caches(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = toy_split()
    source = char_bert_classifier(data, TINY, threads=1)
    entry = Path(source.name_or_path)
    assert entry.is_relative_to(cache)
    config = json.loads((entry / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "体育", "1": "汽车"}
    assert config["label2id"] == {"体育": 0, "汽车": 1}
    model, tokenizer = load_news_classifier(source, data.label_names)
    enc = encode_news(tokenizer, data, max_length=16)
    with torch.inference_mode():
        pred = model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits.argmax(-1)
    assert pred.tolist() == list(data.labels)  # learned the key character
    monkeypatch.setattr(chinese_bert, "train_classifier_", lambda *a: pytest.fail("retrained"))
    assert char_bert_classifier(data, TINY, threads=1) == source


@pytest.mark.parametrize("shift", [0, 48])
def test_position_shift_trains_positions_beyond_the_training_length(cache: Path, shift) -> None:
    recipe = CharBertRecipe(**{**TINY.__dict__, "epochs": 2, "position_shift": shift})
    data = toy_split(8)
    model, tokenizer = load_news_classifier(char_bert_classifier(data, recipe), data.label_names)
    torch.manual_seed(recipe.seed)  # the initial weights, rebuilt the way training built them
    init = BertForSequenceClassification(
        char_bert_config(recipe, len(tokenizer), data.label_names)
    ).bert.embeddings.position_embeddings.weight
    trained = model.bert.embeddings.position_embeddings.weight
    cosine = torch.nn.functional.cosine_similarity(init, trained, dim=1)
    # a row that got no gradient was only shrunk by weight decay: same direction
    moved = {i for i, c in enumerate(cosine.tolist()) if c < 1 - 1e-5}
    width = 9  # [CLS] + 7 characters + [SEP]: unshifted training uses positions 0..8
    beyond = {i for i in moved if i >= width}
    if shift == 0:
        assert set(range(width)) <= moved and not beyond
    else:  # positions past the texts' length got trained, within the shifted range
        assert beyond and max(beyond) <= shift + width - 1


def test_padding_length_does_not_change_predictions(cache: Path) -> None:
    """The sweep pads to 128/256/384: the attention mask must make that invisible."""
    data = toy_split(8)
    source = char_bert_classifier(data, TINY, threads=1)
    model, tokenizer = load_news_classifier(source, data.label_names)
    short, long = encode_news(tokenizer, data, 16), encode_news(tokenizer, data, 64)
    assert short.input_ids.shape == (8, 16) and long.input_ids.shape == (8, 64)
    with torch.inference_mode():
        a = model(input_ids=short.input_ids, attention_mask=short.attention_mask).logits
        b = model(input_ids=long.input_ids, attention_mask=long.attention_mask).logits
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- label map


def test_label_map_that_does_not_match_the_head(cache: Path) -> None:
    data = toy_split(8)
    source = char_bert_classifier(data, CharBertRecipe(**{**TINY.__dict__, "epochs": 1}))
    with pytest.raises(InputError, match=r"config\.json: the label map has 3 labels .* 2 outputs"):
        load_news_classifier(source, ("体育", "汽车", "军事"))
    with pytest.raises(InputError, match=r"id2label \['体育', '汽车'\] differs"):
        load_news_classifier(source, ("汽车", "体育"))


def test_check_label_map_on_a_random_head() -> None:
    from fixtures.models.bert import TINY as DIMS
    from fixtures.models.bert import random_classifier

    model = random_classifier(DIMS, num_labels=5)
    with pytest.raises(InputError, match=r"has 10 labels .* 5 outputs"):
        check_label_map(model, [f"c{i}" for i in range(10)], "/models/x")


def test_hub_model_offline_is_source_unavailable(cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("COMPRESS_BENCH_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match="bert-base-chinese"):
        finetuned_hub_classifier(toy_split(4), TINY)
