"""Tests for compress.compare on small synthetic pytest-benchmark result files."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compress.compare import (
    RESULT_KEY,
    RULES,
    TIME_METRIC,
    Options,
    ProfileMismatch,
    Row,
    compare,
    judge,
    main,
    render,
    rule_for,
)
from compress.results import EXTRA_INFO_KEY, SCHEMA_VERSION, CaseResult, Metric, SchemaError, record
from compress.stats import Interval

ROOT = Path(__file__).resolve().parents[1]
BERT = "benchmarks/test_bert.py::test_bert_int8[sst2-dynamic]"
MLP = "benchmarks/test_mlp.py::test_mlp_int8"

FINGERPRINT = {
    "cpu_model": "Test CPU @ 2.0GHz",
    "isa": ["avx2", "avx512_vnni", "avx512f"],
    "quantized_engine": "x86",
    "threads": 2,
    "versions": {"torch": "2.13.0", "transformers": "5.0.0", "onnxruntime": "1.20.0"},
}

BERT_EXTRA = {
    "f1_fp32": 0.90,
    "f1_int8": 0.89,
    "f1_drop_pts": 1.0,
    "size_fp32_bytes": 400_000_000,
    "size_int8_bytes": 150_000_000,
    "linear_bytes_ratio": 0.25,
    "speedup": 2.0,
    "speedup_q1": 1.9,
    "speedup_q3": 2.1,
    "quant_mode": "dynamic",  # non-numeric: ignored
}


def _bench(fullname: str, median: float, extra: dict[str, object]) -> dict[str, object]:
    stats = {"min": median * 0.9, "max": median * 1.2, "mean": median, "median": median}
    return {
        "name": fullname.split("::")[-1],
        "fullname": fullname,
        "params": {},
        "stats": {**stats, "stddev": 0.0, "iqr": 0.0, "q1": median, "q3": median, "rounds": 5},
        "extra_info": dict(extra),
    }


def _results(fingerprint: dict[str, object] | None = FINGERPRINT) -> dict[str, object]:
    machine_info = {"node": "test"} | ({"fingerprint": fingerprint} if fingerprint else {})
    return {
        "machine_info": machine_info,
        "commit_info": {},
        "benchmarks": [
            _bench(BERT, 0.010, BERT_EXTRA),
            _bench(MLP, 0.001, {"accuracy_fp32": 0.95, "accuracy_int8": 0.94}),
        ],
        "datetime": "2025-01-01T00:00:00",
        "version": "5.3.1",
    }


def _with(doc: dict, fullname: str = BERT, median: float | None = None, **extra: object) -> dict:
    """A copy of `doc` with one benchmark's median and/or extra_info changed."""
    doc = copy.deepcopy(doc)
    for bench in doc["benchmarks"]:
        if bench["fullname"] == fullname:
            if median is not None:
                bench["stats"]["median"] = median
            bench["extra_info"].update(extra)
    return doc


def _run(tmp_path: Path, baseline: object, candidate: object, *args: str) -> int:
    paths = []
    for name, doc in (("baseline.json", baseline), ("candidate.json", candidate)):
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        paths.append(str(path))
    return main([*paths, "--show-info", *args])


def _table(out: str) -> dict[tuple[str, str], str]:
    """{(benchmark, metric): status} from the printed github-style table."""
    cells = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith("| benchmark ")
    ]
    return {(c[0], c[1]): c[5] for c in cells}


BERT_NAME = "test_bert_int8[sst2-dynamic]"
SLOWER = {"median": 0.013}  # 30% slower than 0.010
OTHER_ISA = dict(FINGERPRINT, isa=["avx2", "avx512f"])

