"""Unit tests for the WikiText-2 reader, batching and source resolution (tiny synthetic files)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from fixtures.data.wikitext import (
    ENV_VAR,
    Dictionary,
    batchify,
    get_batch,
    load_wikitext2,
    read_wikitext2,
    tokenize,
)
from fixtures.store.errors import InputError, SourceUnavailable

VALID = " = A b = \n \n a b c . \n"
TEST = " c d \n"


def make_dir(root: Path, *, train: str | None = None, valid: str = VALID, test: str = TEST) -> Path:
    """Write valid.txt, test.txt (and train.txt if given) into root."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("train.txt", train), ("valid.txt", valid), ("test.txt", test)):
        if text is not None:
            (root / name).write_text(text, encoding="utf-8")
    return root


def where(path: Path, line: int | None = None) -> str:
    """Regex for the 'file[:line]: ' prefix of an InputError message."""
    return re.escape(path.name) + (f":{line}: " if line is not None else ": ")


def test_tokenize_ids_by_hand(tmp_path: Path) -> None:
    d = Dictionary()
    ids = tokenize(make_dir(tmp_path) / "valid.txt", d)
    assert d.idx2word == ["=", "A", "b", "<eos>", "a", "c", "."]
    assert d.word2idx == {w: i for i, w in enumerate(d.idx2word)}
    # " = A b = " / " " / " a b c . "  each + <eos>
    assert ids.tolist() == [0, 1, 2, 0, 3, 3, 4, 2, 5, 6, 3]
    assert ids.dtype == torch.int64
    more = tokenize(tmp_path / "test.txt", d)  # the dictionary grows across files
    assert more.tolist() == [5, 7, 3] and len(d) == 8


def test_dictionary_hash_depends_on_order() -> None:
    a, b = Dictionary(), Dictionary()
    for w in ("x", "y"):
        a.add_word(w)
    for w in ("y", "x"):
        b.add_word(w)
    assert a.add_word("x") == 0 and len(a) == 2
    assert a.sha256() != b.sha256()


def test_batchify_and_get_batch() -> None:
    data = torch.arange(11)
    src = batchify(data, 2)  # drops the 11th token; columns are contiguous streams
    assert src.tolist() == [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]
    x, y = get_batch(src, 0, 3)
    assert x.tolist() == [[0, 5], [1, 6], [2, 7]]
    assert y.tolist() == [1, 6, 2, 7, 3, 8]
    x, y = get_batch(src, 3, 3)  # the last window is shorter: only one row left to predict
    assert x.tolist() == [[3, 8]] and y.tolist() == [4, 9]
    with pytest.raises(ValueError, match="no window"):
        get_batch(src, 4, 3)


@pytest.mark.parametrize(
    ("data", "bsz", "match"),
    [(torch.arange(3), 2, "too few"), (torch.arange(6), 0, ">= 1"), (torch.zeros(2, 2), 1, "1-D")],
)
def test_batchify_rejects(data: torch.Tensor, bsz: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        batchify(data, bsz)


def test_read_valid_and_test_only(tmp_path: Path) -> None:
    corpus = read_wikitext2(make_dir(tmp_path))
    assert corpus.train_file == "valid.txt"
    assert len(corpus.train) == 11 and corpus.eval.tolist() == [5, 7, 3]
    assert "trained on valid.txt (11 tokens) because train.txt is not available" in corpus.source
    assert "evaluated on test.txt (3 tokens)" in corpus.source
    assert len(corpus.sha256) == 64


def test_read_full_layout_trains_on_train(tmp_path: Path) -> None:
    corpus = read_wikitext2(make_dir(tmp_path, train=" z z \n"))
    assert corpus.train_file == "train.txt"
    assert corpus.train.tolist() == [0, 0, 1]  # train.txt is read first, as in the example
    assert corpus.dictionary.idx2word[:2] == ["z", "<eos>"]
    assert len(corpus.dictionary) == 9  # over train + valid + test
    assert "trained on train.txt (3 tokens), evaluated on test.txt" in corpus.source


def test_sha256_changes_with_content(tmp_path: Path) -> None:
    a = read_wikitext2(make_dir(tmp_path / "a"))
    b = read_wikitext2(make_dir(tmp_path / "b", test=" c e \n"))
    assert a.sha256 != b.sha256
    assert a.sha256 == read_wikitext2(make_dir(tmp_path / "c")).sha256


@pytest.mark.parametrize("text", ["", "\n", "  \n \n"], ids=["empty", "newline", "blank"])
def test_no_tokens(tmp_path: Path, text: str) -> None:
    root = make_dir(tmp_path, test=text)
    with pytest.raises(InputError, match=where(root / "test.txt") + "no tokens in test.txt"):
        read_wikitext2(root)


@pytest.mark.parametrize("missing", ["valid.txt", "test.txt"])
def test_missing_file(tmp_path: Path, missing: str) -> None:
    root = make_dir(tmp_path)
    (root / missing).unlink()
    with pytest.raises(InputError, match=where(root / missing) + "file not found.*WIKITEXT2_DIR"):
        read_wikitext2(root)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory not found"):
        load_wikitext2(tmp_path / "nowhere")


def test_not_utf8_names_line(tmp_path: Path) -> None:
    root = make_dir(tmp_path)
    (root / "valid.txt").write_bytes(b" a b \n c \xff d \n")
    with pytest.raises(InputError, match=where(root / "valid.txt", 2) + "not valid UTF-8"):
        read_wikitext2(root)


def test_env_var_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_dir(tmp_path / "wt2")
    monkeypatch.setenv(ENV_VAR, str(root))
    assert str(root.resolve()) in load_wikitext2().source


def test_explicit_dir_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "bad"))
    assert load_wikitext2(make_dir(tmp_path / "good")).train_file == "valid.txt"


def test_bad_env_dir_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="nowhere: WikiText-2 directory not found"):
        load_wikitext2()


def test_no_source_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(SourceUnavailable, match="set WIKITEXT2_DIR to a directory holding"):
        load_wikitext2()
