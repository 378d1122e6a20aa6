"""Typed, versioned benchmark results: every figure declares its direction, unit, gate and CI.

A benchmark builds one CaseResult per case and stores it in pytest-benchmark's ``extra_info``
with ``record``; ``read`` gets it back from a saved JSON row (None for rows saved before this
schema existed). Bump SCHEMA_VERSION on any change that an older reader would misread.

Version 2 keeps the evidence behind each figure so that two runs can be compared by the
evidence of both (compress.verdict.change): a speedup's per-round paired ratios (``Metric.samples``)
and a quality figure's per-example predictions (``CaseResult.predictions``, referenced by
``Metric.by_example``). Version 1 results (no evidence) are still read; compare judges them
the old way and says so.

Each figure declares what it depends on (``Metric.depends_on``, compress.verdict.depends): between
which runs it is compared. One saved without it gets it from the table by name, never by unit.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import numpy as np

from compress.core.stats import Interval
from compress.verdict.depends import DependsOn, depends_on, facets

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: no samples or predictions (compared the old way)
EXTRA_INFO_KEY = "compress_bench"

Direction = Literal["higher", "lower", "report"]  # "report": shown, never gated
DIRECTIONS: tuple[str, ...] = get_args(Direction)


class SchemaError(ValueError):
    """A stored result does not match the schema this code reads."""


@dataclass(frozen=True)
class Metric:
    """One figure of a case, with what "better" means and how it is gated."""

    value: float
    unit: str  # "s" | "bytes" | "x" | "frac" | "pts" | ...: display only (see depends_on)
    direction: Direction  # which way is better; "report" is never gated
    tolerance: float | None = None  # allowed move in the worse direction between two runs
    relative: bool = False  # tolerance is a fraction of the baseline value
    budget: float | None = None  # threshold of the invariant checked inside the run, if any
    ci: Interval | None = None
    samples: tuple[float, ...] | None = None  # the observations behind ci (speed: round ratios)
    by_example: dict[str, str] | None = None  # {"set", "score", "arm"}: CaseResult.predictions
    # what two runs must share for this figure to be compared (compress.verdict.depends);
    # None: not declared here, CaseResult takes it from the table by the metric's name
    depends_on: DependsOn | None = None

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if not isinstance(self.unit, str):
            raise ValueError(f"unit must be a string, got {self.unit!r}")
        object.__setattr__(self, "value", _finite("value", self.value))
        if self.tolerance is not None:
            tol = _finite("tolerance", self.tolerance)
            if tol < 0:
                raise ValueError(f"tolerance must be >= 0, got {tol}")
            object.__setattr__(self, "tolerance", tol)
        if self.budget is not None:
            object.__setattr__(self, "budget", _finite("budget", self.budget))
        if not isinstance(self.relative, bool):
            raise ValueError(f"relative must be a bool, got {self.relative!r}")
        if self.relative and self.tolerance is None:
            raise ValueError("relative=True needs a tolerance to be a fraction of")
        if self.direction == "report" and (self.tolerance is not None or self.budget is not None):
            raise ValueError('a "report" metric is never gated: it takes no tolerance or budget')
        if self.ci is not None and not isinstance(self.ci, Interval):
            raise ValueError(f"ci must be an Interval or None, got {type(self.ci).__name__}")
        if self.samples is not None:
            values = tuple(_finite("sample", x) for x in self.samples)
            if len(values) < 2:
                raise ValueError(f"samples need at least 2 values, got {len(values)}")
            object.__setattr__(self, "samples", values)
        if self.by_example is not None:
            _check_by_example(self.by_example)
        if self.depends_on is not None:
            if isinstance(self.depends_on, str):
                raise ValueError(f"depends_on must be a set of facets, got {self.depends_on!r}")
            object.__setattr__(self, "depends_on", facets(self.depends_on))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; Metric.from_dict inverts it (evidence and declaration keys only when
        present)."""
        optional: dict[str, Any] = {}
        if self.samples is not None:
            optional["samples"] = list(self.samples)
        if self.by_example is not None:
            optional["by_example"] = dict(self.by_example)
        if self.depends_on is not None:
            optional["depends_on"] = sorted(f.value for f in self.depends_on)
        return optional | {
            "value": self.value,
            "unit": self.unit,
            "direction": self.direction,
            "tolerance": self.tolerance,
            "relative": self.relative,
            "budget": self.budget,
            "ci": None if self.ci is None else self.ci.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "?") -> Metric:
        """Inverse of to_dict; SchemaError names metric `name` when `d` is malformed."""
        if not isinstance(d, Mapping):
            raise SchemaError(f"metric {name!r}: expected a mapping, got {type(d).__name__}")
        _check_keys(
            d,
            required=("value", "unit", "direction"),
            optional=_METRIC_OPTIONAL,
            what=f"metric {name!r}",
        )
        try:
            ci = d.get("ci")
            return cls(
                value=d["value"],
                unit=d["unit"],
                direction=d["direction"],
                tolerance=d.get("tolerance"),
                relative=d.get("relative", False),
                budget=d.get("budget"),
                ci=None if ci is None else Interval.from_dict(ci),
                samples=None if d.get("samples") is None else tuple(d["samples"]),
                by_example=d.get("by_example"),
                depends_on=d.get("depends_on"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise SchemaError(f"metric {name!r}: {e}") from e


_METRIC_OPTIONAL = ("tolerance", "relative", "budget", "ci", "samples", "by_example", "depends_on")
_CASE_KEYS = ("schema", "case", "profile", "metrics", "config", "model", "data", "fingerprint")
ARMS = ("reference", "compressed", "drop")  # which figure of a prediction set a metric is
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _check_by_example(ref: Any) -> None:
    if not isinstance(ref, Mapping) or set(ref) != {"set", "score", "arm"}:
        raise ValueError(f'by_example must be {{"set", "score", "arm"}}, got {ref!r}')
    if ref["arm"] not in ARMS:
        raise ValueError(f"by_example arm must be one of {ARMS}, got {ref['arm']!r}")


def encode_labels(values: Any) -> str | list[int] | list[float]:
    """Class ids as one short string (one base-36 digit each) when all are in 0..35, else a
    list: a 408-pair MRPC prediction array costs 408 bytes of JSON. A regression head's
    outputs and gold scores (any value not a whole number) are kept as a list of floats."""
    array = np.asarray(values)
    if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        return [float(v) for v in array]
    ints = [int(v) for v in array]
    if all(0 <= v < len(_DIGITS) for v in ints):
        return "".join(_DIGITS[v] for v in ints)
    return ints


def decode_labels(encoded: str | list[int] | list[float]) -> list[int] | list[float]:
    """Inverse of encode_labels."""
    if isinstance(encoded, str):
        return [_DIGITS.index(c) for c in encoded]
    return [v if isinstance(v, float) else int(v) for v in encoded]


@dataclass(frozen=True)
class CaseResult:
    """Everything one benchmark case reports, with the provenance needed to trust it."""

    case: str  # case id, e.g. "mrpc-dynamic-int8"
    metrics: dict[str, Metric]
    config: dict[str, Any]  # the method's config, to_dict()
    model: dict[str, Any]  # provenance: at least "about"
    data: dict[str, Any]  # provenance: split, source, sha256 where known
    fingerprint: dict[str, Any]
    profile: str  # "quick" | "full"
    schema: int = field(default=SCHEMA_VERSION)
    # per-example evidence: {set: {"labels", "reference", "compressed"}}, encode_labels each
    predictions: dict[str, dict[str, Any]] = field(default_factory=dict)
    kernels: dict[str, Any] = field(default_factory=dict)  # compress.measure.kernels record

    def __post_init__(self) -> None:
        if type(self.schema) is not int or self.schema not in READABLE_VERSIONS:
            raise SchemaError(_version_message(self.schema))
        if not isinstance(self.case, str) or not self.case:
            raise ValueError(f"case must be a non-empty string, got {self.case!r}")
        if not isinstance(self.profile, str) or not self.profile:
            raise ValueError(f"profile must be a non-empty string, got {self.profile!r}")
        for name, m in self.metrics.items():
            if not isinstance(name, str) or not isinstance(m, Metric):
                raise ValueError(f"metrics must map names to Metric, got {name!r}: {m!r}")
        object.__setattr__(self, "metrics", declared(self.metrics))
        for name in ("config", "model", "data", "fingerprint"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict, got {type(getattr(self, name)).__name__}")
        if "about" not in self.model:
            raise ValueError('model provenance must include "about"')
        for key, arrays in self.predictions.items():
            if not isinstance(arrays, Mapping) or set(arrays) != {"labels", *ARMS[:2]}:
                raise ValueError(f"predictions {key!r} must hold labels, reference, compressed")
            lengths = {len(decode_labels(v)) for v in arrays.values()}
            if len(lengths) != 1:
                raise ValueError(f"predictions {key!r}: arrays differ in length {lengths}")
        for name, m in self.metrics.items():
            if m.by_example is not None and m.by_example["set"] not in self.predictions:
                raise ValueError(f"metric {name!r} refers to unknown predictions")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (copies, never aliases); CaseResult.from_dict inverts it exactly."""
        return {
            "schema": self.schema,
            "case": self.case,
            "profile": self.profile,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "config": copy.deepcopy(self.config),
            "model": copy.deepcopy(self.model),
            "data": copy.deepcopy(self.data),
            "fingerprint": copy.deepcopy(self.fingerprint),
        } | ({"predictions": copy.deepcopy(self.predictions)} if self.predictions else {}) | (
            {"kernels": copy.deepcopy(self.kernels)} if self.kernels else {}
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CaseResult:
        """Inverse of to_dict; SchemaError on another schema version or a malformed dict."""
        if not isinstance(d, Mapping):
            raise SchemaError(f"expected a mapping, got {type(d).__name__}")
        if "schema" not in d:
            raise SchemaError(_version_message(None))
        if type(d["schema"]) is not int or d["schema"] not in READABLE_VERSIONS:
            raise SchemaError(_version_message(d["schema"]))
        what = f"result {d.get('case')!r}"
        _check_keys(d, required=_CASE_KEYS, optional=("predictions", "kernels"), what=what)
        if not isinstance(d["metrics"], Mapping):
            raise SchemaError(f"metrics must be a mapping, got {type(d['metrics']).__name__}")
        metrics = {name: Metric.from_dict(m, name) for name, m in d["metrics"].items()}
        try:
            return cls(
                case=d["case"],
                metrics=metrics,
                config=copy.deepcopy(d["config"]),
                model=copy.deepcopy(d["model"]),
                data=copy.deepcopy(d["data"]),
                fingerprint=copy.deepcopy(d["fingerprint"]),
                profile=d["profile"],
                schema=d["schema"],
                predictions=copy.deepcopy(d.get("predictions") or {}),
                kernels=copy.deepcopy(d.get("kernels") or {}),
            )
        except (TypeError, ValueError) as e:
            raise SchemaError(f"result {d['case']!r}: {e}") from e


def declared(metrics: Mapping[str, Metric]) -> dict[str, Metric]:
    """``metrics`` with every undeclared ``depends_on`` taken from the table by name."""
    return {
        name: m if m.depends_on is not None else replace(m, depends_on=depends_on(name))
        for name, m in metrics.items()
    }


def record(extra_info: dict[str, Any], result: CaseResult) -> None:
    """Store `result` under extra_info[EXTRA_INFO_KEY]: one result per case.

    Recording the same result twice is a no-op; a different one raises ValueError. Raises
    TypeError/ValueError now, not when pytest-benchmark saves, if it is not strict JSON.
    """
    d = result.to_dict()
    json.dumps(d, allow_nan=False)  # fail here, next to the cause
    held = extra_info.get(EXTRA_INFO_KEY)
    if held is not None and held != d:
        raise ValueError(
            f"extra_info already holds result {held.get('case')!r}; one result per case, "
            f"refusing to overwrite it with {result.case!r}"
        )
    extra_info[EXTRA_INFO_KEY] = d


def read(extra_info: Mapping[str, Any]) -> CaseResult | None:
    """The result stored by `record`, or None for a row saved before the schema existed."""
    d = extra_info.get(EXTRA_INFO_KEY)
    return None if d is None else CaseResult.from_dict(d)


def _finite(name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name} must be a number, got {x!r}")
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return float(x)


def _check_keys(
    d: Mapping[str, Any], *, required: tuple[str, ...], optional: tuple[str, ...], what: str
) -> None:
    missing = [k for k in required if k not in d]
    if missing:
        raise SchemaError(f"{what}: missing {', '.join(map(repr, missing))}")
    unknown = sorted(set(d) - set(required) - set(optional))
    if unknown:
        raise SchemaError(f"{what}: unknown key(s) {', '.join(map(repr, unknown))}")


def _version_message(found: Any) -> str:
    got = "no schema version" if found is None else f"schema version {found!r}"
    return (
        f"result has {got}, version {' or '.join(map(str, READABLE_VERSIONS))} expected; "
        "re-run the benchmark or read it with the matching compress-bench"
    )
