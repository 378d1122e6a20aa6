"""A declared suite: the user's own classifiers and labelled files, benchmarked without Python.

    [models.my-classifier]
    path = "models/my-classifier"        # save_pretrained directory (or a hub id org/name, online)
    metric = "macro_f1"                  # accuracy | f1 | macro_f1 | weighted_f1 | mcc;
                                         # pearson | spearman for a regression head
    eval = { file = "data/test.tsv", text = "sentence", label = "label" }
    # header = false: columns by 0-based position; .parquet files and save_to_disk
    # directories (split = "validation") by name; a hub dataset id (org/name, subset, split)
    calibration = "data/train.tsv"       # optional: the eval file's columns; static int8
    train = "data/train.tsv"             # optional: labelled; structured fine-pruning
    max_length = 128                     # optional: default the 95th percentile of eval
    batch_sizes = [1, 8]
    methods = ["torch-dynamic", "ort-dynamic-per-channel"]   # optional: the defaults that apply
    [models.my-classifier.budgets]
    quality_drop_pts = 1.0               # largest drop of the metric, points
    min_speedup = 1.3                    # optional: default this CPU's int8 floor
    min_agreement = 0.90                 # answers equal to fp32's, fraction
    agreement_tolerance = 0.1            # regression: an output within this of fp32's agrees

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

from compress.methods.registry import METHODS, REGISTRY
from compress.methods.suite_reader import HUB_ID, DataFile, Reader, SuiteError, kind_of

# the data sources and the errors are read in suite_reader; they are this module's names too
__all__ = ["HUB_ID", "METRICS", "REGRESSION_METRICS", "Budgets", "DataFile", "DeclaredModel",
           "Suite", "SuiteError", "load_suite"]  # fmt: skip

# metric name in the file -> verdict.change.SCORES key (the paired CIs know it by that name)
METRICS = {
    "accuracy": "accuracy",
    "f1": "f1_binary",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
    "mcc": "mcc",
    "pearson": "pearson",  # a regression head's (num_labels = 1)
    "spearman": "spearman",
}
REGRESSION_METRICS = ("pearson", "spearman")
MODEL_KEYS = {"path", "metric", "eval", "calibration", "train", "max_length", "batch_sizes",
              "methods", "budgets"}  # fmt: skip
BUDGET_KEYS = {"quality_drop_pts", "min_speedup", "min_agreement", "agreement_tolerance"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
TABLE = "tool.compress-bench"


@dataclass(frozen=True)
class Budgets:
    """What each compressed variant must satisfy against the fp32 model."""

    quality_drop_pts: float = 1.0
    min_speedup: float | None = None  # None: the CPU-relative int8 floor of the run
    min_agreement: float = 0.90
    # a regression head's output agrees with fp32's within this (its own units: 0.1 is 2% of
    # STS-B's 0-5 scale); a classifier's answers agree when they are the same class
    agreement_tolerance: float = 0.1


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

    @property
    def regression(self) -> bool:
        """Scored as a regression head (num_labels = 1): its metric is a correlation."""
        return self.metric in REGRESSION_METRICS

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


def _model(r: Reader, name: str, raw: Any, defaults: dict[str, Any]) -> DeclaredModel:
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
    regression = metric in REGRESSION_METRICS
    methods = _methods(r, f"{key}.methods", d.get("methods"), set(extra), regression)
    budgets = _budgets(r, f"{key}.budgets", d.get("budgets", {}), metric)
    path = r.location(d["path"], f"{key}.path", hub=True)
    return DeclaredModel(name, path, evaluation, metric, extra.get("calibration"),
                         extra.get("train"), max_length, tuple(sorted(set(sizes))), methods,
                         budgets)  # fmt: skip


def _methods(r: Reader, key: str, raw: Any, files: set[str], regression: bool) -> tuple[str, ...]:
    # the training methods' losses (cross-entropy, distillation of the class distribution)
    # are a classifier's: a regression head is only compressed, never trained here
    usable = files - {"train"} if regression else files
    if raw is None:  # every default method whose files are declared
        return tuple(m.name for m in METHODS if m.default and set(m.needs.files()) <= usable)
    if not isinstance(raw, list) or not raw:
        raise r.fail(key, f"expected a non-empty list of methods, got {kind_of(raw)}")
    for method in raw:
        if method not in REGISTRY:
            raise r.fail(key, f"unknown method {method!r} (expected {', '.join(REGISTRY)})")
        needs_files = REGISTRY[method].needs.files()
        if regression and "train" in needs_files:
            raise r.fail(key, f"{method} trains a classification head; a regression metric "
                         "(pearson, spearman) is only compressed, not trained")  # fmt: skip
        for needs in needs_files:
            if needs not in files:
                raise r.fail(key, f"{method} needs a {needs} file (models.NAME.{needs})")
    return tuple(dict.fromkeys(raw))


def _budgets(r: Reader, key: str, raw: Any, metric: str) -> Budgets:
    d = r.table(raw, key, BUDGET_KEYS)
    values = {k: r.number(v, f"{key}.{k}") for k, v in d.items()}
    if values.get("min_agreement", 0.5) > 1:
        raise r.fail(f"{key}.min_agreement", f"expected a fraction in (0, 1], got "
                     f"{values['min_agreement']!r}")  # fmt: skip
    if "agreement_tolerance" in values and metric not in REGRESSION_METRICS:
        raise r.fail(f"{key}.agreement_tolerance", f"is for a regression metric "
                     f"({', '.join(REGRESSION_METRICS)}), not {metric}")  # fmt: skip
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
    r = Reader(path, variables or {}, strict)
    top = r.table(_tables(path), TABLE if path.name == "pyproject.toml" else "",
                  {"defaults", "models"})  # fmt: skip
    defaults = r.table(top.get("defaults", {}), "defaults", MODEL_KEYS)
    models = r.table(top.get("models", {}), "models", set(top.get("models", {})))
    if not models:
        raise r.fail("models", "missing: declare at least one [models.NAME] table")
    return Suite(path, tuple(_model(r, name, raw, defaults) for name, raw in models.items()))
