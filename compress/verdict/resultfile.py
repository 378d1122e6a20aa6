"""Reading result files: a pytest-benchmark JSON whose rows carry typed results.

``load`` returns a ``ResultFile``: the document, its profile, its machine fingerprint and, per
benchmark row, the typed result (compress.verdict.results.CaseResult) or None for a row that records
no figures (a reference row that is only timed). A file the suite wrote before the result
schema existed (rows with loose numeric extra_info keys and no typed result) is refused with
an InputError that says to re-record it; so is a row whose typed result cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compress.core.errors import InputError
from compress.verdict.results import EXTRA_INFO_KEY, CaseResult, SchemaError, read

# extra_info keys that pytest-benchmark rows of the current schema may carry besides the result
ROW_KEYS = frozenset({EXTRA_INFO_KEY, "profile"})
OUTCOMES_KEY = "compress_bench"  # top-level: {"outcomes": {node id: outcome}} (conftest)


@dataclass(frozen=True)
class ResultFile:
    """One loaded result file."""

    path: Path
    doc: dict[str, Any]
    cases: dict[str, CaseResult | None]  # benchmark fullname -> typed result (None: time only)

    @property
    def machine_info(self) -> Mapping[str, Any]:
        """pytest-benchmark's machine_info, with the suite's fingerprint and profile."""
        info = self.doc.get("machine_info")
        return info if isinstance(info, Mapping) else {}

    @property
    def profile(self) -> str | None:
        """The profile the run used; None for files saved before profiles existed."""
        profile = self.machine_info.get("profile")
        return profile if isinstance(profile, str) else None

    @property
    def fingerprint(self) -> Mapping[str, Any]:
        """The machine fingerprint (compress.measure.fingerprint), {} when absent."""
        fp = self.machine_info.get("fingerprint")
        return fp if isinstance(fp, Mapping) else {}

    def rows(self) -> dict[str, Mapping[str, Any]]:
        """Benchmark rows by fullname, in the file's order."""
        return {b["fullname"]: b for b in self.doc["benchmarks"]}

    @property
    def outcomes(self) -> dict[str, str]:
        """Test node id -> "passed" / "failed: ..." / "error: ..." / "skipped: <reason>" for
        every benchmark test of the run ({} for files saved before outcomes were kept)."""
        held = (self.doc.get(OUTCOMES_KEY) or {}).get("outcomes") or {}
        return {str(k): str(v) for k, v in held.items()} if isinstance(held, Mapping) else {}


def same_run(a: ResultFile, b: ResultFile) -> bool:
    """Whether two loaded files are one run (the same file, or the same benchmarks and
    datetime): comparing a run with itself proves nothing."""
    if a.path.resolve() == b.path.resolve():
        return True
    return a.doc.get("datetime") == b.doc.get("datetime") and a.doc == b.doc


def load_json(path: str | Path) -> dict[str, Any]:
    """Load a pytest-benchmark JSON file; InputError names the file, line and problem."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise InputError(path, 'not a pytest-benchmark result: no "benchmarks" list')
    for i, bench in enumerate(doc["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("fullname"), str):
            raise InputError(path, f'benchmarks[{i}] is not an object with a "fullname" string')
    return doc


def _case(bench: Mapping[str, Any], path: str | Path) -> CaseResult | None:
    extra = bench.get("extra_info") or {}
    if not isinstance(extra, Mapping):
        raise InputError(path, f"benchmark {bench['fullname']}: extra_info is not an object")
    loose = sorted(set(extra) - ROW_KEYS)
    if loose and EXTRA_INFO_KEY not in extra:
        raise InputError(
            path,
            f"benchmark {bench['fullname']}: saved before the typed result schema (loose keys "
            f"{', '.join(loose[:4])}{', ...' if len(loose) > 4 else ''}, no "
            f'"{EXTRA_INFO_KEY}"); re-record it with this compress-bench',
        )
    try:
        return read(extra)
    except SchemaError as exc:
        raise InputError(path, f"benchmark {bench['fullname']}: {exc}") from None


def load(path: str | Path) -> ResultFile:
    """Load and validate a result file (see the module docstring); raise InputError."""
    return from_doc(load_json(path), path)


def from_doc(doc: dict[str, Any], path: str | Path) -> ResultFile:
    """A ResultFile of an already parsed document (``path`` names it in errors)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise InputError(path, 'not a pytest-benchmark result: no "benchmarks" list')
    cases = {b["fullname"]: _case(b, path) for b in doc["benchmarks"]}
    return ResultFile(Path(path), doc, cases)
