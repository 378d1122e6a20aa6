"""The worked examples of docs/suite.md (fixtures.data.examples, fixtures.recipes.examples):
five GLUE-shaped files in their declared layouts, the same bytes on every run; fine-tuned heads
of any shape, with MRPC's cache key as it was; the shipped suite file checked on them."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from transformers import BertConfig, BertModel, BertTokenizerFast

from compress.methods.suite import load_suite
from fixtures.data import examples as data
from fixtures.data.glue import PairSplit
from fixtures.models.bert import TINY
from fixtures.recipes import examples
from fixtures.recipes.declared import check_suite, label_space, read_split
from fixtures.recipes.finetune import FinetuneRecipe, Head, finetune_key, finetuned_classifier
from fixtures.store.cache import recipe_hash
from fixtures.store.pretrained import ModelSource
from tests.test_suite import WORDS

SIZES = {"train": 30, "dev": 12}


def corpus(n: int = 300) -> tuple[list[str], list[int]]:
    """Snippets of the tiny vocabulary's words (their first word says fresh or rotten), and
    a few a TSV file cannot hold (dropped)."""
    rng = random.Random(1)
    labels = [rng.randrange(2) for _ in range(n)]
    texts = [" ".join([WORDS[label], *rng.choices(WORDS[2:], k=rng.randint(3, 9))])
             for label in labels]  # fmt: skip
    bad = ["w5 w6\tw7 w8", "w5 w6\u2028w7 w8", "  ", texts[0]]  # tab, line break, empty, twice
    return texts + bad, [*labels, 1, 1, 0, labels[0]]


def embed(texts) -> np.ndarray:
    """Bag-of-words unit vectors: a stand-in for the sentence encoder."""
    vectors = np.zeros((len(texts), len(WORDS)))
    for i, text in enumerate(texts):
        for word in text.split():
            vectors[i, WORDS.index(word)] += 1
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("examples")
    examples.write_data(out, *corpus(), embed, **SIZES)
    return out


def test_each_file_has_its_glue_layout(written: Path) -> None:
    for task, header in data.HEADERS.items():
        for split, n in SIZES.items():
            rows = _rows(written / "data" / task / f"{split}.tsv")
            assert len(rows) == n + (header is not None), (task, split)
            assert rows[0] == list(header) if header else len(rows[0]) == 4
            assert {len(r) for r in rows} == {len(rows[0])}, (task, split)
    sst2 = _rows(written / "data/sst2/train.tsv")[1:]
    assert {r[1] for r in sst2} == {"0", "1"}
    assert all(r[1] == str(int(r[0].split()[0] == WORDS[1])) for r in sst2)  # its snippet's
    rte = _rows(written / "data/rte/train.tsv")[1:]
    assert [r[3] for r in rte].count("entailment") == SIZES["train"] // 2
    for _, text, claim, name in rte:  # entailment: the claim says the snippet's verdict
        fresh = text.split()[0] == WORDS[1]
        assert (claim in data.CLAIMS[int(fresh)]) == (name == "entailment")
    cola = _rows(written / "data/cola/train.tsv")
    assert {(r[1], r[2]) for r in cola} == {("1", ""), ("0", "*")}
    mnli = _rows(written / "data/mnli/dev.tsv")[1:]
    assert sorted({r[4] for r in mnli}) == sorted(data.MNLI_NAMES)
    for *_, a, b, name in mnli:
        verdicts = {a.split()[0] == WORDS[1], b.split()[0] == WORDS[1]}
        assert name == {(False,): "both_rotten", (True,): "both_fresh"}.get(
            tuple(verdicts), "mixed")  # fmt: skip
    scores = [float(r[2]) for r in _rows(written / "data/stsb/train.tsv")[1:]]
    assert min(scores) >= 0 and max(scores) <= 5 and len(set(scores)) > 5


def test_dev_snippets_are_not_in_train_and_bad_ones_are_dropped(written: Path) -> None:
    for task in data.TASKS:
        texts = {split: {t for r in _rows(written / "data" / task / f"{split}.tsv")[1:]
                         for t in r if t.startswith("w")} for split in SIZES}  # fmt: skip
        assert texts["train"] and not texts["train"] & texts["dev"], task
    assert "w5 w6\tw7 w8" not in (written / "data/sst2/train.tsv").read_text()
    pools = data.pools(*corpus())
    assert not {t for t, _ in pools["train"]} & {t for t, _ in pools["dev"]}
    assert all("\u2028" not in t and t.strip() for p in pools.values() for t, _ in p)


def test_a_moved_word_makes_another_sentence_of_the_same_words() -> None:
    rng = random.Random(0)
    for text in ("a b c d", "a a a b", "one two three four five six"):
        moved = data.moved_word(text, rng)
        assert moved != text and sorted(moved.split()) == sorted(text.split())


def test_the_files_are_the_same_bytes_on_every_run(written: Path, tmp_path: Path) -> None:
    examples.write_data(tmp_path, *corpus(), embed, **SIZES)
    for task in data.TASKS:
        for split in SIZES:
            name = f"data/{task}/{split}.tsv"
            assert (tmp_path / name).read_bytes() == (written / name).read_bytes(), name
    other = tmp_path / "seed1"
    data.write_examples(*corpus(), other, embed, sizes=SIZES, seed=1)
    assert (other / "sst2/dev.tsv").read_bytes() != (written / "data/sst2/dev.tsv").read_bytes()


def test_mrpc_keeps_its_cache_key() -> None:
    """The baselines' MRPC classifier (finetuned:97710ce8cefff9cc in results/) hashes as before
    heads were declared: quick profile, MiniLM-L6 wheel, GLUE MRPC train.tsv."""
    base = ModelSource("x", "MiniLM-L6", "sha256:b9a0018dff090c14865aa0996a89997e34aeadf10e400e"
                       "766cb961230c58fa54")  # fmt: skip
    train = PairSplit(("a",), ("b",), (1,), "MRPC train", "f178bcc72ab4c2c1c778b480912e0c8e1dba3e"
                      "ad150dc1d490d70682ab888c1e")  # fmt: skip
    key = finetune_key(base, train, FinetuneRecipe(epochs=3), Head())
    assert recipe_hash(key) == "97710ce8cefff9cc"
    others = [Head(2, ("no", "yes")), Head(3), Head(1)]
    assert len({recipe_hash(finetune_key(base, train, FinetuneRecipe(epochs=3), h))
                for h in [Head(), *others]}) == 4  # fmt: skip


def test_a_head_is_checked() -> None:
    for bad in ((0, ()), (2, ("a",)), (2, ("a", "a")), (1, ("score",))):
        with pytest.raises(ValueError):
            Head(*bad)
    assert Head(1).config() == {"num_labels": 1, "problem_type": "regression"}


@pytest.fixture(scope="module")
def tuned(written: Path, tmp_path_factory) -> Path:
    """The examples fine-tuned from a tiny encoder (no head) for one epoch, in a fresh cache."""
    root = tmp_path_factory.mktemp("tuned")
    base = root / "base"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    base.mkdir()
    (base / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(base / "vocab.txt")).save_pretrained(base)
    BertModel(BertConfig(**TINY)).save_pretrained(base)
    out = root / "out"
    shutil.copytree(written, out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPRESS_BENCH_CACHE", str(root / "cache"))
        recipe = FinetuneRecipe(max_length=16, epochs=1, batch_size=8)
        examples.finetune_examples(out, ModelSource(str(base), "tiny", "tiny"), recipe, 1)
    return out


def test_the_shipped_suite_file_runs_on_the_written_models(tuned: Path) -> None:
    assert (tuned / "examples.toml").read_bytes() == examples.SUITE.read_bytes()
    assert all((tuned / "models" / task / "config.json").is_file() for task in data.TASKS)
    suite = load_suite(tuned / "examples.toml")
    assert [m.name for m in suite.models] == list(data.TASKS)
    check_suite(suite)  # every model directory, every file, every label by the model's head
    config = {m.name: json.loads((Path(m.path) / "config.json").read_text())
              for m in suite.models}  # fmt: skip
    assert config["rte"]["label2id"] == {"entailment": 0, "not_entailment": 1}
    assert list(config["mnli"]["id2label"].values()) == list(data.MNLI_NAMES)
    assert config["stsb"]["problem_type"] == "regression" and len(config["stsb"]["id2label"]) == 1
    assert label_space(config["sst2"]).num_labels == label_space(config["cola"]).num_labels == 2
    cola = suite.model("cola")
    assert cola.eval.header is False and read_split(suite, cola, "eval").labels.count(0) == 6
    stsb = read_split(suite, suite.model("stsb"), "eval")
    assert stsb.sentence2 is not None and isinstance(stsb.labels[0], float)


def test_a_finetuned_head_is_cached_by_its_kind(tuned: Path, monkeypatch) -> None:
    monkeypatch.setenv("COMPRESS_BENCH_CACHE", str(tuned.parent / "cache"))
    suite = load_suite(tuned / "examples.toml")
    train = read_split(suite, suite.model("sst2"), "calibration", labelled=True)
    base = ModelSource(str(tuned.parent / "base"), "tiny", "tiny")
    recipe = FinetuneRecipe(max_length=16, epochs=1, batch_size=8)
    first = finetuned_classifier(base, train, recipe, head=Head(2))
    assert finetuned_classifier(base, train, recipe, head=Head(2)) == first  # from the cache
    named = finetuned_classifier(base, train, recipe, head=Head(2, ("rotten", "fresh")))
    assert named.name_or_path != first.name_or_path  # another head, another model
    config = json.loads((Path(named.name_or_path) / "config.json").read_text())
    assert config["id2label"] == {"0": "rotten", "1": "fresh"}
