"""compress.compare on small synthetic result files with typed results."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from compress.compare.cli import main
from compress.compare.judge import compare
from compress.compare.rules import Options, ProfileMismatch, machines
from compress.core.stats import Interval
from compress.report.compare_table import Row, render
from compress.verdict.change import judge_metric
from compress.verdict.resultfile import load
from compress.verdict.results import EXTRA_INFO_KEY, SCHEMA_VERSION, CaseResult, Metric, record
from compress.verdict.status import Status, Verdict

ROOT = Path(__file__).resolve().parents[1]
BERT = "benchmarks/test_bert.py::test_bert_int8[sst2-dynamic]"
REF = "benchmarks/test_bert.py::test_bert_int8[sst2-fp32]"  # a timed row without figures
VNNI = {
    "cpu_model": "Test CPU @ 2.0GHz",
    "isa": ["avx2", "avx512_vnni", "avx512f", "avx512bw"],
    "quantized_engine": "x86",
    "threads": 2,
    "versions": {"torch": "2.13.0", "transformers": "5.0.0"},
}
OTHER_VNNI = {**VNNI, "cpu_model": "Other CPU", "versions": {"torch": "2.14.0"}}
AVX2 = {**VNNI, "cpu_model": "Old CPU", "isa": ["avx2", "fma"]}
UNKNOWN = {**VNNI, "cpu_model": "Odd CPU", "isa": ["sse4_2"]}

F1 = {"unit": "frac", "direction": "higher", "tolerance": 0.01}
DROP = {"unit": "pts", "direction": "lower", "tolerance": 0.5}
SPEED = {"unit": "x", "direction": "higher", "tolerance": 0.2, "relative": True}
BYTES = {"unit": "bytes", "direction": "lower", "tolerance": 0.01, "relative": True}


def _ci(low: float, high: float) -> Interval:
    return Interval(low, high, 0.95, 400, "percentile")


def _doc(
    metrics: dict[str, Metric],
    fp: dict = VNNI,
    profile: str = "quick",
    median: float = 0.01,
    task: str | None = None,
) -> dict:
    data = {"split": "validation", **({"task": task} if task else {})}
    case = CaseResult("sst2-dynamic", metrics, {}, {"about": "synthetic"}, data, fp, profile)
    extra: dict = {"profile": profile}
    record(extra, case)
    rows = [(REF, {"profile": profile}), (BERT, extra)]
    return {
        "machine_info": {"fingerprint": fp, "profile": profile},
        "benchmarks": [
            {"name": f.split("::")[-1], "fullname": f, "stats": {"median": median}, "extra_info": e}
            for f, e in rows
        ],
    }


def _files(tmp_path: Path, old: dict, new: dict) -> tuple[str, str]:
    paths = []
    for name, doc in (("baseline", old), ("candidate", new)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return paths[0], paths[1]


def _compare(tmp_path: Path, old: dict, new: dict, **options: object) -> list[Row]:
    a, b = _files(tmp_path, old, new)
    return compare(load(a), load(b), Options(**options))


def _status(rows: list[Row], metric: str) -> str:
    """The row's verdict as printed."""
    [row] = [r for r in rows if r.metric == metric]
    return str(row.verdict)


