"""Strict reading of a user's labelled data by column: TSV, CSV and JSON lines here, parquet
files and ``datasets`` directories through compress.core.tabledata.

TSV is tab-separated with no quoting (quote characters are text, as in the GLUE files); CSV
follows Python's csv module (RFC 4180 quoting); JSON lines hold one object per line. A TSV or
CSV file has a header row naming its columns, or (``header=False``) none: its columns are then
0-based positions. A label is read by the model's ``LabelSpace``: a class id, a class name
(config.json's label2id), or a regression head's number. Every defect raises ``InputError``
naming the file, the line (a table's row) and what was expected.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compress.core.errors import InputError
from compress.core.tabledata import TABLE_FORMATS, Table, from_dataset, read_parquet, read_saved

Column = str | int  # a column's name, or its 0-based position in a file without a header
DEFAULT_NAME = re.compile(r"LABEL_(\d+)")  # transformers' name for a class a config leaves unnamed


def read_utf8(path: Path) -> str:
    """The file's text; InputError naming the file and line if it is not valid UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(path, f"not valid UTF-8 ({exc.reason})", line=line) from None


@dataclass(frozen=True)
class LabelSpace:
    """What a label may be for the model that reads the file: one of its ``num_labels`` class
    ids, one of its class ``names`` (label2id, matched as written), or, for a regression head
    (``num_labels`` = 1), a number. ``deferred``: the head is not known yet (a hub model before
    it is loaded), any value passes and is checked once it is."""

    num_labels: int | None = None  # None: any integer
    names: Mapping[str, int] = field(default_factory=dict)
    regression: bool = False
    deferred: bool = False

    def parse(self, value: object) -> int | float:
        """The label's target; ValueError saying why it is not one."""
        if self.deferred:
            return 0
        if self.regression:
            return _number(value)
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit():
                value = int(text)
            elif text in self.names:
                return int(self.names[text])
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(self._unknown(value))
        if self.num_labels is not None and not 0 <= value < self.num_labels:
            raise ValueError(
                f"label {value} is outside the model's classes 0..{self.num_labels - 1}"
            )
        return value

    def _unknown(self, value: object) -> str:
        named = [n for n in self.names if not DEFAULT_NAME.fullmatch(n)]
        if not named:
            unnamed = " (the model's config.json names no labels)" if self.names else ""
            return f"expected an integer label, found {value!r}{unnamed}"
        message = f"label {value!r} is not one of the model's labels ({', '.join(named)})"
        key = str(value).strip().casefold()
        other_case = next((n for n in named if n.casefold() == key), None)
        if other_case is not None:  # names are matched as written: say which one was meant
            message += f"; names are matched as written, the model's is {other_case!r}"
        return message


