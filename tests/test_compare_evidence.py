"""compress.compare by the evidence of both runs: per-round speed ratios, per-example
predictions, outcomes of cases that failed or were skipped, the int8 limit, baselines by ISA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compress.compare.cli import main
from compress.compare.judge import compare
from compress.compare.rules import Options
from compress.core.stats import Interval, f1_binary
from compress.report.compare_table import Row
from compress.verdict.resultfile import load
from compress.verdict.results import CaseResult, Metric, encode_labels, record
from compress.verdict.status import Pseudo, Status, Verdict

CASE = "benchmarks/test_q.py::test_int8[mrpc]"
VNNI = {"cpu_model": "CPU", "isa": ["avx2", "avx512_vnni"], "quantized_engine": "x86"}
AVX2 = {**VNNI, "isa": ["avx2", "fma"]}
SPEED = {"unit": "x", "direction": "higher", "tolerance": 0.05, "relative": True}


def _speed(center: float, spread: float, n: int = 16, seed: int = 0) -> Metric:
    z = np.random.default_rng(seed).permutation(np.linspace(-1.7, 1.7, n))  # median exactly 0
    ratios = center * (1 + spread * z)
    ci = Interval(float(ratios.min()), float(ratios.max()), 0.95, n, "order")
    return Metric(float(np.median(ratios)), **SPEED, ci=ci, samples=tuple(ratios.tolist()))


def _labels(n: int = 408, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < 0.68).astype(int)


def _quality(y: np.ndarray, ref: np.ndarray, comp: np.ndarray) -> tuple[dict, dict]:
    """The three figures Case.quality_drop records, with their evidence."""
    metrics = {}
    for arm, pred in (("reference", ref), ("compressed", comp)):
        ev = {"set": "p0", "score": "f1_binary", "arm": arm}
        metrics[f"f1_{arm}"] = Metric(f1_binary(y, pred), "frac", "higher", 0.005, by_example=ev)
    drop = 100 * (f1_binary(y, ref) - f1_binary(y, comp))
    ev = {"set": "p0", "score": "f1_binary", "arm": "drop"}
    metrics["f1_drop_pts"] = Metric(drop, "pts", "lower", 0.5, by_example=ev)
    arrays = {"labels": y, "reference": ref, "compressed": comp}
    return metrics, {"p0": {k: encode_labels(v) for k, v in arrays.items()}}


def _doc(
    metrics: dict, predictions: dict | None = None, fp=VNNI, outcomes=None, when="1", data=None
):
    case = CaseResult(
        "q", metrics, {}, {"about": "t"}, data or {}, fp, "quick", predictions=predictions or {}
    )
    extra: dict = {"profile": "quick"}
    record(extra, case)
    row = {"name": "test_int8[mrpc]", "fullname": CASE, "stats": {}, "extra_info": extra}
    limit = {"speedup": 3.8, "samples": [3.8, 3.7, 3.9, 3.8, 3.85, 3.75]}
    doc = {
        "datetime": when,
        "benchmarks": [row],
        "machine_info": {"fingerprint": fp, "profile": "quick", "int8_limit": limit},
    }
    if outcomes is not None:
        doc["compress_bench"] = {"outcomes": outcomes}
    return doc


def _rows(tmp_path: Path, old: dict, new: dict, **options) -> list[Row]:
    paths = []
    for name, doc in (("a", old), ("b", new)):
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
        paths.append(tmp_path / f"{name}.json")
    return compare(load(paths[0]), load(paths[1]), Options(**options))


def _status(rows: list[Row], metric: str) -> str:
    return next(str(r.verdict) for r in rows if r.metric == metric and r.benchmark == CASE)


@pytest.mark.parametrize(
    ("center", "spread", "status"),
    [
        (2.4, 0.02, "ok"),
        (2.16, 0.02, "REGRESSION"),
        (2.16, 0.25, "inconclusive"),
        (2.7, 0.02, "improved"),
        (2.33, 0.02, "ok"),
    ],
    ids=["a-a", "minus-10pct", "minus-10pct-noisy", "plus-12pct", "minus-3pct-below-tolerance"],
)
def test_speed_change_is_judged_by_both_runs_rounds(tmp_path, center, spread, status) -> None:
    old = _doc({"speedup": _speed(2.4, 0.02, seed=0)})
    new = _doc({"speedup": _speed(center, spread, seed=1)}, when="2")
    rows = _rows(tmp_path, old, new)
    assert _status(rows, "speedup") == status
    row = next(r for r in rows if r.metric == "speedup")
    assert row.change_ci is not None and row.change.endswith("]")


def test_the_old_way_for_a_file_without_rounds(tmp_path: Path, capsys) -> None:
    """A 19% loss the old rule (candidate CI against a 20% band) called ok; without evidence
    in one file the old rule still applies, and the summary says so."""
    old = _doc({"speedup": Metric(2.4, **SPEED)})
    new = _doc({"speedup": _speed(2.16, 0.02)}, when="2")
    assert _status(_rows(tmp_path, old, new), "speedup") == "REGRESSION"
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    assert "compared the old way" in capsys.readouterr().out


def _flip(pred: np.ndarray, y: np.ndarray, wrong: int, right: int = 0) -> np.ndarray:
    """``wrong`` examples it got right now wrong, ``right`` it got wrong now right."""
    out = pred.copy()
    ok, bad = np.flatnonzero(pred == y), np.flatnonzero(pred != y)
    out[ok[:wrong]] = 1 - out[ok[:wrong]]
    out[bad[:right]] = 1 - out[bad[:right]]
    return out


def test_quality_is_compared_by_example(tmp_path: Path) -> None:
    """12 more of the same 408 pairs wrong: a regression of the compressed F1 and the drop,
    where one run's bootstrap CI against the band could not see it."""
    y = _labels()
    ref = _flip(y, y, 60)
    comp = _flip(ref, y, 5)
    old = _doc(*_quality(y, ref, comp))
    new = _doc(*_quality(y, ref, _flip(comp, y, 12)), when="2")
    rows = _rows(tmp_path, old, new)
    assert _status(rows, "f1_compressed") == "REGRESSION"
    assert _status(rows, "f1_drop_pts") == "REGRESSION"
    assert _status(rows, "f1_reference") == "ok"
    same = _rows(tmp_path, old, _doc(*_quality(y, ref, comp), when="2"))
    assert {_status(same, m) for m in ("f1_compressed", "f1_drop_pts")} == {"ok"}