CASES = [
    # id, candidate changes, candidate fingerprint, CLI args, metric, expected status, exit code
    ("f1-drop-grows-1pt", {"f1_drop_pts": 2.0}, None, (), "f1_drop_pts", "REGRESSION", 1),
    ("f1-drop-grows-0.3pt", {"f1_drop_pts": 1.3}, None, (), "f1_drop_pts", "ok", 0),
    ("f1-int8-falls-2pts", {"f1_int8": 0.87}, None, (), "f1_int8", "REGRESSION", 1),
    ("f1-int8-falls-exactly-tol", {"f1_int8": 0.88}, None, (), "f1_int8", "ok", 0),
    ("f1-int8-rises", {"f1_int8": 0.91}, None, (), "f1_int8", "improved", 0),
    ("quality-tol-wider", {"f1_int8": 0.87}, None, ("--quality-tol", "0.05"), "f1_int8", "ok", 0),
    ("speedup-falls-25pct", {"speedup": 1.5}, None, (), "speedup", "REGRESSION", 1),
    ("speedup-falls-15pct", {"speedup": 1.7}, None, (), "speedup", "ok", 0),
    (
        "speedup-tol-tighter",
        {"speedup": 1.7},
        None,
        ("--speedup-tol", "0.1"),
        "speedup",
        "REGRESSION",
        1,
    ),
    ("speedup-other-isa", {"speedup": 1.5}, OTHER_ISA, (), "speedup", "not comparable", 0),
    (
        "speedup-other-isa-anyway",
        {"speedup": 1.5},
        OTHER_ISA,
        ("--gate-time-anyway",),
        "speedup",
        "REGRESSION",
        1,
    ),
    ("quality-other-isa-still-gated", {"f1_int8": 0.87}, OTHER_ISA, (), "f1_int8", "REGRESSION", 1),
    ("speedup-q1-never-gated", {"speedup_q1": 0.5}, None, (), "speedup_q1", "info", 0),
    ("size-grows-5pct", {"size_int8_bytes": 157.5e6}, None, (), "size_int8_bytes", "REGRESSION", 1),
    ("size-shrinks", {"size_int8_bytes": 100_000_000}, None, (), "size_int8_bytes", "improved", 0),
    ("ratio-grows", {"linear_bytes_ratio": 0.26}, None, (), "linear_bytes_ratio", "REGRESSION", 1),
    ("time-30pct-same-machine", SLOWER, None, ("--gate-latency",), TIME_METRIC, "REGRESSION", 1),
    ("time-30pct-shown-not-gated", SLOWER, None, (), TIME_METRIC, "info", 0),
    ("time-30pct-other-isa", SLOWER, OTHER_ISA, (), TIME_METRIC, "not comparable", 0),
    (
        "time-gate-anyway",
        SLOWER,
        OTHER_ISA,
        ("--gate-time-anyway", "--gate-latency"),
        TIME_METRIC,
        "REGRESSION",
        1,
    ),
    ("time-wider-tol", SLOWER, None, ("--time-tol", "0.5", "--gate-latency"), TIME_METRIC, "ok", 0),
    ("time-10pct-faster", {"median": 0.009}, None, ("--gate-latency",), TIME_METRIC, "ok", 0),
    ("metric-only-in-candidate", {"calib_batches": 8}, None, (), "calib_batches", "new", 0),
]


@pytest.mark.parametrize(
    ("changes", "fingerprint", "args", "metric", "status", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_cli_gates_metric(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    changes: dict[str, object],
    fingerprint: dict[str, object] | None,
    args: tuple[str, ...],
    metric: str,
    status: str,
    code: int,
) -> None:
    baseline = _results()
    candidate = _with(_results(fingerprint or FINGERPRINT), **changes)
    assert _run(tmp_path, baseline, candidate, *args) == code
    out = capsys.readouterr().out
    assert _table(out)[BERT_NAME, metric] == status
    assert f"\n{code} regressions in " in out  # every case has at most one regression


def test_identical_files_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, _results(), _results()) == 0
    out = capsys.readouterr().out
    statuses = set(_table(out).values())
    assert statuses == {"ok", "info"}
    assert "0 regressions in 9 compared metrics" in out  # 2 times + 7 BERT + 2 MLP
    assert "quant_mode" not in out


def test_unknown_numeric_key_is_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = _with(_results(), calib_batches=8)
    candidate = _with(_results(), calib_batches=1)
    assert _run(tmp_path, baseline, candidate) == 0
    assert _table(capsys.readouterr().out)[BERT_NAME, "calib_batches"] == "info"


def test_different_isa_lists_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, _results(), _with(_results(OTHER_ISA), **SLOWER)) == 0
    out = capsys.readouterr().out
    assert "time and speedups not gated" in out
    assert "isa: baseline has avx512_vnni, candidate lacks it" in out


@pytest.mark.parametrize(
    ("key", "old", "new"),
    [
        pytest.param("f1_weighted_int8", 0.80, 0.70, id="f1-weighted"),
        pytest.param("accuracy_mnli_int8", 0.80, 0.70, id="accuracy-task"),
        pytest.param("speedup_ort", 2.0, 1.5, id="speedup-ort"),
        pytest.param("onnx_int8_bytes", 100.0, 200.0, id="onnx-bytes"),
        pytest.param("f1_ort_drop_pts", 0.5, 2.0, id="ort-drop-pts"),
    ],
)
def test_future_keys_are_gated(key: str, old: float, new: float) -> None:
    rows = compare(_with(_results(), **{key: old}), _with(_results(), **{key: new}))
    assert [r.status for r in rows if r.metric == key] == ["REGRESSION"]


