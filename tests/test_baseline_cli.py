"""python -m compress.baseline: a baseline takes each case's median run among the runs in which
it passed, refuses injected runs and mixed profiles or CPU kinds, is named by profile, kind and
the next number, and ``list`` says which baseline is of this machine's kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compress.baseline import store
from compress.baseline.cli import main
from compress.baseline.pick import pick
from compress.baseline.store import baseline_path
from compress.measure.fingerprint import kind_of, machine_fingerprint
from compress.verdict.resultfile import load
from compress.verdict.results import Metric
from tests.test_compare_evidence import AVX2, VNNI, _doc, _speed

ROOT = Path(__file__).resolve().parents[1]
SPEED = "benchmarks/test_b.py::test_speed[a]"
SIZE = "benchmarks/test_b.py::test_size"
BROKEN = "benchmarks/test_b.py::test_broken"
KIND = kind_of(VNNI)


def _run(speed: float, limit: float = 3.8, when: str = "1", fp=VNNI, outcomes=None) -> dict:
    """A run of three cases, made of test_compare_evidence's one-case documents: a speedup, a
    size that tells the runs apart (its value is the run's int8 limit), a case that always
    fails after saving its row."""
    rows = []
    metrics = {
        SPEED: {"speedup": _speed(speed, 0.02)},
        SIZE: {"size_bytes": Metric(limit, "bytes", "lower", 0.001, True)},
        BROKEN: {"speedup": _speed(9.0, 0.02)},
    }
    for fullname, case in metrics.items():
        row = _doc(case, fp=fp)["benchmarks"][0]
        row.update(fullname=fullname, name=fullname.rsplit("::", 1)[-1])
        rows.append(row)
    doc = _doc({}, fp=fp, when=when, outcomes={BROKEN: "failed: boom", **(outcomes or {})})
    doc["benchmarks"] = rows
    doc["machine_info"]["int8_limit"]["speedup"] = limit
    return doc


def _write(folder: Path, docs: list[dict]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        (folder / f"run-{i}.json").write_text(json.dumps(doc))
    return [str(folder / f"run-{i}.json") for i in range(len(docs))]


def _written(results: Path) -> list[Path]:
    return sorted(results.rglob("*_baseline-*.json")) if results.exists() else []


def test_each_case_takes_its_median_run(tmp_path: Path, capsys) -> None:
    """Speedups 1.5x, 2.0x, 1.0x: the 1.5x run; the case without speedups and the machine facts
    come from the run of the median int8 limit (3.5 of 3.0, 4.0, 3.5)."""
    runs = [(1.5, 3.0), (2.0, 4.0), (1.0, 3.5)]  # (speedup, int8 limit)
    docs = [_run(speed, limit, when=str(i)) for i, (speed, limit) in enumerate(runs)]
    results = tmp_path / "results"
    assert main(["record", *_write(tmp_path / "runs", docs), "--results", str(results)]) == 0
    [path] = _written(results)
    base = load(path)
    assert base.cases[SPEED].metrics["speedup"].value == pytest.approx(1.5)
    assert base.cases[SIZE].metrics["size_bytes"].value == 3.5
    assert base.machine_info["int8_limit"]["speedup"] == 3.5 and base.doc["datetime"] == "2"
    assert base.outcomes == {SPEED: "passed", SIZE: "passed"}
    info = base.doc["compress_bench"]["baseline"]
    assert info["picked"] == {SPEED: 0, SIZE: 2} and info["runs"] == 3
    assert info["sources"] == ["run-0.json", "run-1.json", "run-2.json"]
    assert [b["fullname"] for b in base.doc["benchmarks"]] == [SPEED, SIZE]
    out = capsys.readouterr().out
    assert "run-0.json: median run of 1 speedup cases: test_speed[a]" in out
    assert out.splitlines()[-1] == f"git add -f {path}"


def test_a_case_failed_in_a_run_takes_a_run_where_it_passed(tmp_path: Path, capsys) -> None:
    """The 1.5x run is the median but its speed case failed: a passing run is taken instead,
    and the case that failed in every run is left out and named."""
    failed = {SPEED: "failed: assert 1.5 >= 1.6"}
    docs = [_run(1.0), _run(1.5, outcomes=failed), _run(2.0)]
    files = [load(p) for p in _write(tmp_path, docs)]
    doc = pick(files)
    picked = doc["compress_bench"]["baseline"]["picked"]
    assert picked[SPEED] in (0, 2) and BROKEN not in picked
    assert doc["compress_bench"]["baseline"]["left_out"] == [BROKEN]
    assert BROKEN not in {b["fullname"] for b in doc["benchmarks"]}
    assert main(["record", *map(str, (f.path for f in files)), "--results", str(tmp_path)]) == 0
    assert f"left out (passed in no run): {BROKEN}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["machine_info"].update(settings={"inject": "pad-4"}), "injected regression"),
        (lambda d: d["machine_info"].update(fingerprint={}), "no machine fingerprint"),
        (lambda d: d["machine_info"].update(fingerprint=AVX2), f"but run-0.json is {KIND}"),
        (lambda d: d["machine_info"].update(profile="full"), "profile 'full'"),
    ],
    ids=["injected", "no-fingerprint", "other-kind", "other-profile"],
)
def test_runs_that_may_not_make_a_baseline_are_refused(tmp_path: Path, capsys, change, message):
    docs = [_run(1.0), _run(1.5), _run(2.0)]
    change(docs[1])
    paths = _write(tmp_path / "runs", docs)
    results = tmp_path / "results"
    assert main(["record", *paths, "--results", str(results)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"baseline: error: {paths[1]}: ") and message in line
    assert not results.exists()


def test_the_name_carries_profile_kind_and_the_next_number(tmp_path: Path, capsys) -> None:
    results = tmp_path / "results"
    box = results / "Box-CPython-3.11-64bit"
    paths = _write(box, [_run(1.0), _run(1.5)])
    (box / "0007_baseline-quick.json").write_text("{}")  # numbers count, contents do not
    (box / "0002_other.json").write_text("{}")
    first = baseline_path(tmp_path / "new", "Box", "quick", KIND)
    assert first == tmp_path / "new" / "Box" / f"0001_baseline-quick@{KIND}.json"
    for number in ("0008", "0009"):  # a second record never overwrites the first
        assert main(["record", *paths, "--results", str(results), "--profile", "quick"]) == 0
        path = box / f"{number}_baseline-quick@{KIND}.json"
        assert capsys.readouterr().out.splitlines()[-1] == f"git add -f {path}"
        assert load(path).profile == "quick"


def test_record_runs_the_suite_itself(tmp_path: Path, monkeypatch, capsys) -> None:
    """Without FILES, N runs of the suite with the arguments after --, in the checkout."""
    calls = []
    speeds = iter([2.0, 1.5, 1.0])

    def fake(cmd: list[str], cwd: Path) -> int:
        calls.append((cmd, cwd))
        out = next(a.split("=", 1)[1] for a in cmd if a.startswith("--benchmark-json="))
        Path(out).write_text(json.dumps(_run(next(speeds))))
        return 1  # the broken case failed

    monkeypatch.setattr(store, "run_pytest", fake)
    monkeypatch.chdir(tmp_path)
    assert main(["record", "--runs", "3", "--", "-k", "speed or size"]) == 0
    assert len(calls) == 3 and all(cwd == ROOT for _, cwd in calls)
    cmd = calls[0][0]
    assert cmd[1:8] == ["-m", "pytest", "benchmarks", "-p", "no:xdist", "--profile", "quick"]
    assert cmd[-2:] == ["-k", "speed or size"]
    [path] = _written(tmp_path / "results")
    assert path.parent.name == store._machine_id()
    assert load(path).doc["compress_bench"]["baseline"]["picked"][SPEED] == 1

    monkeypatch.setattr(store, "run_pytest", lambda cmd, cwd: 4)  # saves nothing
    assert main(["record", "--runs", "2", "--results", "other"]) == 1
    assert "saved no result file" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_list_names_this_machines_kind(tmp_path: Path, capsys) -> None:
    mine = machine_fingerprint()
    results = tmp_path / "results"
    _write(results / "Box", [_run(1.0)])
    (results / "Box" / "run-0.json").rename(results / "Box" / "0001_baseline-quick@other.json")
    assert main(["list", "--results", str(results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and f"kind {KIND}" in lines[0] and "avx512-vnni" in lines[0]
    assert lines[-1] == f"none of them is of this machine's kind ({kind_of(mine)})"

    local = results / "local" / f"quick@{kind_of(mine)}.json"
    local.parent.mkdir()
    local.write_text(json.dumps(_run(1.0, fp=mine)))
    assert main(["list", "--results", str(results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "3 cases" in lines[1]
    assert lines[-1] == f"of this machine's kind ({kind_of(mine)}): {local}"
    assert main(["list", "--results", str(results), "--profile", "full"]) == 0
    assert capsys.readouterr().out.startswith("no baselines under")


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys) -> None:
    [good] = _write(tmp_path / "runs", [_run(1.0)])
    bad = tmp_path / "runs" / "bad.json"
    bad.write_text('{"benchmarks": [\n')
    results = tmp_path / "results"
    assert main(["record", good, str(bad), "--results", str(results)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"baseline: error: {bad}:2: invalid JSON")
    assert not results.exists()
    (results / "Box").mkdir(parents=True)
    bad.rename(results / "Box" / "0001_baseline-quick.json")
    assert main(["list", "--results", str(results)]) == 2
    assert "0001_baseline-quick.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["record", "--runs", "0"])
    assert exc.value.code == 2 and "must be >= 1" in capsys.readouterr().err