def test_mixed_flips_are_inconclusive_not_a_regression(tmp_path: Path) -> None:
    """14 pairs newly wrong and 9 newly right: the drop grows beyond its 0.5 pt tolerance, but
    the paired CI of the change reaches zero: inconclusive, and the gate passes."""
    y = _labels()
    ref = _flip(y, y, 60)
    comp = _flip(ref, y, 5)
    new = _doc(*_quality(y, ref, _flip(comp, y, 14, right=9)), when="2")
    rows = _rows(tmp_path, _doc(*_quality(y, ref, comp)), new)
    drop = next(r for r in rows if r.metric == "f1_drop_pts" and r.benchmark == CASE)
    assert drop.status == "inconclusive"
    assert drop.baseline is not None and drop.candidate is not None
    assert drop.candidate - drop.baseline > 0.5  # beyond the tolerance ...
    assert drop.change_ci is not None and drop.change_ci.low < 0 < drop.change_ci.high
    assert _status(rows, "f1_compressed") == "inconclusive"
    assert _status(rows, "f1_reference") == "ok"
    assert not any(r.regression for r in rows)
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0


def test_other_evaluation_data_are_not_comparable(tmp_path: Path) -> None:
    y = _labels()
    old = _doc(*_quality(y, y, y))
    y2 = _labels(400)
    rows = _rows(tmp_path, old, _doc(*_quality(y2, y2, y2), when="2"))
    status = _status(rows, "f1_compressed")
    assert status == "not comparable: evaluation data differ (408 vs 400 examples)"
    assert not any(r.regression for r in rows)


