"""Unit tests for the GLUE MRPC reader and source resolution (synthetic TSVs, no network)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from fixtures.data import glue
from fixtures.data.glue import PairSplit, find_mrpc_dir, load_mrpc, read_mrpc_tsv
from fixtures.store.errors import InputError, SourceUnavailable
from fixtures.store.sources import OFFLINE_VARS

HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
ROWS = [
    "1\t101\t102\tThe cat sat on the mat.\tA cat was sitting on the mat.",
    "0\t103\t104\tStocks fell 3 percent.\tThe weather was mild on Tuesday.",
    '1\t105\t106\t"We are pleased," he said.\tHe said: "we\'re pleased" .',
]


def write_tsv(
    path: Path, rows: list[str], *, bom: bool = True, eol: str = "\n", header: str = HEADER
) -> Path:
    """Write a GLUE-style TSV: optional BOM, header, rows, trailing newline."""
    text = eol.join([header, *rows]) + eol
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def make_glue_dir(root: Path, train: list[str] = ROWS, dev: list[str] = ROWS[:2]) -> Path:
    """Create root/MRPC/{train,dev}.tsv and return root (the $GLUE_DIR layout)."""
    write_tsv(root / "MRPC" / "train.tsv", train)
    write_tsv(root / "MRPC" / "dev.tsv", dev)
    return root


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GLUE_DIR and no hub: only explicit directories can provide data."""
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setenv("COMPRESS_BENCH_OFFLINE", "1")


def where(path: Path, line: int | None = None) -> str:
    """Regex for the 'file:line:' prefix of an InputError message."""
    return re.escape(path.name) + (f":{line}: " if line is not None else ": ")


# ---------------------------------------------------------------------------- reader


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("bom", [True, False], ids=["bom", "no-bom"])
def test_read_rows(tmp_path: Path, bom: bool, eol: str) -> None:
    split = read_mrpc_tsv(write_tsv(tmp_path / "dev.tsv", ROWS, bom=bom, eol=eol))
    assert isinstance(split, PairSplit)
    assert len(split) == 3
    assert split.labels == (1, 0, 1)
    assert split.positives == 2
    assert split.sentence1[0] == "The cat sat on the mat."
    assert split.sentence2[1] == "The weather was mild on Tuesday."
    assert not any(s.endswith("\r") for s in split.sentence2)


def test_bom_and_crlf_give_same_rows(tmp_path: Path) -> None:
    plain = read_mrpc_tsv(write_tsv(tmp_path / "a.tsv", ROWS, bom=False))
    other = read_mrpc_tsv(write_tsv(tmp_path / "b.tsv", ROWS, bom=True, eol="\r\n"))
    assert (plain.sentence1, plain.sentence2, plain.labels) == (
        other.sentence1,
        other.sentence2,
        other.labels,
    )


def test_quotes_kept_verbatim(tmp_path: Path) -> None:
    split = read_mrpc_tsv(write_tsv(tmp_path / "dev.tsv", ROWS))
    assert split.sentence1[2] == '"We are pleased," he said.'
    assert split.sentence2[2] == 'He said: "we\'re pleased" .'


def test_unbalanced_quote_does_not_swallow_lines(tmp_path: Path) -> None:
    rows = ['1\t1\t2\tHe said "yes.\tHe agreed.', "0\t3\t4\tOne.\tTwo."]
    split = read_mrpc_tsv(write_tsv(tmp_path / "dev.tsv", rows))
    assert split.sentence1 == ('He said "yes.', "One.")


def test_sha256_and_source(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "dev.tsv", ROWS)
    split = read_mrpc_tsv(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert split.sha256 == digest
    assert "dev.tsv" in split.source
    assert digest[:8] in split.source


def test_edited_file_is_reread(tmp_path: Path) -> None:
    path = write_tsv(tmp_path / "dev.tsv", ROWS)
    assert len(read_mrpc_tsv(path)) == 3
    write_tsv(path, ROWS[:1])
    assert len(read_mrpc_tsv(path)) == 1


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        (
            [ROWS[0], "1\t1\t2\tonly four columns"],
            3,
            "expected 5 tab-separated columns, found 4",
        ),
        ([ROWS[0], ROWS[1] + "\textra"], 3, "expected 5 tab-separated columns, found 6"),
        ([ROWS[0], "", ROWS[1]], 3, "expected 5 tab-separated columns, found 1"),
        (["2\t1\t2\tA.\tB."], 2, "expected label 0 or 1, found '2'"),
        ([ROWS[0], "\t1\t2\tA.\tB."], 3, "expected label 0 or 1, found ''"),
        (["1\t1\t2\t\tB."], 2, "empty sentence in column '#1 String'"),
        ([ROWS[1], "0\t1\t2\tA.\t  "], 3, "empty sentence in column '#2 String'"),
    ],
    ids=["4-columns", "6-columns", "blank-line", "label-2", "label-empty", "empty-s1", "blank-s2"],
)
def test_bad_row(tmp_path: Path, rows: list[str], line: int, message: str) -> None:
    path = write_tsv(tmp_path / "train.tsv", rows)
    with pytest.raises(InputError, match=where(path, line) + re.escape(message)):
        read_mrpc_tsv(path)


