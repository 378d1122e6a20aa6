"""Between runs, the kernel path is gated (issue 40): a GEMM operator replaced on one CPU kind,
and a oneDNN ISA below the uncapped run's on the same CPU (an ``ONEDNN_MAX_CPU_ISA`` cap, which
makes another kind), are regressions naming what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compress.compare.judge import compare
from compress.compare.rules import Options
from compress.verdict.resultfile import load
from compress.verdict.results import CaseResult, Metric, record
from compress.verdict.status import Pseudo, Status
from tests.test_compare import BERT, OTHER_VNNI, REF, VNNI

QLINEAR = {"gemm_ops": {"onednn::qlinear_pointwise (int8)": 38}, "conv": {}, "opaque": ""}
INT_MM = {"gemm_ops": {"aten::_int_mm (int8)": 38}, "conv": {}, "opaque": ""}
OPAQUE = {"gemm_ops": {}, "conv": {}, "opaque": "ONNX Runtime session"}
CAPPED = {**VNNI, "isa_caps": {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "cpu_isa": VNNI["isa"]}


def _rank(value: int) -> Metric:
    return Metric(value, "rank", "higher", 0.0, depends_on=frozenset({"cpu"}))


def _file(tmp_path: Path, name: str, fp: dict, kernels: dict, rank: int = 6) -> str:
    case = CaseResult("c", {"onednn_isa_rank": _rank(rank)}, {}, {"about": "m"},
                      {"split": "test"}, fp, "quick", kernels=kernels)  # fmt: skip
    extra: dict = {"profile": "quick"}
    record(extra, case)
    rows = [(REF, {"profile": "quick"}), (BERT, extra)]
    benchmarks = [
        {"name": f.split("::")[-1], "fullname": f, "stats": {"median": 0.01}, "extra_info": e}
        for f, e in rows
    ]
    doc = {"machine_info": {"fingerprint": fp, "profile": "quick"}, "benchmarks": benchmarks}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _rows(tmp_path: Path, old: tuple, new: tuple, **options: object):
    a, b = _file(tmp_path, "baseline", *old), _file(tmp_path, "candidate", *new)
    return compare(load(a), load(b), Options(**options))


def _kernel_rows(rows):
    return [r for r in rows if r.metric == Pseudo.KERNELS]


def test_a_replaced_gemm_operator_is_a_regression_naming_both(tmp_path: Path) -> None:
    rows = _rows(tmp_path, (VNNI, QLINEAR), (VNNI, INT_MM))
    [row] = _kernel_rows(rows)
    assert row.regression and row.status is Status.REGRESSION
    assert "onednn::qlinear_pointwise (int8) -> aten::_int_mm (int8)" in str(row.verdict)


@pytest.mark.parametrize(
    ("old", "new", "options"),
    [
        ((VNNI, QLINEAR), (VNNI, QLINEAR), {}),  # the same path
        ((VNNI, QLINEAR), (OTHER_VNNI, INT_MM), {}),  # another CPU kind: kinds differ
        ((VNNI, OPAQUE), (VNNI, INT_MM), {}),  # an opaque record is never compared
        ((VNNI, {}), (VNNI, INT_MM), {}),  # a baseline without a record
        ((VNNI, QLINEAR), (VNNI, INT_MM), {"include_time": False}),  # --no-time
    ],
    ids=["same", "other-kind", "opaque", "no-record", "no-time"],
)
def test_no_kernel_row_where_paths_are_not_comparable(tmp_path, old, new, options) -> None:
    assert _kernel_rows(_rows(tmp_path, old, new, **options)) == []


def test_a_capped_onednn_isa_on_the_same_cpu_is_a_regression(tmp_path: Path) -> None:
    """The cap makes another kind (speed is not compared) on the same CPU: the oneDNN ISA is."""
    rows = _rows(tmp_path, (VNNI, QLINEAR, 6), (CAPPED, QLINEAR, 3))
    [rank] = [r for r in rows if r.metric == "onednn_isa_rank"]
    assert rank.status is Status.REGRESSION and rank.regression
    assert _kernel_rows(rows) == []  # two kinds: operators are not compared


def test_the_onednn_isa_of_another_cpu_is_not_compared(tmp_path: Path) -> None:
    rows = _rows(tmp_path, (VNNI, QLINEAR, 6), (OTHER_VNNI, QLINEAR, 3))
    [rank] = [r for r in rows if r.metric == "onednn_isa_rank"]
    assert rank.status is Status.NOT_COMPARABLE and "another CPU" in str(rank.verdict)