def test_figures_scored_on_another_split_are_not_comparable(tmp_path: Path) -> None:
    """A score without per-example evidence (a mean over seeds) moved from dev to test is
    not a regression; the checkpoint size beside it is still judged."""

    def doc(f1: float, split: str, n: int, when: str) -> dict:
        metrics = {
            "f1_mean": Metric(f1, "frac", "higher", 0.005),
            "size_bytes": Metric(1000.0, "bytes", "lower", 0.01, relative=True),
        }
        return _doc(metrics, when=when, data={"split": split, "examples": n})

    rows = _rows(tmp_path, doc(0.85, "MRPC dev", 408, "1"), doc(0.83, "MRPC test", 1725, "2"))
    assert _status(rows, "f1_mean") == (
        "not comparable: evaluation data differ (MRPC dev, 408 examples vs MRPC test, 1725)"
    )
    assert _status(rows, "size_bytes") == "ok"
    again = _rows(tmp_path, doc(0.85, "MRPC test", 1725, "1"), doc(0.83, "MRPC test", 1725, "2"))
    assert _status(again, "f1_mean") == "REGRESSION"  # the same split: judged, and worse


def test_failed_skipped_and_missing_cases(tmp_path: Path) -> None:
    other = "benchmarks/test_q.py::test_int8[sst2]"
    old = _doc({"speedup": _speed(2.4, 0.02)}, outcomes={CASE: "passed", other: "passed"})
    old["benchmarks"].append({**old["benchmarks"][0], "fullname": other, "name": "sst2"})
    outcomes = {CASE: "failed: AssertionError: boom", other: "skipped: GLUE_DIR unset"}
    new = _doc({"speedup": _speed(2.4, 0.02)}, outcomes=outcomes, when="2")
    rows = _rows(tmp_path, old, new)
    pseudo = (Pseudo.OUTCOME, Pseudo.BENCHMARK)
    verdicts = {r.benchmark: r.verdict for r in rows if r.metric in pseudo}
    assert verdicts == {
        CASE: Verdict(Status.FAILED, "failed: AssertionError: boom"),
        other: Verdict(Status.MISSING, "skipped: GLUE_DIR unset"),
    }
    assert str(verdicts[CASE]) == "FAILED: failed: AssertionError: boom"  # as printed
    partial = _rows(tmp_path, old, new, allow_missing=True)
    assert {r.benchmark for r in partial if r.regression} == {CASE}  # a failure always counts


def test_a_checkpoint_one_percent_larger_regresses(tmp_path: Path) -> None:
    size = {"unit": "bytes", "direction": "lower", "tolerance": 0.001, "relative": True}
    old = _doc({"size_bytes": Metric(90e6, **size)})
    rows = _rows(tmp_path, old, _doc({"size_bytes": Metric(90.9e6, **size)}, when="2"))
    assert _status(rows, "size_bytes") == "REGRESSION"


def test_the_int8_limit_is_gated_between_runs(tmp_path: Path) -> None:
    old, new = _doc({}), _doc({}, when="2")
    new["machine_info"]["int8_limit"] = {"speedup": 2.0, "samples": [2.0, 1.9, 2.1, 2.0, 1.95]}
    [row] = [r for r in _rows(tmp_path, old, new) if r.benchmark == Pseudo.MACHINE]
    assert row.status is Status.REGRESSION and row.metric == "speedup"
    new["machine_info"]["fingerprint"] = AVX2
    [row] = [r for r in _rows(tmp_path, old, new) if r.benchmark == Pseudo.MACHINE]
    assert row.status is Status.NOT_COMPARABLE and row.verdict.reason.startswith("ISA class")


def test_a_missing_report_only_figure_is_not_a_regression(tmp_path: Path) -> None:
    """A training time is reported only when the model was trained, not on a cache hit."""
    old = _doc({"speedup": _speed(2.4, 0.02), "train_s": Metric(60.0, "s", "report")})
    rows = _rows(tmp_path, old, _doc({"speedup": _speed(2.4, 0.02)}, when="2"))
    assert _status(rows, "train_s") == "info" and not any(r.regression for r in rows)