@pytest.mark.parametrize(("strict", "regression"), [(False, False), (True, True)])
def test_metric_missing_in_candidate(strict: bool, regression: bool) -> None:
    candidate = _results()
    del candidate["benchmarks"][0]["extra_info"]["f1_int8"]
    rows = compare(_results(), candidate, Options(strict=strict))
    [row] = [r for r in rows if r.metric == "f1_int8"]
    assert (row.status, row.regression) == ("missing", regression)


def test_missing_fingerprint_is_not_comparable() -> None:
    rows = compare(_results(), _with(_results(fingerprint=None), **SLOWER))
    assert {r.status for r in rows if r.metric == TIME_METRIC} == {"not comparable"}


def test_no_time_skips_time_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, _results(), _with(_results(), **SLOWER), "--no-time") == 0
    out = capsys.readouterr().out
    assert TIME_METRIC not in out
    assert "0 regressions in 8 compared metrics" in out  # no time rows, no speedup


@pytest.mark.parametrize(
    ("args", "code", "status"),
    [
        pytest.param((), 0, "missing", id="lenient"),
        pytest.param(("--strict",), 1, "REGRESSION (missing)", id="strict"),
    ],
)
def test_missing_benchmark(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    status: str,
) -> None:
    candidate = _results()
    candidate["benchmarks"] = candidate["benchmarks"][:1]
    assert _run(tmp_path, _results(), candidate, *args) == code
    assert _table(capsys.readouterr().out)["test_mlp_int8", "(benchmark)"] == status


def test_new_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = _results()
    baseline["benchmarks"] = baseline["benchmarks"][:1]
    assert _run(tmp_path, baseline, _results(), "--strict") == 0
    assert _table(capsys.readouterr().out)["test_mlp_int8", "(benchmark)"] == "new"


