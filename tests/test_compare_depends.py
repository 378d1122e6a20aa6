"""Comparability is what a figure declares it depends on (compress.verdict.depends), never its
unit; files saved before the declaration read it by the figure's name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compress.compare.judge import retest_ids
from compress.verdict.case import Case
from compress.verdict.depends import ANSWER, DEFAULT, NOTHING, SPEED, TIME, Facet, depends_on
from compress.verdict.resultfile import load
from compress.verdict.results import EXTRA_INFO_KEY, CaseResult, Metric, SchemaError, read
from compress.verdict.status import Pseudo, Status, Verdict
from tests.test_compare import AVX2, BERT, OTHER_VNNI, VNNI, _compare, _doc, _files


def _throughput(value: float, unit: str, depends: object = ("kind",)) -> Metric:
    return Metric(value, unit, "higher", 0.1, relative=True, depends_on=depends)  # type: ignore[arg-type]


def _row(rows, metric: str):
    [row] = [r for r in rows if r.metric == metric]
    return row


@pytest.mark.parametrize("unit", ["ex/s", "frac", "x", "count"])
def test_a_throughput_declared_on_the_cpu_kind_is_not_compared_across_kinds(tmp_path, unit):
    """Whatever its unit: a gated throughput in examples/s is this CPU's speed."""
    old = _doc({"fps": _throughput(100.0, unit)})
    slower = {"fps": _throughput(50.0, unit)}
    for fp in (OTHER_VNNI, AVX2):  # another kind of one ISA class, another class
        row = _row(_compare(tmp_path, old, _doc(slower, fp=fp)), "fps")
        assert row.status is Status.NOT_COMPARABLE and not row.regression
        assert row.depends_on == {Facet.KIND}
    row = _row(_compare(tmp_path, old, _doc(slower, fp=VNNI)), "fps")  # the same kind
    assert row.status is Status.REGRESSION and row.regression


def test_a_speedup_declared_cpu_free_is_compared_across_kinds(tmp_path: Path) -> None:
    """The unit "x" decides nothing: a ratio declared free of the CPU is gated anywhere."""
    old = _doc({"speedup": _throughput(2.0, "x", ())})
    rows = _compare(tmp_path, old, _doc({"speedup": _throughput(1.0, "x", ())}, fp=AVX2))
    assert _row(rows, "speedup").status is Status.REGRESSION


def test_no_time_leaves_out_what_depends_on_the_cpu_whatever_the_unit(tmp_path: Path) -> None:
    metrics = {"fps": _throughput(100.0, "ex/s"), "size_bytes": Metric(9.0, "bytes", "report")}
    rows = _compare(tmp_path, _doc(metrics), _doc(metrics), include_time=False)
    assert {r.metric for r in rows} == {"size_bytes"}


def test_a_speed_regression_is_retested_by_its_declaration(tmp_path: Path) -> None:
    rows = _compare(tmp_path, _doc({"fps": _throughput(100.0, "ex/s")}),
                    _doc({"fps": _throughput(50.0, "ex/s")}))  # fmt: skip
    assert retest_ids(rows) == [BERT]


def _saved_without_depends_on(tmp_path: Path, metrics: dict[str, Metric]) -> CaseResult:
    """A file written before the declaration existed: no "depends_on" key anywhere."""
    doc = _doc(metrics)
    for m in doc["benchmarks"][1]["extra_info"][EXTRA_INFO_KEY]["metrics"].values():
        del m["depends_on"]
    path, _ = _files(tmp_path, doc, doc)
    result = load(path).cases[BERT]
    assert result is not None
    return result


def test_an_old_file_reads_the_declaration_by_name_not_unit(tmp_path: Path) -> None:
    result = _saved_without_depends_on(
        tmp_path,
        {
            "throughput": Metric(10.0, "ex/s", "report"),
            "speedup": Metric(2.0, "frac", "report"),  # an odd unit: the name decides
            "p99_speedup": Metric(2.0, "x", "report"),
            "speedup_baseline_s": Metric(0.1, "s", "report"),
            "size_ratio": Metric(0.3, "x", "report"),
            "f1_compressed": Metric(0.9, "s", "report"),
            "some_new_figure": Metric(1.0, "x", "report"),
        },
    )
    got = {name: m.depends_on for name, m in result.metrics.items()}
    assert got == {
        "throughput": SPEED,
        "speedup": SPEED,
        "p99_speedup": SPEED,
        "speedup_baseline_s": TIME,
        "size_ratio": NOTHING,
        "f1_compressed": ANSWER,
        "some_new_figure": DEFAULT,
    }
    assert {Facet.DATA} == DEFAULT  # an unknown name is compared across CPUs


def test_the_declaration_is_saved_and_read_back() -> None:
    m = _throughput(100.0, "ex/s", {"kind", "data"})
    d = json.loads(json.dumps(m.to_dict()))
    assert d["depends_on"] == ["data", "kind"]
    assert Metric.from_dict(d).depends_on == {Facet.KIND, Facet.DATA}
    with pytest.raises(SchemaError, match=r"metric 'fps'.*unknown facet 'core'"):
        Metric.from_dict({**d, "depends_on": ["core"]}, "fps")
    with pytest.raises(ValueError, match="a set of facets"):
        Metric(1.0, "x", "report", depends_on="kind")  # type: ignore[arg-type]


def test_a_case_declares_by_argument_or_by_name() -> None:
    case = Case("c", "quick", {"cpu_model": "t"})
    case.report("throughput", 10.0, "ex/s")
    case.report("fps", 10.0, "ex/s", depends_on={Facet.KIND})
    case.metric("oddly_named", 1.0, "frac", "higher", 0.1, depends_on=())
    extra: dict = {}
    case.finish(extra)
    result = read(extra)
    assert result is not None
    assert result.metrics["throughput"].depends_on == SPEED  # the table, by name
    assert result.metrics["fps"].depends_on == SPEED  # the argument
    assert result.metrics["oddly_named"].depends_on == NOTHING
    assert depends_on("fps") == DEFAULT  # the name alone would have compared it across CPUs


def test_statuses_keep_their_words() -> None:
    """Saved pages and tools read the printed words; code reads the enum."""
    assert [s.value for s in Status][:4] == ["ok", "improved", "REGRESSION", "inconclusive"]
    assert Status.NOT_COMPARABLE == "not comparable" and f"{Status.MISSING}" == "missing"
    differ = Verdict(Status.NOT_COMPARABLE, "machines differ")
    assert str(differ) == "not comparable: machines differ"
    assert str(Verdict(Status.REGRESSION, "retest -8.0%")) == "REGRESSION (retest -8.0%)"
    assert str(Verdict(Status.OK)) == "ok" and Verdict("ok").status is Status.OK
    assert Pseudo.BENCHMARK == "(benchmark)" and f"{Pseudo.MACHINE}" == "(machine)"
    with pytest.raises(ValueError):
        Verdict("not comparable: machines differ")  # type: ignore[arg-type]
