"""A declared suite: the user's own classifiers and labelled files, benchmarked without Python.

    [models.my-classifier]
    path = "models/my-classifier"        # save_pretrained directory (or a hub id org/name, online)
    metric = "macro_f1"                  # accuracy | f1 (binary) | macro_f1 | weighted_f1
    eval = { file = "data/test.tsv", text = "sentence", label = "label" }
    calibration = "data/train.tsv"       # optional: the eval file's columns; static int8
    train = "data/train.tsv"             # optional: labelled; structured fine-pruning
    max_length = 128                     # optional: default the 95th percentile of eval
    batch_sizes = [1, 8]
    methods = ["torch-dynamic", "ort-dynamic-per-channel"]   # optional: the defaults that apply
    [models.my-classifier.budgets]
    quality_drop_pts = 1.0               # largest drop of the metric, points
    min_speedup = 1.3                    # optional: default this CPU's int8 floor
    min_agreement = 0.90                 # answers equal to fp32's, fraction

A ``[defaults]`` table gives any model key to every model. The file may be a
``pyproject.toml`` holding the same tables under ``[tool.compress-bench]``. Paths are relative
to the file; ``${NAME}`` is read from the caller's variables, then the environment. Every
defect is a ``SuiteError`` naming the file and the key (``models.NAME.metric``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from compress.core.environment import user_variable
from compress.core.errors import InputError
from compress.methods.registry import METHODS, REGISTRY

# metric name in the file -> verdict.change.SCORES key (the paired CIs know it by that name)
METRICS = {
    "accuracy": "accuracy",
    "f1": "f1_binary",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
}
FORMATS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl"}
MODEL_KEYS = {"path", "metric", "eval", "calibration", "train", "max_length", "batch_sizes",
              "methods", "budgets"}  # fmt: skip
DATA_KEYS = {"file", "text", "text_pair", "label", "format"}
BUDGET_KEYS = {"quality_drop_pts", "min_speedup", "min_agreement"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# org/name only: a bare name that is no directory here is a missing directory, not a hub id
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
TABLE = "tool.compress-bench"


class SuiteError(InputError):
    """A suite file that cannot be used: names the file, the key and what was expected."""

    def __init__(self, path: str | Path, key: str, message: str, line: int | None = None):
        self.key = key
        super().__init__(path, f"{key}: {message}" if key else message, line)


@dataclass(frozen=True)
class DataFile:
    """A labelled text file and its columns (``label`` None: unlabelled, calibration only)."""

    file: str
    text: str
    text_pair: str | None = None
    label: str | None = "label"
    format: str = "tsv"  # tsv (tab-separated, header row, no quoting) | csv | jsonl


@dataclass(frozen=True)
class Budgets:
    """What each compressed variant must satisfy against the fp32 model."""

    quality_drop_pts: float = 1.0
    min_speedup: float | None = None  # None: the CPU-relative int8 floor of the run
    min_agreement: float = 0.90


@dataclass(frozen=True)
class DeclaredModel:
    """One declared classifier: where it is, what it is scored on, and what to run."""

    name: str
    path: str
    eval: DataFile
    metric: str = "f1"
    calibration: DataFile | None = None
    train: DataFile | None = None  # labelled: what fine-pruning trains on
    max_length: int | None = None  # None: the 95th percentile of the tokenized eval texts
    batch_sizes: tuple[int, ...] = (1, 8)
    methods: tuple[str, ...] = ()
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def score_name(self) -> str:
        """The compress.verdict.change.SCORES key of ``metric``."""
        return METRICS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Suite:
    """A validated suite file."""

    path: Path
    models: tuple[DeclaredModel, ...]

    def model(self, name: str) -> DeclaredModel:
        """The model declared as ``name``; SuiteError naming the declared ones otherwise."""
        for model in self.models:
            if model.name == name:
                return model
        known = ", ".join(m.name for m in self.models)
        raise SuiteError(self.path, "models", f"no model {name!r} (declared: {known})")


class _Reader:
    """Validates one file's tables, naming each key it reads in its errors."""

    def __init__(self, path: Path, variables: Mapping[str, str], strict: bool) -> None:
        self.path, self.variables, self.strict = path, variables, strict

    def fail(self, key: str, message: str) -> SuiteError:
        return SuiteError(self.path, key, message)

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_kind(value)}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", f"unknown key (expected one of "
                            f"{', '.join(sorted(allowed))})")  # fmt: skip
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {_kind(value)}")
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
        if isinstance(value, str) and like is not None:  # a file with the eval file's columns
            value = {"file": value}
        d = self.table(value, key, DATA_KEYS)
        if "file" not in d:
            raise self.fail(f"{key}.file", "missing")
        file = self.location(d["file"], f"{key}.file")
        fmt = d.get("format") or FORMATS.get(Path(file).suffix.lower())
        if fmt not in set(FORMATS.values()):
            raise self.fail(f"{key}.format", f"expected one of tsv, csv, jsonl (or a file "
                            f"ending {', '.join(FORMATS)}), got {fmt!r}")  # fmt: skip
        base = like or DataFile("", "", None, None)
        text = self.text(d.get("text", base.text), f"{key}.text")
        pair = d.get("text_pair", base.text_pair)
        label = d.get("label", base.label if like else "label")
        for name, column in (("text_pair", pair), ("label", label)):
            if column is not None:
                self.text(column, f"{key}.{name}")
        return DataFile(file, text, pair, label, fmt)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:60]