def test_only_filters_benchmarks() -> None:
    candidate = _with(_results(), fullname=MLP, accuracy_int8=0.5)
    rows = compare(_results(), candidate, Options(only="test_bert"))
    assert {r.benchmark for r in rows} == {BERT}
    assert not any(r.regression for r in rows)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(None, "file not found", id="missing-file"),
        pytest.param('{"benchmarks": [', "invalid JSON", id="invalid-json"),
        pytest.param('{"machine_info": {}}', '"benchmarks" list', id="no-benchmarks-key"),
        pytest.param('{"benchmarks": {}}', '"benchmarks" list', id="benchmarks-not-list"),
        pytest.param("[1, 2]", '"benchmarks" list', id="top-level-list"),
        pytest.param('{"benchmarks": [{"name": "x"}]}', "benchmarks[0]", id="no-fullname"),
    ],
)
@pytest.mark.parametrize("bad_side", ["baseline", "candidate"])
def test_bad_input_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    problem: str,
    bad_side: str,
) -> None:
    good, bad = tmp_path / "good.json", tmp_path / f"{bad_side}-bad.json"
    good.write_text(json.dumps(_results()))
    if content is not None:
        bad.write_text(content)
    paths = [bad, good] if bad_side == "baseline" else [good, bad]
    assert main([str(p) for p in paths]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(bad) in captured.err
    assert problem in captured.err


@pytest.mark.parametrize(
    ("key", "better"),
    [
        pytest.param("f1_weighted_int8", "higher", id="f1-prefix"),
        pytest.param("accuracy_int8", "higher", id="accuracy-prefix"),
        pytest.param("f1_drop_pts", "lower", id="drop-pts-beats-f1-prefix"),
        pytest.param("speedup_ort", "higher", id="speedup-prefix"),
        pytest.param("speedup_ort_q3", None, id="speedup-quartile"),
        pytest.param("onnx_int8_bytes", "lower", id="bytes-suffix"),
        pytest.param("linear_bytes_ratio", "lower", id="ratio-suffix"),
        pytest.param("calib_batches", None, id="unknown"),
        pytest.param("f1", "higher", id="bare-f1"),
        pytest.param("accuracy", "higher", id="bare-accuracy"),
        pytest.param("loss", "lower", id="bare-loss"),
        pytest.param("f1_std", None, id="std-not-gated"),
        pytest.param("accuracy_int8_std", None, id="int8-std-not-gated"),
        pytest.param("latency_ratio", None, id="latency-ratio-is-timing"),
    ],
)
def test_rule_matching(key: str, better: str | None) -> None:
    assert rule_for(key, RULES).better == better


def test_judge_relative_and_absolute() -> None:
    speedup, f1 = rule_for("speedup"), rule_for("f1_int8")
    assert judge(speedup, 2.0, 1.6) == "ok"  # exactly -20%
    assert judge(speedup, 2.0, 1.59) == "REGRESSION"
    assert judge(speedup, 2.0, float("nan")) == "REGRESSION"
    assert judge(f1, 0.9, 0.895) == "ok"
    assert judge(f1, 0.9, 0.895, Options(quality_tol=0.001)) == "REGRESSION"


@pytest.mark.parametrize(
    ("unit", "baseline", "candidate", "change"),
    [
        pytest.param("s", 0.010, 0.013, "+30.0%", id="time-relative"),
        pytest.param("x", 2.0, 1.6, "-20.0%", id="speedup-relative"),
        pytest.param("frac", 0.90, 0.88, "-0.020", id="fraction-absolute"),
        pytest.param("pts", 1.0, 2.5, "+1.50", id="points-absolute"),
        pytest.param("bytes", 0, 10, "n/a", id="zero-baseline"),
        pytest.param("bytes", None, 10, "", id="new"),
    ],
)
def test_row_change(unit: str, baseline: float | None, candidate: float, change: str) -> None:
    row = Row(BERT, BERT_NAME, "m", baseline, candidate, "ok", unit)
    assert row.change == change


def test_render_has_columns() -> None:
    table = render(compare(_results(), _results()))
    header = table.splitlines()[0]
    for column in ("benchmark", "metric", "baseline", "candidate", "change", "status"):
        assert column in header
    assert "150.00 MiB" not in table  # sizes are shown in MiB: 150e6 bytes = 143.05 MiB
    assert "143.05 MiB" in table


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        pytest.param({}, 0, id="identical-0"),
        pytest.param({"speedup": 1.0}, 1, id="regression-1"),
        pytest.param(None, 2, id="bad-file-2"),
    ],
)
def test_module_entry_point(tmp_path: Path, changes: dict | None, code: int) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(_results()))
    candidate = tmp_path / "candidate.json"
    if changes is not None:
        candidate.write_text(json.dumps(_with(_results(), **changes)))
    proc = subprocess.run(
        [sys.executable, "-m", "compress.compare", str(baseline), str(candidate)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    assert ("regressions in" in proc.stdout) is (code != 2)


def test_compare_does_not_import_torch() -> None:
    code = "import sys, compress.compare; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "False", proc.stderr


def test_info_rows_hidden_without_show_info(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = _with(_results(), calib_batches=8)
    paths = []
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(baseline))
        paths.append(str(tmp_path / name))
    assert main(paths) == 0
    out = capsys.readouterr().out
    assert "calib_batches" not in out and "speedup_q1" not in out
    assert "f1_drop_pts" in out


def test_no_time_also_drops_speedups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    candidate = _with(_results(), speedup=0.5)
    assert _run(tmp_path, _results(), candidate, "--no-time") == 0
    out = capsys.readouterr().out
    assert "speedup" not in out and TIME_METRIC not in out and "f1_int8" in out


@pytest.mark.parametrize(
    ("key", "old", "new", "status"),
    [
        ("loss_int8", 5.168, 5.30, "REGRESSION"),
        ("loss_int8", 5.168, 5.18, "ok"),
        ("loss_delta", 0.001, 0.02, "REGRESSION"),
        ("sqnr_db", 40.0, 39.5, "REGRESSION"),
        ("mse", 1e-7, 1.005e-7, "ok"),
    ],
    ids=["lm-loss-up", "lm-loss-noise", "lm-delta-up", "sqnr-down", "mse-noise"],
)
def test_lm_and_qmath_rules(key: str, old: float, new: float, status: str) -> None:
    assert judge(rule_for(key), old, new) == status


def test_latency_ratio_is_dropped_with_no_time() -> None:
    """A pruning latency ratio is timing: --no-time must not gate it like a size ratio."""
    assert rule_for("latency_ratio").machine_dependent
    assert not rule_for("linear_bytes_ratio").machine_dependent


@pytest.mark.parametrize(
    ("old", "new", "comparable"), [(None, "mrpc", True), ("mrpc", "boolq", False)]
)
def test_rows_from_another_task_are_not_compared(old: str | None, new: str, comparable: bool):
    """A --task run is never judged against another task's figures (an F1 drop is not one)."""
    tasks = ({} if old is None else {"task": old}), {"task": new}
    worse = {"f1_int8": 0.10}
    rows = compare(_with(_results(), **tasks[0]), _with(_results(), **tasks[1], **worse))
    rows = [r for r in rows if r.benchmark == BERT]
    assert any(r.regression for r in rows) is comparable
    if not comparable:
        assert [(r.metric, r.status) for r in rows] == [("(task mrpc vs boolq)", "not comparable")]


QUICK_BASELINE = ROOT / "results/Linux-CPython-3.11-64bit/0001_baseline-quick.json"


def _profiled(doc: dict, profile: str | None, **rows: str) -> dict:
    """A copy of `doc` recorded with `profile` (None: unrecorded); rows={fullname: row profile}."""
    doc = copy.deepcopy(doc)
    if profile is not None:
        doc["machine_info"]["profile"] = profile
        for bench in doc["benchmarks"]:
            bench["extra_info"]["profile"] = rows.get(bench["fullname"], profile)
    return doc


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_same_profile_is_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], profile: str
) -> None:
    worse = _with(_results(), f1_int8=0.10)
    code = _run(tmp_path, _profiled(_results(), profile), _profiled(worse, profile))
    assert code == 1
    captured = capsys.readouterr()
    assert _table(captured.out)[BERT_NAME, "f1_int8"] == "REGRESSION"
    assert f"1 regressions in 9 compared metrics (profile {profile})\n" in captured.out
    assert captured.err == ""