CASES = [  # id, baseline, candidate, status
    ("within-tol", Metric(0.90, **F1), Metric(0.895, **F1), "ok"),
    ("rises", Metric(0.90, **F1), Metric(0.92, **F1), "improved"),
    ("drop-no-ci", Metric(0.90, **F1), Metric(0.85, **F1), "REGRESSION"),
    ("drop-ci-confirms", Metric(0.90, **F1), Metric(0.85, **F1, ci=_ci(0.83, 0.87)), "REGRESSION"),
    ("drop-ci-straddles", Metric(0.90, **F1), Metric(0.85, **F1, ci=_ci(0.8, 0.9)), "inconclusive"),
    ("ci-ends-at-band", Metric(0.90, **F1), Metric(0.85, **F1, ci=_ci(0.8, 0.89)), "inconclusive"),
    ("lower-confirms", Metric(1.0, **DROP), Metric(2.0, **DROP, ci=_ci(1.6, 2.4)), "REGRESSION"),
    ("lower-straddles", Metric(1.0, **DROP), Metric(2.0, **DROP, ci=_ci(1.2, 2.8)), "inconclusive"),
    ("lower-falls", Metric(1.0, **DROP), Metric(0.2, **DROP), "improved"),
    ("relative-within", Metric(100e6, **BYTES), Metric(100.5e6, **BYTES), "ok"),
    ("relative-beyond", Metric(100e6, **BYTES), Metric(102e6, **BYTES), "REGRESSION"),
    ("report", Metric(0.9, "frac", "report"), Metric(0.4, "frac", "report"), "info"),
    ("no-tolerance", Metric(0.9, "frac", "higher"), Metric(0.4, "frac", "higher"), "info"),
    # a name that old name rules misread: higher params_ratio is more compression
    (
        "declared-not-named",
        Metric(1.36, "ratio", "higher", 0.01),
        Metric(1.40, "ratio", "higher", 0.01),
        "improved",
    ),
]


