"""Strict reading of a user's labelled text file (TSV, CSV or JSON lines) by named columns.

TSV is tab-separated with a header row and no quoting (quote characters are text, as in the
GLUE files); CSV follows Python's csv module (RFC 4180 quoting); JSON lines hold one object
per line. Every defect raises ``InputError`` naming the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from compress.core.errors import InputError


def read_utf8(path: Path) -> str:
    """The file's text; InputError naming the file and line if it is not valid UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(path, f"not valid UTF-8 ({exc.reason})", line=line) from None


@dataclass(frozen=True)
class LabelledTexts:
    """The rows of one file: texts (and second texts of pairs), labels when read."""

    first: tuple[str, ...]
    second: tuple[str, ...] | None
    labels: tuple[int, ...] | None
    source: str  # the file, with a short hash
    sha256: str  # of the file's bytes

    def __len__(self) -> int:
        return len(self.first)


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


def _rows(
    path: Path, text: str, fmt: str, wanted: list[str]
) -> Iterator[tuple[int, dict[str, object]]]:
    """(line, {column: value}) per data row; a header without a ``wanted`` column fails on
    its own line."""
    if fmt == "jsonl":
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
        return
    rows = (_tsv if fmt == "tsv" else _csv)(text)
    first = next(rows, None)
    if first is None:
        return
    header = first[1]
    _check_columns(path, first[0], header, wanted)
    for lineno, cells in rows:
        if len(cells) != len(header):
            sep = "tab-separated " if fmt == "tsv" else ""
            msg = f"expected {len(header)} {sep}columns as the header, found {len(cells)}"
            raise InputError(path, msg, lineno)
        yield lineno, dict(zip(header, cells, strict=True))


def _check_columns(path: Path, lineno: int, have: object, wanted: list[str]) -> None:
    missing = [c for c in wanted if c not in have]  # type: ignore[operator]
    if missing:
        shown = ", ".join(map(repr, have)) or "none"  # type: ignore[call-overload]
        raise InputError(path, f"no column {missing[0]!r} (columns: {shown})", lineno)


def _label(path: Path, lineno: int, value: object, num_labels: int | None) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(path, f"expected an integer label, found {value!r}", lineno)
    if num_labels is not None and not 0 <= value < num_labels:
        msg = f"label {value} is outside the model's classes 0..{num_labels - 1}"
        raise InputError(path, msg, lineno)
    return value


def read_labelled(
    path: str | Path,
    text: str,
    *,
    text_pair: str | None = None,
    label: str | None = "label",
    fmt: str = "tsv",
    num_labels: int | None = None,
) -> LabelledTexts:
    """The named columns of every row; ``label`` None reads texts only (calibration)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    raw = read_utf8(path).removeprefix("\ufeff")
    first: list[str] = []
    second: list[str] = []
    labels: list[int] = []
    wanted = [c for c in (text, text_pair, label) if c is not None]
    for lineno, row in _rows(path, raw, fmt, wanted):
        _check_columns(path, lineno, row, wanted)
        for column in (text, text_pair):
            if column is not None and not (isinstance(row[column], str) and row[column].strip()):
                raise InputError(path, f"empty or non-text value in column {column!r}", lineno)
        first.append(str(row[text]))
        if text_pair is not None:
            second.append(str(row[text_pair]))
        if label is not None:
            labels.append(_label(path, lineno, row[label], num_labels))
    if not first:
        raise InputError(path, "empty: no data rows")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LabelledTexts(
        tuple(first),
        tuple(second) if text_pair is not None else None,
        tuple(labels) if label is not None else None,
        f"{path} (sha256 {digest[:8]}…)",
        digest,
    )