def _number(value: object) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a number: the message below
            value = float(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a number label (the model is a regression head, "
                         f"num_labels = 1), found {value!r}")  # fmt: skip
    return float(value)


@dataclass(frozen=True)
class LabelledTexts:
    """The rows of one file: texts (and second texts of pairs), labels when read."""

    first: tuple[str, ...]
    second: tuple[str, ...] | None
    labels: tuple[int, ...] | tuple[float, ...] | None
    source: str  # the file, with a short hash
    sha256: str  # of the file's bytes (of a dataset: of its rows' content)

    def __len__(self) -> int:
        return len(self.first)


Records = Iterator[tuple["int | str", dict[Any, object]]]  # (line, or "row i" of a table; row)


def _fail(path: Path, at: int | str | None, message: str) -> InputError:
    if isinstance(at, str):  # a table's row: no line to name
        return InputError(path, f"{at}: {message}")
    return InputError(path, message, at)


def _tsv(text: str) -> Iterator[tuple[int, list[str]]]:
    for lineno, line in enumerate(text.split("\n"), start=1):  # not splitlines: \x0b is text
        line = line.removesuffix("\r")
        if line:
            yield lineno, line.split("\t")


def _csv(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for row in reader:
        if row:
            yield start, row
        start = reader.line_num + 1


def _jsonl(path: Path, text: str) -> Records:
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, f"not a JSON object ({err.msg})", lineno) from None
        if not isinstance(row, dict):
            raise InputError(path, f"expected a JSON object, got {type(row).__name__}", lineno)
        yield lineno, row


def _rows(path: Path, text: str, fmt: str, wanted: list[Column], header: bool = True) -> Records:
    """(line, {column: value}) per data row: keyed by the header's names, or by position
    without a header. Every row has the first row's number of columns; a first row without a
    ``wanted`` column fails on its own line."""
    if fmt == "jsonl":
        yield from _jsonl(path, text)
        return
    rows = (_tsv if fmt == "tsv" else _csv)(text)
    first = next(rows, None)
    if first is None:
        return
    names: list[Column] = list(first[1]) if header else list(range(len(first[1])))
    _check_columns(path, first[0], names, wanted, header)
    sep = "tab-separated " if fmt == "tsv" else ""
    against = "the header" if header else "line 1"
    for lineno, cells in rows if header else ((first[0], first[1]), *rows):
        if len(cells) != len(names):
            msg = f"expected {len(names)} {sep}columns as {against}, found {len(cells)}"
            raise InputError(path, msg, lineno)
        yield lineno, dict(zip(names, cells, strict=True))


def _check_columns(
    path: Path, at: int | str | None, have: Any, wanted: list[Column], header: bool = True
) -> None:
    missing = [c for c in wanted if c not in have]
    if not missing:
        return
    if not header:
        count = len(have)
        raise _fail(path, at, f"no column {missing[0]} (the row has {count} columns: "
                    f"positions 0..{count - 1})")  # fmt: skip
    shown = ", ".join(map(repr, have)) or "none"
    raise _fail(path, at, f"no column {missing[0]!r} (columns: {shown})")


def _collect(
    path: Path,
    records: Records,
    columns: tuple[Column, Column | None, Column | None],
    space: LabelSpace,
    provenance: tuple[str, str],
) -> LabelledTexts:
    """The texts and labels of ``records``, each checked on its line (or row)."""
    text, text_pair, label = columns
    wanted = [c for c in columns if c is not None]
    first: list[str] = []
    second: list[str] = []
    labels: list[int | float] = []
    for at, row in records:
        _check_columns(path, at, row, wanted)
        for column in (text, text_pair):
            if column is not None and not (isinstance(row[column], str) and row[column].strip()):
                raise _fail(path, at, f"empty or non-text value in column {column!r}")
        first.append(str(row[text]))
        if text_pair is not None:
            second.append(str(row[text_pair]))
        if label is not None:
            try:
                labels.append(space.parse(row[label]))
            except ValueError as err:
                raise _fail(path, at, str(err)) from None
    if not first:
        raise InputError(path, "empty: no data rows")
    return LabelledTexts(tuple(first), tuple(second) if text_pair is not None else None,
                         tuple(labels) if label is not None else None, *provenance)  # fmt: skip


def read_labelled(
    path: str | Path,
    text: Column,
    *,
    text_pair: Column | None = None,
    label: Column | None = "label",
    fmt: str = "tsv",
    num_labels: int | None = None,
    header: bool = True,
    split: str | None = None,
    labels: LabelSpace | None = None,
) -> LabelledTexts:
    """The named (or, without a ``header``, numbered) columns of every row; ``label`` None
    reads texts only (calibration). ``fmt`` parquet or datasets reads a table (``split``: of
    a DatasetDict directory). ``labels`` (default: class ids below ``num_labels``) says what a
    label may be."""
    path = Path(path)
    space = labels or LabelSpace(num_labels)
    columns = (text, text_pair, label)
    wanted = [c for c in columns if c is not None]
    if fmt in TABLE_FORMATS:
        names = [str(c) for c in wanted]
        table = read_parquet(path, names) if fmt == "parquet" else read_saved(path, names, split)
        return _collect(path, table.records(), columns, space, (table.source, table.sha256))
    if not path.is_file():
        raise InputError(path, "file not found")
    raw = read_utf8(path).removeprefix("\ufeff")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    provenance = (f"{path} (sha256 {digest[:8]}…)", digest)
    return _collect(path, _rows(path, raw, fmt, wanted, header), columns, space, provenance)


def read_dataset(
    dataset: Any,
    name: str,
    text: str,
    *,
    text_pair: str | None = None,
    label: str | None = "label",
    labels: LabelSpace | None = None,
) -> LabelledTexts:
    """The named columns of a loaded ``datasets.Dataset`` (a hub copy) called ``name``."""
    columns = (text, text_pair, label)
    table: Table = from_dataset(dataset, name, [c for c in columns if c is not None])
    provenance = (table.source, table.sha256)
    return _collect(Path(name), table.records(), columns, labels or LabelSpace(), provenance)
