"""compress.results: the typed, versioned result schema and its extra_info storage."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from compress.results import (
    EXTRA_INFO_KEY,
    SCHEMA_VERSION,
    CaseResult,
    Metric,
    SchemaError,
    read,
    record,
)
from compress.stats import Interval


def _result(case: str = "mrpc-dynamic-int8", speedup: float = 2.1) -> CaseResult:
    return CaseResult(
        case=case,
        metrics={
            "speedup": Metric(
                speedup,
                "x",
                "higher",
                tolerance=0.1,
                relative=True,
                budget=1.2,
                ci=Interval(1.9, 2.3, 0.95, 20, "percentile"),
            ),
            "f1_drop_pts": Metric(
                0.4,
                "pts",
                "lower",
                tolerance=0.5,
                budget=1.0,
                ci=Interval(-0.2, 1.1, 0.95, 408, "percentile"),
            ),
            "size_bytes": Metric(1234567, "bytes", "report"),
        },
        config={"dtype": "qint8", "modules": ["Linear"], "nested": {"k": 1}},
        model={"about": "bert-base-uncased fine-tuned on MRPC", "sha256": "ab" * 32},
        data={"split": "validation", "source": "glue/mrpc", "sha256": None},
        fingerprint={"torch": "2.13.0", "cpu": "x86_64"},
        profile="quick",
    )


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_is_exact() -> None:
    r = _result()
    d = r.to_dict()
    assert d["schema"] == SCHEMA_VERSION == 1
    assert CaseResult.from_dict(d) == r
    assert CaseResult.from_dict(json.loads(json.dumps(d))) == r  # what pytest-benchmark saves


def test_round_trip_sees_every_field() -> None:
    """Equality is not vacuous: changing any one figure breaks it."""
    d = _result().to_dict()
    d["metrics"]["speedup"]["ci"]["high"] = 2.4
    assert CaseResult.from_dict(d) != _result()
    assert _result(speedup=2.2) != _result()


def test_to_dict_copies() -> None:
    r = _result()
    d = r.to_dict()
    d["config"]["nested"]["k"] = 99
    d["model"]["about"] = "other"
    assert r.config["nested"]["k"] == 1 and r.model["about"].startswith("bert")


def test_metric_numbers_become_floats() -> None:
    m = Metric(np.float32(3), "x", "higher", tolerance=1, budget=np.int64(2))
    assert (type(m.value), type(m.tolerance), type(m.budget)) == (float, float, float)
    json.dumps(m.to_dict())


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"direction": "up"}, "direction must be one of"),
        ({"value": math.nan}, "value must be finite"),
        ({"value": math.inf}, "value must be finite"),
        ({"value": "1.0"}, "value must be a number"),
        ({"value": True}, "value must be a number"),
        ({"tolerance": -0.1}, "tolerance must be >= 0"),
        ({"tolerance": math.nan}, "tolerance must be finite"),
        ({"budget": math.inf}, "budget must be finite"),
        ({"relative": True}, "needs a tolerance"),
        ({"direction": "report", "tolerance": 0.1}, "never gated"),
        ({"direction": "report", "budget": 1.0}, "never gated"),
        ({"ci": (0.0, 1.0)}, "ci must be an Interval"),
    ],
)
def test_metric_validation(kwargs: dict[str, Any], match: str) -> None:
    args = {"value": 1.0, "unit": "x", "direction": "higher", **kwargs}
    with pytest.raises(ValueError, match=match):
        Metric(**args)


def test_metric_direction_has_no_default() -> None:
    """Never gated must be a choice: a Metric without a direction does not construct."""
    with pytest.raises(TypeError):
        Metric(1.0, "x")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model": {"source": "hub"}}, '"about"'),
        ({"metrics": {"f1": 0.9}}, "metrics must map names to Metric"),
        ({"case": ""}, "case must be"),
        ({"profile": ""}, "profile must be"),
        ({"config": None}, "config must be a dict"),
    ],
)
def test_case_result_validation(change: dict[str, Any], match: str) -> None:
    fields = {**_result().__dict__, **change}
    with pytest.raises(ValueError, match=match):
        CaseResult(**fields)


# --- schema version and malformed dicts --------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "match"),
    [(2, "schema version 2, version 1 expected"), (0, "version 0,"), ("1", "'1'"), (True, "True")],
)
def test_schema_version_refused(schema: Any, match: str) -> None:
    d = _result().to_dict()
    d["schema"] = schema
    with pytest.raises(SchemaError, match=match):
        CaseResult.from_dict(d)


def test_future_schema_refused_by_version_not_by_shape() -> None:
    """A v2 row may have other keys: the error must still say which version it is."""
    d = _result().to_dict()
    d.update(schema=2, verdicts={})
    del d["fingerprint"]
    with pytest.raises(SchemaError, match="schema version 2, version 1 expected"):
        CaseResult.from_dict(d)


def test_missing_schema_refused() -> None:
    d = _result().to_dict()
    del d["schema"]
    with pytest.raises(SchemaError, match="no schema version, version 1 expected"):
        CaseResult.from_dict(d)


def test_constructing_another_schema_refused() -> None:
    with pytest.raises(SchemaError, match="version 2"):
        CaseResult(**{**_result().__dict__, "schema": 2})


def test_missing_direction_names_the_metric() -> None:
    d = _result().to_dict()
    del d["metrics"]["f1_drop_pts"]["direction"]
    with pytest.raises(SchemaError, match=r"metric 'f1_drop_pts': missing 'direction'"):
        CaseResult.from_dict(d)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["metrics"]["speedup"].update(value=math.nan), "metric 'speedup'.*finite"),
        (lambda d: d["metrics"]["speedup"].update(better="higher"), "unknown key.*'better'"),
        (lambda d: d["metrics"]["speedup"]["ci"].pop("level"), "metric 'speedup'.*level"),
        (lambda d: d["metrics"]["size_bytes"].update(tolerance=1.0), "'size_bytes'.*never gated"),
        (lambda d: d.pop("fingerprint"), "missing 'fingerprint'"),
        (lambda d: d.update(extra=1), "unknown key.*'extra'"),
        (lambda d: d["model"].pop("about"), '"about"'),
    ],
)
def test_malformed_dict_is_a_schema_error(edit: Any, match: str) -> None:
    d = _result().to_dict()
    edit(d)
    with pytest.raises(SchemaError, match=match):
        CaseResult.from_dict(d)


def test_schema_error_is_a_value_error() -> None:
    assert issubclass(SchemaError, ValueError)


# --- record / read ----------------------------------------------------------------------------


def test_record_then_read() -> None:
    extra_info: dict[str, Any] = {"other": 1}
    r = _result()
    record(extra_info, r)
    assert set(extra_info) == {"other", EXTRA_INFO_KEY} and EXTRA_INFO_KEY == "compress_bench"
    assert extra_info[EXTRA_INFO_KEY] == r.to_dict()
    assert read(extra_info) == r
    assert read(json.loads(json.dumps(extra_info))) == r


def test_read_older_row_is_none() -> None:
    assert read({}) is None
    assert read({"f1": 0.9, "speedup": 2.0}) is None


def test_read_refuses_another_schema() -> None:
    extra_info: dict[str, Any] = {}
    record(extra_info, _result())
    extra_info[EXTRA_INFO_KEY]["schema"] = 2
    with pytest.raises(SchemaError, match="version 2"):
        read(extra_info)


def test_record_one_result_per_case() -> None:
    extra_info: dict[str, Any] = {}
    record(extra_info, _result())
    record(extra_info, _result())  # the same result again: a no-op
    with pytest.raises(ValueError, match="one result per case"):
        record(extra_info, _result(case="mrpc-static-int8"))
    with pytest.raises(ValueError, match="one result per case"):
        record(extra_info, _result(speedup=2.2))
    assert read(extra_info) == _result()


@pytest.mark.parametrize(("bad", "error"), [(object(), TypeError), (math.nan, ValueError)])
def test_record_refuses_what_json_cannot_hold(bad: Any, error: type[Exception]) -> None:
    extra_info: dict[str, Any] = {}
    r = CaseResult(**{**_result().__dict__, "config": {"x": bad}})
    with pytest.raises(error):
        record(extra_info, r)
    assert extra_info == {}