@pytest.mark.parametrize(("old", "new", "status"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_metric_is_judged_as_declared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: Metric, new: Metric, status: str
) -> None:
    assert judge_metric(old, new) == status
    a, b = _files(tmp_path, _doc({"m": old}), _doc({"m": new}))
    assert main([a, b, "--show-info"]) == (1 if status == "REGRESSION" else 0)
    assert status in capsys.readouterr().out


def test_the_baseline_declaration_gates_not_the_candidates(tmp_path: Path) -> None:
    """A candidate that re-declares its metric report-only is gated as the baseline said."""
    old, new = _doc({"f1": Metric(0.9, **F1)}), _doc({"f1": Metric(0.8, "frac", "report")})
    assert _status(_compare(tmp_path, old, new), "f1") == "REGRESSION"


@pytest.mark.parametrize(
    ("fp", "status"),
    [
        (VNNI, "REGRESSION"),  # same machine
        (OTHER_VNNI, "not comparable: CPU kind"),  # same ISA class, another CPU kind
        ({**VNNI, "versions": {"torch": "9.9"}}, "REGRESSION"),  # same kind, new torch: gated
        (AVX2, "not comparable: ISA class avx512-vnni vs avx2 (candidate +fma -avx512_vnni"),
        (UNKNOWN, "not comparable: unknown ISA class (flags ['sse4_2'])"),
    ],
    ids=["same-machine", "same-class-other-kind", "same-kind-new-torch", "other-class",
         "unknown-class"],
)
def test_speedups_are_gated_within_one_cpu_kind_only(tmp_path: Path, fp: dict, status: str):
    old = _doc({"speedup": Metric(2.5, **SPEED, ci=_ci(2.4, 2.6))})
    new = _doc({"speedup": Metric(1.4, **SPEED, ci=_ci(1.3, 1.5))}, fp=fp)
    rows = _compare(tmp_path, old, new)
    assert _status(rows, "speedup").startswith(status)
    assert any(r.regression for r in rows) == (status == "REGRESSION")
    if status != "REGRESSION":  # shown side by side
        [row] = [r for r in rows if r.metric == "speedup"]
        assert (row.baseline, row.candidate) == (2.5, 1.4)
        forced = _compare(tmp_path, old, new, gate_speed_anyway=True)
        assert _status(forced, "speedup") == "REGRESSION"


def test_quality_and_size_are_compared_across_isa_classes(tmp_path: Path) -> None:
    old = _doc({"f1": Metric(0.9, **F1), "size_bytes": Metric(1e6, **BYTES)})
    new = _doc({"f1": Metric(0.8, **F1), "size_bytes": Metric(2e6, **BYTES)}, fp=AVX2)
    rows = _compare(tmp_path, old, new)
    assert _status(rows, "f1") == _status(rows, "size_bytes") == "REGRESSION"


@pytest.mark.parametrize(
    ("fp", "gate", "status"),
    [
        (VNNI, False, "info"),
        (VNNI, True, "REGRESSION"),
        (OTHER_VNNI, True, "not comparable: machines differ"),
    ],
)
def test_latency_medians_are_gated_on_request_on_one_machine(
    tmp_path: Path, fp: dict, gate: bool, status: str
) -> None:
    rows = _compare(tmp_path, _doc({}), _doc({}, fp=fp, median=0.02), gate_latency=gate)
    assert {str(r.verdict) for r in rows if r.metric == "time median"} == {status}


def test_no_time_drops_speedups_and_seconds(tmp_path: Path) -> None:
    metrics = {
        "speedup": Metric(2.0, **SPEED),
        "eval_s": Metric(3.0, "s", "report"),
        "f1": Metric(0.9, **F1),
    }
    rows = _compare(tmp_path, _doc(metrics), _doc(metrics), include_time=False)
    assert {r.metric for r in rows} == {"f1"}


def test_other_profile_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _files(tmp_path, _doc({}), _doc({}, profile="full"))
    with pytest.raises(ProfileMismatch):
        compare(load(a), load(b))
    assert main([a, b]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "not comparable: profile 'quick'" in err and "--profile full" in err


def test_another_task_is_not_compared(tmp_path: Path) -> None:
    old = _doc({"f1": Metric(0.9, **F1)}, task="mrpc")
    new = _doc({"f1": Metric(0.5, **F1)}, task="boolq")
    rows = _compare(tmp_path, old, new)
    assert [str(r.verdict) for r in rows if r.metric == "(case)"] == [
        "not comparable: task ('mrpc', 'boolq')"
    ]
    assert not any(r.regression for r in rows)


def _legacy(doc: dict) -> None:
    doc["benchmarks"][1]["extra_info"] = {"f1_int8": 0.9, "speedup": 2.0, "profile": "quick"}


def _other_version(doc: dict) -> None:
    doc["benchmarks"][1]["extra_info"][EXTRA_INFO_KEY]["schema"] = SCHEMA_VERSION + 1


def _no_direction(doc: dict) -> None:
    del doc["benchmarks"][1]["extra_info"][EXTRA_INFO_KEY]["metrics"]["f1"]["direction"]


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (_legacy, "saved before the typed result schema (loose keys f1_int8, speedup"),
        (_other_version, f"schema version {SCHEMA_VERSION + 1}, version 1 or 2 expected"),
        (_no_direction, "metric 'f1': missing 'direction'"),
    ],
    ids=["old-format", "other-version", "no-direction"],
)
@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_unreadable_results_exit_2_naming_file_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], breaks, message: str, side: str
) -> None:
    docs = {s: _doc({"f1": Metric(0.9, **F1)}) for s in ("baseline", "candidate")}
    breaks(docs[side])
    a, b = _files(tmp_path, docs["baseline"], docs["candidate"])
    before = sorted(tmp_path.iterdir())
    assert main([a, b]) == 2
    out, err = capsys.readouterr()
    assert out == "" and sorted(tmp_path.iterdir()) == before  # nothing printed or written
    assert err.startswith(f"compare: error: {tmp_path / side}.json: benchmark {BERT}: ")
    assert message in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"benchmarks": [\n{"fullname": "a"},\n', "invalid JSON"),
        ("[1, 2]", 'no "benchmarks" list'),
        ('{"benchmarks": [{"name": 1}]}', 'benchmarks[0] is not an object with a "fullname"'),
    ],
    ids=["truncated", "not-a-result", "no-fullname"],
)
def test_bad_files_exit_2(tmp_path: Path, capsys, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good, _ = _files(tmp_path, _doc({}), _doc({}))
    assert main([good, str(bad)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("allow", "code"), [(False, 1), (True, 0)])
def test_missing_metric_and_benchmark(tmp_path: Path, allow: bool, code: int) -> None:
    """Strict by default: what the baseline had and the candidate lacks is a regression."""
    old = _doc({"f1": Metric(0.9, **F1), "acc": Metric(0.9, **F1)})
    new = _doc({"f1": Metric(0.9, **F1), "new": Metric(1.0, **F1)})
    new["benchmarks"] = new["benchmarks"][1:]  # the timed reference row is gone
    a, b = _files(tmp_path, old, new)
    rows = compare(load(a), load(b), Options(allow_missing=allow))
    status = {r.metric: str(r.verdict) for r in rows}
    assert status["acc"] == "missing" and status["new"] == "new"
    assert status["(benchmark)"] == "missing: not run"
    assert {r.metric for r in rows if r.regression} == (set() if allow else {"acc", "(benchmark)"})
    assert main([a, b] + (["--allow-missing"] if allow else [])) == code


def test_render_shows_cis() -> None:
    ok = Verdict(Status.OK)
    row = Row(BERT, "b", "speedup", 2.5, 2.41, ok, "x", candidate_ci=_ci(2.30, 2.55))
    line = render([row]).splitlines()[2]
    assert " 2.50x |" in line and "2.41x [2.30, 2.55]" in line and "-3.6%" in line


def test_machines_explain_the_isa_difference(tmp_path: Path) -> None:
    a, b = _files(tmp_path, _doc({}), _doc({}, fp=AVX2))
    m = machines(load(a), load(b))
    assert not m.same
    assert (
        m.speed_note
        == "ISA class avx512-vnni vs avx2 (candidate +fma -avx512_vnni -avx512bw -avx512f)"
    )
    assert any("avx512_vnni" in line for line in m.differences)


def test_help_documents_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "1 regression (a failed, skipped or missing case too" in text
    assert "2 bad input" in text and "ISA class" in text


def test_compare_does_not_import_torch() -> None:
    code = "import sys, compress.compare; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "False", proc.stderr


def test_two_runs_with_equal_figures_pass(tmp_path: Path, capsys) -> None:
    doc = _doc({"f1": Metric(0.9, **F1), "speedup": Metric(2.0, **SPEED, ci=_ci(1.9, 2.1))})
    other = copy.deepcopy(doc) | {"datetime": "2026-12-06T03:00:00"}
    a, b = _files(tmp_path, doc | {"datetime": "2026-12-05T03:00:00"}, other)
    assert main([a, b]) == 0
    assert "0 regressions in 2 compared metrics (profile quick)" in capsys.readouterr().out


@pytest.mark.parametrize("copy_it", [False, True], ids=["same-path", "same-content"])
def test_a_run_compared_with_itself_fails(tmp_path: Path, capsys, copy_it: bool) -> None:
    """A run that saved nothing new leaves the baseline as the newest file: never a pass."""
    doc = _doc({"f1": Metric(0.9, **F1)})
    a, b = _files(tmp_path, doc, copy.deepcopy(doc))
    assert main([a, b if copy_it else a]) == 1
    assert "the run saved no new result" in capsys.readouterr().out


def test_a_wider_tolerance_in_the_candidate_applies_at_once_a_narrower_one_waits() -> None:
    from dataclasses import replace

    from compress.verdict.change import judge_metric

    base = Metric(2.33, "x", "higher", 0.10, relative=True)
    wider = Metric(2.04, "x", "higher", 0.25, relative=True)  # -12.4%
    narrower = Metric(2.04, "x", "higher", 0.05, relative=True)
    assert judge_metric(base, wider).value == "ok"
    assert judge_metric(base, narrower).value == "REGRESSION"
    assert judge_metric(replace(base, tolerance=0.25), narrower).value == "ok"