@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_bad_row_line_number_with_crlf(tmp_path: Path, eol: str) -> None:
    path = write_tsv(tmp_path / "dev.tsv", [*ROWS, "1\t1\t2\tA."], eol=eol)
    with pytest.raises(InputError, match=where(path, 5) + "expected 5 tab-separated columns"):
        read_mrpc_tsv(path)


@pytest.mark.parametrize(
    "header",
    ["Quality\t#1 ID\t#2 ID\t#1 String", "label\tsentence1\tsentence2", ROWS[0]],
    ids=["missing-column", "other-names", "no-header"],
)
def test_wrong_header(tmp_path: Path, header: str) -> None:
    path = write_tsv(tmp_path / "dev.tsv", ROWS, header=header)
    with pytest.raises(InputError, match=where(path, 1) + "expected header"):
        read_mrpc_tsv(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\xef\xbb\xbf", "empty file"),
        (("\ufeff" + HEADER + "\n").encode(), "empty split"),
        ((HEADER + "\r\n").encode(), "empty split"),
    ],
    ids=["empty-file", "bom-only", "header-only", "header-only-crlf"],
)
def test_empty(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "dev.tsv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=where(path) + message):
        read_mrpc_tsv(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "dev.tsv"
    path.write_bytes((HEADER + "\n" + ROWS[0] + "\n").encode() + b"1\t1\t2\tCaf\xe9.\tB.\n")
    with pytest.raises(InputError, match=where(path, 3) + "not valid UTF-8"):
        read_mrpc_tsv(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"dev\.tsv: file not found.*GLUE_DIR"):
        read_mrpc_tsv(tmp_path / "dev.tsv")


# ----------------------------------------------------------------------- directories


@pytest.mark.parametrize("layout", ["glue-dir", "mrpc-dir"])
def test_find_mrpc_dir_layouts(tmp_path: Path, layout: str) -> None:
    root = make_glue_dir(tmp_path)
    given = root if layout == "glue-dir" else root / "MRPC"
    assert find_mrpc_dir(given) == root / "MRPC"
    assert find_mrpc_dir(str(given)) == root / "MRPC"


def test_find_mrpc_dir_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere: GLUE directory not found.*MRPC/train\.tsv"):
        find_mrpc_dir(tmp_path / "nowhere")


def test_find_mrpc_dir_without_data(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no MRPC data here.*MRPC/dev\.tsv"):
        find_mrpc_dir(tmp_path)


def test_find_mrpc_dir_missing_file(tmp_path: Path) -> None:
    write_tsv(tmp_path / "MRPC" / "train.tsv", ROWS)
    with pytest.raises(InputError, match=r"MRPC: MRPC directory lacks dev\.tsv"):
        find_mrpc_dir(tmp_path)


# ------------------------------------------------------------------ source resolution


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(("split", "n"), [("train", 3), ("dev", 2)])
def test_load_explicit_dir(tmp_path: Path, split: str, n: int) -> None:
    data = load_mrpc(split, make_glue_dir(tmp_path))
    assert len(data) == n
    assert f"{split}.tsv" in data.source


def test_load_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESS_BENCH_OFFLINE", "1")
    monkeypatch.setenv("GLUE_DIR", str(make_glue_dir(tmp_path)))
    assert len(load_mrpc("dev")) == 2


def test_explicit_dir_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLUE_DIR", str(make_glue_dir(tmp_path / "env")))
    explicit = make_glue_dir(tmp_path / "arg", dev=ROWS)
    assert len(load_mrpc("dev", explicit)) == 3
    assert str(explicit) in load_mrpc("dev", explicit).source


@pytest.mark.parametrize("via", ["argument", "env"])
def test_bad_dir_is_an_error_not_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, via: str
) -> None:
    def no_hub(split: str) -> PairSplit:
        raise AssertionError("hub must not be tried when a directory is given")

    monkeypatch.setattr(glue, "_load_hub", no_hub)
    monkeypatch.delenv("COMPRESS_BENCH_OFFLINE", raising=False)
    bad = tmp_path / "missing"
    monkeypatch.setenv("GLUE_DIR", str(bad))
    with pytest.raises(InputError, match="missing: GLUE directory not found"):
        load_mrpc("dev", bad if via == "argument" else None)


@pytest.mark.parametrize("var", ["COMPRESS_BENCH_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_offline_without_dir(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    def no_hub(split: str) -> PairSplit:
        raise AssertionError("hub must not be tried offline")

    monkeypatch.setattr(glue, "_load_hub", no_hub)
    monkeypatch.delenv("GLUE_DIR", raising=False)
    monkeypatch.setenv(var, "1")
    with pytest.raises(SourceUnavailable, match=rf"offline \({var}.*GLUE_DIR.*--glue-dir"):
        load_mrpc("dev")


def test_hub_failure_is_source_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_hub(split: str) -> PairSplit:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(glue, "_load_hub", broken_hub)
    for var in ("GLUE_DIR", *OFFLINE_VARS):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(SourceUnavailable, match=r"ConnectionError: no route to host.*GLUE_DIR"):
        load_mrpc("train")


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("split", ["validation", "test", ""])
def test_unknown_split(tmp_path: Path, split: str) -> None:
    with pytest.raises(ValueError, match="valid splits: train, dev"):
        load_mrpc(split, tmp_path)


# ----------------------------------------------------------------------- real data


@pytest.mark.skipif(
    not os.environ.get("GLUE_DIR"),
    reason="GLUE_DIR unset: point it at a directory with MRPC/train.tsv and MRPC/dev.tsv",
)
@pytest.mark.parametrize(("split", "n", "positives"), [("train", 3667, 2473), ("dev", 408, 279)])
def test_real_mrpc(split: str, n: int, positives: int) -> None:
    data = load_mrpc(split)
    assert (len(data), data.positives) == (n, positives)
    assert data.source.startswith(f"GLUE MRPC {split}.tsv")


@pytest.mark.skipif(not os.environ.get("GLUE_DIR"), reason="GLUE_DIR unset")
def test_real_mrpc_test_split() -> None:
    test = glue.load_mrpc_test()
    if test is None:
        pytest.skip(f"no {glue.TEST_FILE} in $GLUE_DIR")
    assert (len(test), test.positives) == (1725, 1147)  # the MSR corpus' published test split


# ---------------------------------------------------------------------------- test split

TEST_ROWS = [
    "1\t201\t202\tA new pair.\tAnother new pair.",
    "0\t203\t204\tPrices rose.\tIt rained.",
]


def test_test_split_absent_is_none(tmp_path: Path, offline: None) -> None:
    assert glue.load_mrpc_test(make_glue_dir(tmp_path)) is None
    assert glue.load_mrpc_test(None) is None  # no directory: the hub has no labelled copy


def test_test_split_read_with_ids(tmp_path: Path) -> None:
    root = make_glue_dir(tmp_path)
    write_tsv(root / "MRPC" / glue.TEST_FILE, TEST_ROWS)
    test = glue.load_mrpc_test(root)
    assert test is not None and test.labels == (1, 0)
    assert test.ids == (("201", "202"), ("203", "204"))
    assert glue.TEST_FILE in test.source


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2\t205\t206\ta\tb", "expected label 0 or 1, found '2'"),
        ("1\t205\ta\tb", "expected 5 tab-separated columns, found 4"),
    ],
    ids=["label", "ragged"],
)
def test_test_split_bad_row_names_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    root = make_glue_dir(tmp_path)
    path = write_tsv(root / "MRPC" / glue.TEST_FILE, [*TEST_ROWS, row])
    with pytest.raises(InputError, match=where(path, 4) + re.escape(message)):
        glue.load_mrpc_test(root)


def test_test_split_repeating_train_pairs_is_refused(tmp_path: Path) -> None:
    root = make_glue_dir(tmp_path)  # train holds 101/102, 103/104, 105/106
    repeated = ["1\t102\t101\tx\ty", "0\t103\t104\tx\ty", "0\t105\t106\tx\ty", "1\t107\t108\ta\tb"]
    path = write_tsv(root / "MRPC" / glue.TEST_FILE, [*TEST_ROWS, *repeated])
    pattern = where(path) + r"3 pair\(s\) also in train\.tsv \(first: 102/101, 103/104, 105/106\)"
    with pytest.raises(InputError, match=pattern):
        glue.load_mrpc_test(root)
