"""compress.verdict.results: the typed, versioned result schema and its extra_info storage."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from compress.core.stats import Interval
from compress.verdict.results import (
    EXTRA_INFO_KEY,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    CaseResult,
    Metric,
    SchemaError,
    decode_labels,
    encode_labels,
    read,
    record,
)


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


def _with_evidence() -> CaseResult:
    """A schema-2 result: a speedup with its round ratios, a drop pointing at its predictions."""
    r = _result()
    y, ref, comp = [0, 1, 1, 0, 1, 1], [0, 1, 1, 0, 1, 0], [0, 1, 0, 0, 1, 0]
    metrics = {
        **r.metrics,
        "speedup": Metric(
            2.1,
            "x",
            "higher",
            tolerance=0.1,
            relative=True,
            ci=Interval(1.9, 2.3, 0.96875, 6, "order"),
            samples=(1.9, 2.0, 2.1, 2.1, 2.2, 2.3),
        ),
        "f1_drop_pts": Metric(
            10.0,
            "pts",
            "lower",
            tolerance=0.5,
            ci=Interval(0.0, 25.0, 0.95, 6, "percentile"),
            by_example={"set": "p0", "score": "f1_binary", "arm": "drop"},
        ),
    }
    predictions = {"p0": {k: encode_labels(v) for k, v in (("labels", y), ("reference", ref),
                                                          ("compressed", comp))}}  # fmt: skip
    return CaseResult(**{**r.__dict__, "metrics": metrics, "predictions": predictions})


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_is_exact() -> None:
    r = _result()
    d = r.to_dict()
    assert d["schema"] == SCHEMA_VERSION == 2
    assert "predictions" not in d  # no evidence: the key is left out, as are samples/by_example
    assert not {"samples", "by_example"} & set(d["metrics"]["speedup"])
    assert CaseResult.from_dict(d) == r
    assert CaseResult.from_dict(json.loads(json.dumps(d))) == r  # what pytest-benchmark saves


def test_round_trip_with_evidence_is_exact() -> None:
    r = _with_evidence()
    d = json.loads(json.dumps(r.to_dict()))
    assert d["metrics"]["speedup"]["samples"] == [1.9, 2.0, 2.1, 2.1, 2.2, 2.3]
    assert d["metrics"]["f1_drop_pts"]["by_example"] == {
        "set": "p0",
        "score": "f1_binary",
        "arm": "drop",
    }
    assert d["predictions"] == {"p0": {"labels": "011011", "reference": "011010",
                                       "compressed": "010010"}}  # fmt: skip
    back = CaseResult.from_dict(d)
    assert back == r
    assert back.metrics["speedup"].samples == (1.9, 2.0, 2.1, 2.1, 2.2, 2.3)  # a tuple again
    assert back != _result()  # the evidence is part of the result


def test_version_1_result_still_reads() -> None:
    """A row recorded before the evidence existed (schema 1: no predictions, no samples)."""
    d = _result().to_dict()
    d["schema"] = 1
    r = CaseResult.from_dict(json.loads(json.dumps(d)))
    assert r.schema == 1 and r.predictions == {}
    assert all(m.samples is None and m.by_example is None for m in r.metrics.values())
    assert r.metrics == _result().metrics
    assert r.to_dict() == d  # written back as version 1, not silently upgraded
    assert READABLE_VERSIONS == (1, 2)


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
    [
        (3, "schema version 3, version 1 or 2 expected"),
        (0, "version 0,"),
        ("1", "'1'"),
        ("2", "'2'"),
        (True, "True"),
        (2.0, "2.0"),
    ],
)
def test_schema_version_refused(schema: Any, match: str) -> None:
    d = _result().to_dict()
    d["schema"] = schema
    with pytest.raises(SchemaError, match=match):
        CaseResult.from_dict(d)


def test_future_schema_refused_by_version_not_by_shape() -> None:
    """A v3 row may have other keys: the error must still say which version it is."""
    d = _result().to_dict()
    d.update(schema=3, verdicts={})
    del d["fingerprint"]
    with pytest.raises(SchemaError, match="schema version 3, version 1 or 2 expected"):
        CaseResult.from_dict(d)


def test_missing_schema_refused() -> None:
    d = _result().to_dict()
    del d["schema"]
    with pytest.raises(SchemaError, match="no schema version, version 1 or 2 expected"):
        CaseResult.from_dict(d)


def test_constructing_another_schema_refused() -> None:
    with pytest.raises(SchemaError, match="version 3"):
        CaseResult(**{**_result().__dict__, "schema": 3})
    assert CaseResult(**{**_result().__dict__, "schema": 1}).schema == 1


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


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda d: d["metrics"]["f1_drop_pts"]["by_example"].update(set="p1"),
            "'f1_drop_pts' refers to unknown predictions",
        ),
        (lambda d: d.pop("predictions"), "'f1_drop_pts' refers to unknown predictions"),
        (
            lambda d: d["predictions"]["p0"].update(compressed="01001"),
            r"predictions 'p0': arrays differ in length",
        ),
        (
            lambda d: d["predictions"]["p0"].update(reference=[0, 1, 1, 0, 1, 0, 40]),
            r"predictions 'p0': arrays differ in length",
        ),
        (lambda d: d["predictions"]["p0"].pop("labels"), "must hold labels"),
        (lambda d: d["predictions"]["p0"].update(extra="0"), "must hold labels"),
        (lambda d: d["metrics"]["f1_drop_pts"]["by_example"].update(arm="both"), "arm must be"),
        (lambda d: d["metrics"]["f1_drop_pts"]["by_example"].pop("score"), "by_example must be"),
        (lambda d: d["metrics"]["speedup"].update(samples=[2.0]), "at least 2 values"),
        (lambda d: d["metrics"]["speedup"].update(samples=[2.0, "x"]), "sample must be a number"),
        (lambda d: d["metrics"]["speedup"].update(samples=[2.0, math.inf]), "sample must be"),
    ],
)
def test_malformed_evidence_is_a_schema_error(edit: Any, match: str) -> None:
    d = _with_evidence().to_dict()
    edit(d)
    with pytest.raises(SchemaError, match=match):
        CaseResult.from_dict(d)


def test_constructing_unknown_predictions_reference_refused() -> None:
    r = _with_evidence()
    with pytest.raises(ValueError, match="refers to unknown predictions"):
        CaseResult(**{**r.__dict__, "predictions": {}})


# --- label encoding ---------------------------------------------------------------------------


def test_labels_in_0_to_35_encode_as_one_character_each() -> None:
    labels = [*range(36), 0, 35, 1]
    encoded = encode_labels(np.array(labels))
    assert encoded == "0123456789abcdefghijklmnopqrstuvwxyz0z1"
    assert len(encoded) == len(labels)
    assert decode_labels(encoded) == labels
    assert encode_labels([]) == "" and decode_labels("") == []


@pytest.mark.parametrize("labels", [[0, 36], [-1, 2], [1000, 3, 5]])
def test_labels_outside_0_to_35_encode_as_a_list(labels: list[int]) -> None:
    encoded = encode_labels(np.array(labels))
    assert encoded == labels and isinstance(encoded, list)
    assert all(type(v) is int for v in encoded)  # not numpy ints: JSON must hold them
    json.dumps(encoded)
    assert decode_labels(json.loads(json.dumps(encoded))) == labels


def test_label_round_trip_of_random_predictions() -> None:
    rng = np.random.default_rng(0)
    for high in (2, 14, 36, 37):
        labels = rng.integers(0, high, 408).tolist()
        encoded = json.loads(json.dumps(encode_labels(labels)))
        assert decode_labels(encoded) == labels
        assert isinstance(encoded, str) == (max(labels) < 36)


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
    extra_info[EXTRA_INFO_KEY]["schema"] = 3
    with pytest.raises(SchemaError, match="version 3"):
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