@pytest.mark.parametrize(
    ("old", "new", "fix"),
    [
        ("quick", "full", "baseline with --profile full"),
        ("full", "quick", "baseline with --profile quick"),
        (None, "quick", "baseline with --profile quick"),
        ("full", None, "candidate with --profile full"),
    ],
    ids=["quick-vs-full", "full-vs-quick", "unrecorded-vs-quick", "full-vs-unrecorded"],
)
def test_other_profile_is_not_compared(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    old: str | None,
    new: str | None,
    fix: str,
) -> None:
    """Runs of two profiles train on different budgets: no metric is judged, exit 2."""
    worse = _with(_results(), f1_int8=0.10)  # would be a regression within one profile
    assert _run(tmp_path, _profiled(_results(), old), _profiled(worse, new)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    shown = [f"'{p}'" if p else "unrecorded" for p in (old, new)]
    expected = (
        f"compare: not comparable: profile {shown[0]} (baseline {tmp_path / 'baseline.json'}) vs "
        f"{shown[1]} (candidate {tmp_path / 'candidate.json'}); compare runs of the same profile"
    )
    assert captured.err.startswith(expected)
    assert f"(re-record the {fix})" in captured.err
    assert captured.err.count("\n") == 1
    with pytest.raises(ProfileMismatch):
        compare(_profiled(_results(), old), _profiled(worse, new))


def test_legacy_result_vs_the_committed_quick_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A result saved before profiles existed is not judged against the quick baseline."""
    legacy = json.loads(QUICK_BASELINE.read_text())
    del legacy["machine_info"]["profile"]
    for bench in legacy["benchmarks"]:
        bench["extra_info"].pop("profile", None)
    (tmp_path / "legacy.json").write_text(json.dumps(legacy))
    assert main([str(tmp_path / "legacy.json"), str(QUICK_BASELINE), "--no-time"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "profile unrecorded (baseline " in captured.err
    assert "vs 'quick' (candidate" in captured.err


def test_two_unrecorded_profiles_compare_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, _results(), _with(_results(), f1_int8=0.10)) == 1
    captured = capsys.readouterr()
    assert _table(captured.out)[BERT_NAME, "f1_int8"] == "REGRESSION"
    assert "1 regressions in 9 compared metrics\n" in captured.out  # no "(profile …)"
    assert "profile" not in captured.out + captured.err


@pytest.mark.parametrize(
    ("old", "new", "detail"),
    [
        ("quick", "full", "(profile 'quick' vs 'full')"),
        ("full", "full", "(profile 'full' in extra_info vs 'quick' in machine_info)"),
    ],
    ids=["rows-disagree", "rows-disagree-with-files"],
)
def test_row_of_another_profile_is_not_compared(old: str, new: str, detail: str) -> None:
    """A row whose extra_info profile disagrees is not judged; the other rows still are."""
    baseline = _profiled(_results(), "quick", **{BERT: old})
    candidate = _profiled(
        _with(_results(), fullname=MLP, accuracy_int8=0.5), "quick", **{BERT: new}
    )
    rows = compare(baseline, _with(candidate, f1_int8=0.10))
    assert [(r.metric, r.status) for r in rows if r.benchmark == BERT] == [
        (detail, "not comparable")
    ]
    assert [r.metric for r in rows if r.regression] == ["accuracy_int8"]


def test_help_documents_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "2 bad input, or the two files were recorded with different profiles" in " ".join(
        capsys.readouterr().out.split()
    )


# --- typed results (compress.results.CaseResult in extra_info) -----------------------------

F1_TOL = {"unit": "frac", "direction": "higher", "tolerance": 0.01}
DROP_TOL = {"unit": "pts", "direction": "lower", "tolerance": 0.5}
SPEEDUP_TOL = {"unit": "x", "direction": "higher", "tolerance": 0.2, "relative": True}
BYTES_TOL = {"unit": "bytes", "direction": "lower", "tolerance": 0.01, "relative": True}


def _ci(low: float, high: float) -> Interval:
    return Interval(low, high, 0.95, 400, "percentile")


def _case(metrics: dict[str, Metric]) -> CaseResult:
    return CaseResult(
        case="sst2-dynamic-int8",
        metrics=metrics,
        config={"dtype": "qint8"},
        model={"about": "synthetic"},
        data={"split": "validation"},
        fingerprint={},
        profile="quick",
    )


def _typed(doc: dict, fullname: str = BERT, **metrics: Metric) -> dict:
    """A copy of `doc` whose `fullname` row also carries a CaseResult with `metrics`."""
    doc = copy.deepcopy(doc)
    for bench in doc["benchmarks"]:
        if bench["fullname"] == fullname:
            record(bench["extra_info"], _case(metrics))
    return doc


def _typed_pair(
    key: str, old: Metric, new: Metric, fingerprint: dict[str, object] = FINGERPRINT
) -> tuple[dict, dict]:
    """Baseline and candidate files whose BERT rows carry one typed metric `key` each."""
    return _typed(_results(), **{key: old}), _typed(_results(fingerprint), **{key: new})


TYPED_CASES = [
    # id, metric, baseline Metric, candidate Metric, expected status, exit code
    ("higher-within-tol", "f1", Metric(0.90, **F1_TOL), Metric(0.895, **F1_TOL), "ok", 0),
    ("higher-rises", "f1", Metric(0.90, **F1_TOL), Metric(0.92, **F1_TOL), "improved", 0),
    ("higher-drop-no-ci", "f1", Metric(0.90, **F1_TOL), Metric(0.85, **F1_TOL), "REGRESSION", 1),
    (
        "higher-drop-ci-confirms",
        "f1",
        Metric(0.90, **F1_TOL),
        Metric(0.85, **F1_TOL, ci=_ci(0.83, 0.87)),
        "REGRESSION",
        1,
    ),
    (
        "higher-drop-ci-straddles",
        "f1",
        Metric(0.90, **F1_TOL),
        Metric(0.85, **F1_TOL, ci=_ci(0.80, 0.90)),
        "inconclusive",
        0,
    ),
    (
        "higher-drop-ci-ends-at-band",  # the CI reaches 0.89 = 0.90 - tolerance: not confirmed
        "f1",
        Metric(0.90, **F1_TOL),
        Metric(0.85, **F1_TOL, ci=_ci(0.80, 0.89)),
        "inconclusive",
        0,
    ),
    (
        "lower-rise-ci-confirms",
        "f1_drop_pts",
        Metric(1.0, **DROP_TOL),
        Metric(2.0, **DROP_TOL, ci=_ci(1.6, 2.4)),
        "REGRESSION",
        1,
    ),
    (
        "lower-rise-ci-straddles",
        "f1_drop_pts",
        Metric(1.0, **DROP_TOL),
        Metric(2.0, **DROP_TOL, ci=_ci(1.2, 2.8)),
        "inconclusive",
        0,
    ),
    ("lower-falls", "f1_drop_pts", Metric(1.0, **DROP_TOL), Metric(0.2, **DROP_TOL), "improved", 0),
    (
        "relative-within-tol",
        "model_bytes",
        Metric(100e6, **BYTES_TOL),
        Metric(100.5e6, **BYTES_TOL),
        "ok",
        0,
    ),
    (
        "relative-beyond-tol",
        "model_bytes",
        Metric(100e6, **BYTES_TOL),
        Metric(102e6, **BYTES_TOL),
        "REGRESSION",
        1,
    ),
    (
        "report-never-gated",  # the name rule "f1*" would gate this fall of 0.5
        "f1_note",
        Metric(0.9, "frac", "report"),
        Metric(0.4, "frac", "report"),
        "info",
        0,
    ),
    (
        "no-tolerance-never-gated",
        "f1",
        Metric(0.9, "frac", "higher"),
        Metric(0.4, "frac", "higher"),
        "info",
        0,
    ),
]


@pytest.mark.parametrize(
    ("key", "old", "new", "status", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in TYPED_CASES],
)
def test_typed_metric_is_judged_as_declared(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    old: Metric,
    new: Metric,
    status: str,
    code: int,
) -> None:
    assert _run(tmp_path, *_typed_pair(key, old, new)) == code
    out = capsys.readouterr().out
    assert _table(out)[BERT_NAME, key] == status
    assert f"\n{code} regressions in " in out
    assert ("1 inconclusive: " in out) is (status == "inconclusive")


def test_typed_direction_beats_name_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """params_ratio declared "higher": a rise is an improvement, though "*_ratio" says lower."""
    assert judge(rule_for("params_ratio"), 1.36, 1.40) == "REGRESSION"  # what names would say
    higher = {"unit": "ratio", "direction": "higher", "tolerance": 0.005}
    baseline, candidate = _typed_pair(
        "params_ratio", Metric(1.36, **higher), Metric(1.40, **higher)
    )
    assert _run(tmp_path, baseline, candidate) == 0
    out = capsys.readouterr().out
    assert _table(out)[BERT_NAME, "params_ratio"] == "improved"
    assert "0 regressions in " in out


def test_inconclusive_is_counted_not_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = Metric(0.85, **F1_TOL, ci=_ci(0.80, 0.90))
    baseline, candidate = _typed_pair("f1", Metric(0.90, **F1_TOL), new)
    rows = compare(baseline, candidate)
    [row] = [r for r in rows if r.metric == "f1"]
    assert (row.status, row.regression) == ("inconclusive", False)
    assert _run(tmp_path, baseline, candidate) == 0
    out = capsys.readouterr().out
    # 1 typed BERT metric + 2 MLP accuracies (latencies are shown, not gated); the
    # inconclusive row is compared
    assert "\n0 regressions in 3 compared metrics\n1 inconclusive: " in out
    assert "0.85 [0.8, 0.9] |" in out  # right-aligned: the candidate's CI is shown


TYPED_SPEED = {
    "speedup": (Metric(2.0, **SPEEDUP_TOL), Metric(1.0, **SPEEDUP_TOL, ci=_ci(0.9, 1.1))),
    "latency": (
        Metric(0.010, "s", "lower", tolerance=0.1, relative=True),
        Metric(0.020, "s", "lower", tolerance=0.1, relative=True),
    ),
    "f1": (Metric(0.90, **F1_TOL), Metric(0.85, **F1_TOL)),  # not machine-dependent
}


def _typed_speed(fingerprint: dict[str, object]) -> tuple[dict, dict]:
    old = {key: pair[0] for key, pair in TYPED_SPEED.items()}
    new = {key: pair[1] for key, pair in TYPED_SPEED.items()}
    return _typed(_results(), **old), _typed(_results(fingerprint), **new)


@pytest.mark.parametrize(
    ("fingerprint", "args", "speed", "code"),
    [
        pytest.param(FINGERPRINT, (), "REGRESSION", 3, id="same-machine"),
        pytest.param(OTHER_ISA, (), "not comparable", 1, id="other-isa"),
        pytest.param(OTHER_ISA, ("--gate-time-anyway",), "REGRESSION", 3, id="other-isa-anyway"),
    ],
)
def test_typed_speed_metrics_need_comparable_machines(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fingerprint: dict[str, object],
    args: tuple[str, ...],
    speed: str,
    code: int,
) -> None:
    """Units "x" and "s" are judged only when the files' fingerprints match, like time."""
    assert _run(tmp_path, *_typed_speed(fingerprint), *args) == min(code, 1)
    out = capsys.readouterr().out
    table = _table(out)
    assert (table[BERT_NAME, "speedup"], table[BERT_NAME, "latency"]) == (speed, speed)
    assert table[BERT_NAME, "f1"] == "REGRESSION"  # quality is gated on any machine
    assert f"\n{code} regressions in " in out
    if fingerprint is OTHER_ISA:
        assert "isa: baseline has avx512_vnni, candidate lacks it" in out


def test_typed_no_time_drops_speed_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, *_typed_speed(FINGERPRINT), "--no-time") == 1
    out = capsys.readouterr().out
    assert {metric for name, metric in _table(out) if name == BERT_NAME} == {"f1"}
    assert "\n1 regressions in 3 compared metrics" in out  # f1 + 2 MLP accuracies


