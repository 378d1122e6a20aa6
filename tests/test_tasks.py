"""Unit tests for the task registry: BoolQ (jsonl / hub) and Rotten Tomatoes readers."""

from __future__ import annotations

import bz2
import json
import sys
import types
from pathlib import Path

import pytest

from fixtures.data import tasks
from fixtures.data.tasks import load_boolq, load_task, read_boolq_jsonl, read_rotten_tomatoes
from fixtures.store.errors import InputError, SourceUnavailable

BOOLQ_ROWS = [
    {"question": "is the sky blue", "title": "Sky", "answer": True, "passage": "The sky is blue."},
    {"question": "do fish fly", "title": "Fish", "answer": False, "passage": "Fish swim."},
]


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_boolq_jsonl_is_question_passage_pairs(tmp_path: Path) -> None:
    split = read_boolq_jsonl(_jsonl(tmp_path / "train.jsonl", BOOLQ_ROWS))
    assert split.sentence1 == ("is the sky blue", "do fish fly")
    assert split.sentence2 == ("The sky is blue.", "Fish swim.")
    assert split.labels == (1, 0)
    assert len(split.sha256) == 64


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not a JSON object"),
        ("[1, 2]", "expected a JSON object"),
        ('{"question": "q", "passage": "p"}', r"missing key\(s\) answer"),
        ('{"question": "q", "passage": "p", "answer": "yes"}', "must be true/false"),
    ],
    ids=["not-json", "not-object", "no-answer", "answer-not-bool"],
)
def test_boolq_bad_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps(BOOLQ_ROWS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as err:
        read_boolq_jsonl(path)
    assert err.value.line == 2 and str(path) in str(err.value)


def test_boolq_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "dev.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no examples"):
        read_boolq_jsonl(path)


def test_boolq_dir_lacking_a_split_is_an_error(tmp_path: Path) -> None:
    _jsonl(tmp_path / "train.jsonl", BOOLQ_ROWS)
    assert len(load_boolq("train", tmp_path)) == 2
    with pytest.raises(InputError, match=r"dev\.jsonl"):
        load_boolq("dev", tmp_path)


def test_boolq_offline_says_how_to_provide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOOLQ_DIR", raising=False)
    monkeypatch.setenv("COMPRESS_BENCH_OFFLINE", "1")
    with pytest.raises(SourceUnavailable, match="BOOLQ_DIR"):
        load_boolq("dev")


def test_boolq_hub_path_maps_validation_to_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    """Online users get google/boolq's validation split as dev (datasets faked here)."""
    calls = []

    def load_dataset(name: str, split: str) -> dict[str, list[object]]:
        calls.append((name, split))
        return {k: [r[k] for r in BOOLQ_ROWS] for k in ("question", "passage", "answer")}

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    for var in ("BOOLQ_DIR", "COMPRESS_BENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    tasks._boolq_hub.cache_clear()
    split = load_boolq("dev")
    tasks._boolq_hub.cache_clear()
    assert calls == [("google/boolq", "validation")]
    assert split.labels == (1, 0) and split.source == "hub: google/boolq validation"


def _rt_csv(path: Path, rows: list[tuple[str, str]], header: str = "category,text,movie_name"):
    lines = [header, *(f'{c},"{t}",m' for c, t in rows)]
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_rotten_tomatoes_reader_keeps_reviews_drops_plots(tmp_path: Path) -> None:
    rows = [("fresh", "Great fun."), ("plot", "A man walks."), ("rotten", "Dull, slow.")]
    texts, labels = read_rotten_tomatoes(_rt_csv(tmp_path / "rt.csv.bz2", rows))
    assert texts == ("Great fun.", "Dull, slow.") and labels == (1, 0)


def test_rotten_tomatoes_unknown_category_names_line(tmp_path: Path) -> None:
    path = _rt_csv(tmp_path / "rt.csv.bz2", [("fresh", "ok"), ("meh", "hm")])
    with pytest.raises(InputError, match="unknown category 'meh'") as err:
        read_rotten_tomatoes(path)
    assert err.value.line == 3


def test_rotten_tomatoes_split_is_stratified_disjoint_single_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [("fresh" if i % 3 else "rotten", f"review {i}") for i in range(60)]
    path = str(_rt_csv(tmp_path / "rt.csv.bz2", rows))
    monkeypatch.setattr(tasks, "RT_TRAIN", 30)
    monkeypatch.setattr(tasks, "RT_DEV", 15)
    train, dev = (load_task("rotten-tomatoes", s, path=path) for s in ("train", "dev"))
    tasks.load_rotten_tomatoes.cache_clear()
    assert (len(train), len(dev)) == (30, 15)
    assert train.sentence2 is None and dev.sentence2 is None
    assert not set(train.sentence1) & set(dev.sentence1)
    assert sum(dev.labels) == 10  # 2/3 fresh, stratified
    assert train.sha256 != dev.sha256


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="mrpc, boolq, rotten-tomatoes"):
        load_task("sst3", "train")
