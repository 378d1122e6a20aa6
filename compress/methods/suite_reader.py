"""Reading a suite file's values (compress.methods.suite), each defect a ``SuiteError`` naming
the file and the key: strings, numbers, paths relative to the file with ``${NAME}`` expanded,
and the data sources a model declares (``DataFile``: a TSV / CSV / JSON lines file, with or
without a header row, a parquet file, a ``save_to_disk`` directory, or a hub dataset id).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.core.environment import user_variable
from compress.core.errors import InputError

FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
# a file by extension; a directory written by save_to_disk; a hub dataset id (org/name)
FORMAT_NAMES = ("tsv", "csv", "jsonl", "parquet", "datasets", "hub")
DATA_KEYS = {"file", "text", "text_pair", "label", "format", "header", "split", "subset"}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# org/name only: a bare name that is no directory here is a missing directory, not a hub id
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class SuiteError(InputError):
    """A suite file that cannot be used: names the file, the key and what was expected."""

    def __init__(self, path: str | Path, key: str, message: str, line: int | None = None):
        self.key = key
        super().__init__(path, f"{key}: {message}" if key else message, line)


@dataclass(frozen=True)
class DataFile:
    """A labelled data source and its columns (``label`` None: unlabelled, calibration only):
    named, or 0-based positions in a TSV / CSV file without a header row."""

    file: str  # a path; for format "hub", a hub dataset id as written
    text: str | int
    text_pair: str | int | None = None
    label: str | int | None = "label"
    format: str = "tsv"  # tsv (tab-separated, no quoting) | csv | jsonl | parquet | datasets | hub
    header: bool = True  # tsv / csv: False when the first row is data (columns by position)
    split: str | None = None  # of a save_to_disk directory holding splits, or of a hub dataset
    subset: str | None = None  # a hub dataset's configuration (GLUE's "rte")


class Reader:
    """Validates one file's tables, naming each key it reads in its errors."""

    def __init__(self, path: Path, variables: Mapping[str, str], strict: bool) -> None:
        self.path, self.variables, self.strict = path, variables, strict

    def fail(self, key: str, message: str) -> SuiteError:
        return SuiteError(self.path, key, message)

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {kind_of(value)}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (expected one of "
                            f"{', '.join(sorted(allowed))})")  # fmt: skip
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {kind_of(value)}")
        return value

    def expand(self, value: str, key: str) -> str:
        """``${NAME}`` from the variables, then the environment; unset: an error when strict."""

        def one(match: re.Match) -> str:
            name = match.group(1)
            found = self.variables.get(name, user_variable(name))
            if found is None:
                if self.strict:
                    raise self.fail(key, f"${{{name}}} is not set")
                return match.group(0)
            return found

        return VARIABLE.sub(one, value)

    def location(self, value: Any, key: str, *, hub: bool = False) -> str:
        """A path relative to the suite file, expanded; with ``hub``, a name like
        ``org/model`` that is no path here is kept as written (a hub id)."""
        raw = self.expand(self.text(value, key), key)
        if VARIABLE.search(raw):
            return raw
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else (self.path.parent / path).resolve()
        if hub and not path.exists() and HUB_ID.fullmatch(raw):
            return raw
        return str(path)

    def number(self, value: Any, key: str, *, integer: bool = False) -> float:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
            what = "an integer" if integer else "a number"
            raise self.fail(key, f"expected {what} > 0, got {value!r}")
        return value

    def data(self, value: Any, key: str, like: DataFile | None = None) -> DataFile:
        """A data source; a bare string (``like`` given) takes ``like``'s columns."""
        if isinstance(value, str) and like is not None:
            value = {"file": value}
        d = self.table(value, key, DATA_KEYS)
        if "file" not in d:
            raise self.fail(f"{key}.file", "missing")
        file, fmt = self.source(d, key)
        base = like or DataFile("", "", None, None)
        header = d.get("header", base.header)
        if not isinstance(header, bool):
            raise self.fail(f"{key}.header", f"expected true or false, got {kind_of(header)}")
        if not header and fmt not in ("tsv", "csv"):
            raise self.fail(f"{key}.header", f"header = false is for tsv and csv files, not {fmt}")
        text = self.column(d.get("text", base.text), f"{key}.text", header)
        pair = d.get("text_pair", base.text_pair)
        label = d.get("label", base.label if like else "label")
        for name, column in (("text_pair", pair), ("label", label)):
            if column is not None:
                self.column(column, f"{key}.{name}", header)
        where = {"split": ("datasets", "hub"), "subset": ("hub",)}
        for name, formats in where.items():
            if name in d:
                self.text(d[name], f"{key}.{name}")
                if fmt not in formats:
                    raise self.fail(f"{key}.{name}", f"is for {' or '.join(formats)} sources, "
                                    f"not {fmt}")  # fmt: skip
        return DataFile(file, text, pair, label, fmt, header, d.get("split"), d.get("subset"))

    def source(self, d: dict[str, Any], key: str) -> tuple[str, str]:
        """(file, format): the format named, else by extension; a directory is a save_to_disk
        one; an ``org/name`` that is no path here (and has no file extension) a hub dataset."""
        named = d.get("format")
        if named is not None and named not in FORMAT_NAMES:
            raise self.fail(f"{key}.format", f"expected one of {', '.join(FORMAT_NAMES)}, "
                            f"got {named!r}")  # fmt: skip
        raw = self.text(d["file"], f"{key}.file")
        if named == "hub":  # an id as the hub spells it, never a path
            return self.expand(raw, f"{key}.file"), "hub"
        suffix = Path(raw).suffix.lower()
        file = self.location(raw, f"{key}.file", hub=named is None and suffix not in FORMATS)
        if named is not None:
            return file, named
        if VARIABLE.search(file):  # not known until the run sets it: a directory if no file
            return file, FORMATS.get(suffix, "datasets")
        if not Path(file).is_absolute():
            return file, "hub"
        if Path(file).is_dir():
            return file, "datasets"
        if suffix not in FORMATS:
            raise self.fail(f"{key}.format", f"expected one of {', '.join(FORMAT_NAMES)} (or a "
                            f"file ending {', '.join(FORMATS)}, or a directory), got "
                            f"{file!r}")  # fmt: skip
        return file, FORMATS[suffix]

    def column(self, value: Any, key: str, header: bool) -> str | int:
        """A column's name, or its 0-based position where the file has no header row."""
        if header:
            if isinstance(value, int) and not isinstance(value, bool):
                raise self.fail(key, f"expected a column name; a position ({value}) needs "
                                "header = false")  # fmt: skip
            return self.text(value, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, f"expected a column position (an integer >= 0: header = "
                            f"false), got {kind_of(value)}")  # fmt: skip
        return value


def kind_of(value: Any) -> str:
    """A value as an error message shows it: its type and a short repr."""
    return f"{type(value).__name__} {value!r}"[:60]