def test_typed_row_ignores_loose_keys_but_keeps_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both rows typed: loose extra_info numbers are not judged; stats.median is shown, and
    gated with --gate-latency."""
    f1 = Metric(0.90, **F1_TOL)
    baseline = _typed(_results(), f1=f1)
    candidate = _typed(_with(_results(), median=0.013, f1_int8=0.10, speedup=0.5), f1=f1)
    assert _run(tmp_path, baseline, candidate) == 0
    table = _table(capsys.readouterr().out)
    assert {metric for name, metric in table if name == BERT_NAME} == {TIME_METRIC, "f1"}
    assert (table[BERT_NAME, TIME_METRIC], table[BERT_NAME, "f1"]) == ("info", "ok")
    assert _run(tmp_path, baseline, candidate, "--gate-latency") == 1
    assert _table(capsys.readouterr().out)[BERT_NAME, TIME_METRIC] == "REGRESSION"


@pytest.mark.parametrize("typed_side", ["baseline", "candidate"])
def test_mixed_rows_keep_name_rules(typed_side: str) -> None:
    """Only one side typed (mid-migration): exactly the name-rule rows of untyped files."""
    baseline, candidate = _results(), _with(_results(), f1_int8=0.87, speedup=1.9)
    typed = {"f1_int8": Metric(0.10, **F1_TOL)}  # would be a regression if judged by schema
    if typed_side == "baseline":
        rows = compare(_typed(baseline, **typed), candidate)
    else:
        rows = compare(baseline, _typed(candidate, **typed))
    assert rows == compare(baseline, candidate)
    assert [(r.metric, r.status) for r in rows if r.regression] == [("f1_int8", "REGRESSION")]


@pytest.mark.parametrize(("strict", "regression"), [(False, False), (True, True)])
def test_typed_metric_missing_in_candidate(strict: bool, regression: bool) -> None:
    f1 = Metric(0.90, **F1_TOL)
    baseline = _typed(_results(), f1=f1, f1_drop_pts=Metric(1.0, **DROP_TOL))
    rows = compare(baseline, _typed(_results(), f1=f1), Options(strict=strict))
    [row] = [r for r in rows if r.metric == "f1_drop_pts"]
    assert (row.status, row.regression, row.baseline) == ("missing", regression, 1.0)


def _break(bench: dict, change: str) -> None:
    """Make the row's stored CaseResult unreadable in one of two ways."""
    stored = bench["extra_info"][EXTRA_INFO_KEY]
    if change == "other-version":
        stored["schema"] = SCHEMA_VERSION + 1
    else:
        del stored["metrics"]["f1"]["direction"]


