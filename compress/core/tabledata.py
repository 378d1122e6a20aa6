"""Labelled data held as tables, read by column name: a parquet file (pyarrow), a directory
written by ``datasets``' ``save_to_disk``, or a ``datasets.Dataset`` already loaded (a hub
copy). pyarrow and datasets come with the bench extra (datasets brings pyarrow) and are
imported on first use. Rows are named as ``dataset[i]`` names them: ``row 0`` is the first.
Every defect raises ``InputError`` naming the file or directory and what was expected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.core.errors import InputError

TABLE_FORMATS = ("parquet", "datasets")


@dataclass(frozen=True)
class Table:
    """The wanted columns of a table, with where they came from."""

    columns: dict[str, list[Any]]
    rows: int
    source: str  # the file or directory (or hub id), with a short hash
    sha256: str  # of the parquet file's bytes; of the rows' content for a dataset

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(``row i``, {column: value}) per row."""
        for i in range(self.rows):
            yield f"row {i}", {name: values[i] for name, values in self.columns.items()}


def _check_columns(where: str | Path, have: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        shown = ", ".join(map(repr, have)) or "none"
        raise InputError(where, f"no column {missing[0]!r} (columns: {shown})")


def read_parquet(path: Path, wanted: Sequence[str]) -> Table:
    """The ``wanted`` columns of a parquet file."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(path, "reading parquet needs pyarrow (pip install datasets, which "
                         "brings it, or pyarrow)") from None  # fmt: skip
    try:
        names = pq.read_schema(path).names
    except (pyarrow.ArrowException, OSError) as err:
        raise InputError(path, f"not a parquet file ({err})") from None
    _check_columns(path, names, wanted)
    table = pq.read_table(path, columns=list(dict.fromkeys(wanted)))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Table(table.to_pydict(), table.num_rows, f"{path} (sha256 {digest[:8]}…)", digest)


def read_saved(path: Path, wanted: Sequence[str], split: str | None = None) -> Table:
    """The ``wanted`` columns of a ``save_to_disk`` directory (of a DatasetDict: ``split``)."""
    if not path.is_dir():
        raise InputError(path, "no such directory (a datasets save_to_disk directory)")
    try:
        from datasets import load_from_disk
    except ImportError:
        raise InputError(path, "reading a datasets directory needs datasets "
                         "(pip install datasets)") from None  # fmt: skip
    try:
        data = load_from_disk(str(path))
    except FileNotFoundError:
        raise InputError(path, "not a datasets save_to_disk directory (no state.json or "
                         "dataset_dict.json: write it with save_to_disk)") from None  # fmt: skip
    except (ValueError, KeyError, OSError) as err:
        raise InputError(path, f"a datasets directory that cannot be read ({err})") from None
    return from_dataset(pick_split(path, data, split), str(path), wanted)


def pick_split(where: str | Path, data: Any, split: str | None) -> Any:
    """``data`` itself (a Dataset), or its ``split`` (a DatasetDict: one must be named)."""
    if not hasattr(data, "column_names") or isinstance(data.column_names, dict):
        splits = ", ".join(data)
        if split is None:
            raise InputError(where, f"holds the splits {splits}: name one (split = ...)")
        if split not in data:
            raise InputError(where, f"no split {split!r} (splits: {splits})")
        return data[split]
    if split is not None:
        raise InputError(where, f"split {split!r} named, but this is one dataset, not splits")
    return data


def from_dataset(dataset: Any, name: str, wanted: Sequence[str]) -> Table:
    """The ``wanted`` columns of a ``datasets.Dataset`` called ``name`` in errors."""
    _check_columns(name, dataset.column_names, wanted)
    columns = dataset.select_columns(list(dict.fromkeys(wanted))).to_dict()
    content = json.dumps(columns, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    rows = dataset.num_rows
    return Table(columns, rows, f"{name} ({rows} rows, sha256 {digest[:8]}…)", digest)