def _model(r: _Reader, name: str, raw: Any, defaults: dict[str, Any]) -> DeclaredModel:
    key = f"models.{name}"
    if not NAME.fullmatch(name):
        raise r.fail(key, "a model name is letters, digits, '_', '.' and '-' (no spaces)")
    d = {**defaults, **r.table(raw, key, MODEL_KEYS)}
    for required in ("path", "eval"):
        if required not in d:
            raise r.fail(f"{key}.{required}", "missing")
    metric = d.get("metric", "f1")
    if metric not in METRICS:
        raise r.fail(f"{key}.metric", f"expected one of {', '.join(METRICS)}, got {metric!r}")
    evaluation = r.data(d["eval"], f"{key}.eval")
    if evaluation.label is None:
        raise r.fail(f"{key}.eval.label", "the evaluation file needs a label column")
    extra = {k: r.data(d[k], f"{key}.{k}", like=evaluation)
             for k in ("calibration", "train") if k in d}  # fmt: skip
    max_length = d.get("max_length")
    if max_length is not None:
        max_length = int(r.number(max_length, f"{key}.max_length", integer=True))
    batches = d.get("batch_sizes", [1, 8])
    if not isinstance(batches, list) or not batches:
        raise r.fail(f"{key}.batch_sizes", f"expected a list of integers > 0, got {batches!r}")
    sizes = tuple(int(r.number(b, f"{key}.batch_sizes", integer=True)) for b in batches)
    methods = _methods(r, f"{key}.methods", d.get("methods"), set(extra))
    budgets = _budgets(r, f"{key}.budgets", d.get("budgets", {}))
    path = r.location(d["path"], f"{key}.path", hub=True)
    return DeclaredModel(name, path, evaluation, metric, extra.get("calibration"),
                         extra.get("train"), max_length, tuple(sorted(set(sizes))), methods,
                         budgets)  # fmt: skip


def _methods(r: _Reader, key: str, raw: Any, files: set[str]) -> tuple[str, ...]:
    if raw is None:  # every default method whose files are declared
        return tuple(m.name for m in METHODS if m.default and set(m.needs.files()) <= files)
    if not isinstance(raw, list) or not raw:
        raise r.fail(key, f"expected a non-empty list of methods, got {_kind(raw)}")
    for method in raw:
        if method not in REGISTRY:
            raise r.fail(key, f"unknown method {method!r} (expected {', '.join(REGISTRY)})")
        for needs in REGISTRY[method].needs.files():
            if needs not in files:
                raise r.fail(key, f"{method} needs a {needs} file (models.NAME.{needs})")
    return tuple(dict.fromkeys(raw))


def _budgets(r: _Reader, key: str, raw: Any) -> Budgets:
    d = r.table(raw, key, BUDGET_KEYS)
    values = {k: r.number(v, f"{key}.{k}") for k, v in d.items()}
    if values.get("min_agreement", 0.5) > 1:
        raise r.fail(f"{key}.min_agreement", f"expected a fraction in (0, 1], got "
                     f"{values['min_agreement']!r}")  # fmt: skip
    return Budgets(**values)


def _tables(path: Path) -> dict[str, Any]:
    """The suite's tables: the whole file, or ``[tool.compress-bench]`` of a pyproject.toml."""
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise SuiteError(path, "", "suite file not found") from None
    except UnicodeDecodeError as err:
        raise SuiteError(path, "", f"not valid UTF-8 ({err.reason})") from None
    except tomllib.TOMLDecodeError as err:
        line = re.search(r"line (\d+)", str(err))
        at = int(line[1]) if line else None
        raise SuiteError(path, "", f"not valid TOML ({err})", at) from None
    if path.name == "pyproject.toml":
        doc = doc.get("tool", {}).get("compress-bench")
        if doc is None:
            raise SuiteError(path, TABLE, "missing: a pyproject.toml suite needs this table")
    return doc


def load_suite(
    path: str | Path, variables: Mapping[str, str] | None = None, *, strict: bool = True
) -> Suite:
    """Read and validate a suite file. ``strict=False`` leaves unset ``${NAME}`` in place
    (a suite whose paths are known only once the run has built them)."""
    path = Path(path).expanduser().resolve()
    r = _Reader(path, variables or {}, strict)
    top = r.table(_tables(path), TABLE if path.name == "pyproject.toml" else "",
                  {"defaults", "models"})  # fmt: skip
    defaults = r.table(top.get("defaults", {}), "defaults", MODEL_KEYS)
    models = r.table(top.get("models", {}), "models", set(top.get("models", {})))
    if not models:
        raise r.fail("models", "missing: declare at least one [models.NAME] table")
    return Suite(path, tuple(_model(r, name, raw, defaults) for name, raw in models.items()))