@pytest.mark.parametrize("change", ["other-version", "no-direction"])
@pytest.mark.parametrize("bad_side", ["baseline", "candidate"])
def test_unreadable_result_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, bad_side: str
) -> None:
    docs = {
        side: _typed(_results(), f1=Metric(0.90, **F1_TOL)) for side in ("baseline", "candidate")
    }
    [bench] = [b for b in docs[bad_side]["benchmarks"] if b["fullname"] == BERT]
    _break(bench, change)
    with pytest.raises(SchemaError) as exc:
        CaseResult.from_dict(bench["extra_info"][EXTRA_INFO_KEY])
    assert _run(tmp_path, docs["baseline"], docs["candidate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"compare: error: {tmp_path / f'{bad_side}.json'}: benchmark {BERT}: {exc.value}\n"
    )
    with pytest.raises(SchemaError, match=f"benchmark {re.escape(BERT)}: "):
        compare(docs["baseline"], docs["candidate"])


@pytest.mark.parametrize(
    ("value", "ci", "unit", "shown"),
    [
        pytest.param(2.41, _ci(2.30, 2.55), "x", "2.41x [2.30, 2.55]", id="speedup"),
        pytest.param(0.85, _ci(0.80, 0.90), "frac", "0.85 [0.8, 0.9]", id="fraction"),
        pytest.param(0.4, _ci(-0.2, 1.1), "pts", "0.4 [-0.2, 1.1]", id="negative-low"),
        pytest.param(0.0123, _ci(0.012, 0.0129), "s", "12.30 ms [12.00, 12.90]", id="time"),
        pytest.param(0.85, None, "frac", "0.85", id="no-ci"),
    ],
)
def test_render_shows_ci(value: float, ci: Interval | None, unit: str, shown: str) -> None:
    row = Row(BERT, BERT_NAME, "m", value, value, "ok", unit, candidate_ci=ci)
    [line] = [ln for ln in render([row]).splitlines() if ln.startswith(f"| {BERT_NAME}")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == shown
    assert cells[2] == shown.split(" [")[0]  # the baseline has no CI here


def test_help_documents_typed_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0 no regression (inconclusive rows do not change it)" in text
    assert "another schema version, or a metric without a direction" in text


def test_result_key_matches_schema() -> None:
    """compare reads the key without importing compress.results: it must not drift."""
    assert RESULT_KEY == EXTRA_INFO_KEY


def test_untyped_compare_does_not_load_scipy() -> None:
    code = (
        "import sys, compress.compare as c; d = {'benchmarks': [{'fullname': 'a', "
        "'extra_info': {'f1': 0.9}}]}; c.compare(d, d); print('scipy' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "False", proc.stderr


def test_baseline_declaration_gates_not_the_candidates() -> None:
    """A candidate that re-declares its metric as report-only (or loosens the tolerance)
    is still gated as the committed baseline declared it."""
    baseline, candidate = _typed_pair(
        "f1", Metric(0.90, **F1_TOL), Metric(0.80, unit="frac", direction="report")
    )
    [row] = [r for r in compare(baseline, candidate) if r.metric == "f1"]
    assert row.status == "REGRESSION"
