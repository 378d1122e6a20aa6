"""``pytest benchmarks --benchmark-compare`` runs the typed gate (plugins.gate): a real pytest
run in a subprocess, with a one-case benchmark module and a baseline it writes itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE = """
import os
import pytest
from compress.verdict.results import CaseResult, Metric, record

@pytest.mark.parametrize("task", os.environ.get("GATE_TASKS", "mrpc,sst2").split(","))
def test_case(benchmark, task):
    benchmark.pedantic(lambda: None, rounds=3)
    if os.environ.get("GATE_FAIL") == task:
        raise AssertionError("the case broke")
    if os.environ.get("GATE_SKIP") == task:
        pytest.skip("data missing")
    center = float(os.environ.get("GATE_SPEED", "2.0"))
    once = os.environ.get("GATE_ONCE", "")
    if once and os.path.exists(once):  # a burst of noise: this process only, not its retest
        center = 1.8
        if task == "sst2":
            os.remove(once)
    ratios = tuple(center * (1 + 0.01 * k) for k in (-2, -1, 0, 0, 1, 2))
    speed = Metric(center, "x", "higher", 0.05, relative=True, samples=ratios)
    fp = {"cpu_model": "CPU", "isa": ["avx2", "avx512_vnni"], "quantized_engine": "x86"}
    record(benchmark.extra_info, CaseResult(task, {"speedup": speed}, {}, {"about": "t"}, {},
                                            fp, "quick"))
"""
HOOKS = """
def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["profile"] = "quick"
    machine_info["fingerprint"] = {"cpu_model": "CPU", "isa": ["avx2", "avx512_vnni"]}
"""


def _pytest(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GATE_"))}
    environ = {**inherited, "PYTHONPATH": str(ROOT), **env}  # not an xdist worker, no addopts
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "benchmarks",
        "-p",
        "fixtures.plugins.gate",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        f"--benchmark-storage={tmp / 'store'}",
        *args,
    ]
    return subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=environ, timeout=120)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("suite")
    (tmp / "benchmarks").mkdir()
    (tmp / "benchmarks" / "test_cases.py").write_text(MODULE)
    (tmp / "conftest.py").write_text(HOOKS)
    proc = _pytest(tmp, f"--benchmark-json={tmp / 'baseline.json'}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcomes = json.loads((tmp / "baseline.json").read_text())["compress_bench"]["outcomes"]
    assert set(outcomes.values()) == {"passed"} and len(outcomes) == 2
    return tmp


def test_an_equal_run_passes(suite: Path) -> None:
    proc = _pytest(suite, f"--benchmark-compare={suite / 'baseline.json'}")
    assert proc.returncode == 0, proc.stdout
    assert "0 regressions in 2 compared metrics (profile quick)" in proc.stdout
    # saved as --benchmark-autosave names a run (commit and time), which it implies
    (saved,) = (suite / "store").glob("*/*.json")
    assert not saved.name.endswith("_True.json"), saved.name
    saved.unlink()


@pytest.mark.parametrize(
    ("env", "shown"),
    [
        ({"GATE_SPEED": "1.8"}, "REGRESSION"),
        ({"GATE_FAIL": "sst2"}, "FAILED: failed:"),
        ({"GATE_SKIP": "mrpc"}, "missing: skipped: data missing"),
    ],
    ids=["speed-10pct", "case-fails", "case-skipped"],
)
def test_a_regression_fails_the_run(suite: Path, env: dict, shown: str) -> None:
    proc = _pytest(suite, f"--benchmark-compare={suite / 'baseline.json'}", **env)
    assert proc.returncode == 1, proc.stdout
    assert shown in proc.stdout and "compare against the baseline" in proc.stdout


def test_a_partial_run_compares_only_what_it_collected(suite: Path) -> None:
    proc = _pytest(suite, "-k", "mrpc", f"--benchmark-compare={suite / 'baseline.json'}")
    assert proc.returncode == 0, proc.stdout
    assert "0 regressions in 1 compared metrics" in proc.stdout


def test_a_speed_loss_the_retest_does_not_confirm_passes(suite: Path) -> None:
    flag = suite / "noisy-once"
    flag.write_text("")
    proc = _pytest(suite, f"--benchmark-compare={suite / 'baseline.json'}", GATE_ONCE=str(flag))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("inconclusive: a retest did not confirm it (ok +0.0%") == 2


def test_a_deleted_case_is_missing_not_out_of_scope(suite: Path) -> None:
    proc = _pytest(suite, f"--benchmark-compare={suite / 'baseline.json'}", GATE_TASKS="mrpc")
    assert proc.returncode == 1, proc.stdout
    assert "missing: not run" in proc.stdout and "test_case[sst2]" in proc.stdout


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def write_line(self, line: str, **markup: bool) -> None:
        self.lines.append((line, markup))


class _Config:
    """What fixtures.plugins.gate's tally reads of a pytest.Config: its stash and the reporter."""

    def __init__(self, reporter: _Reporter) -> None:
        self.stash = pytest.Stash()
        self.pluginmanager = self
        self._reporter = reporter

    def getplugin(self, name: str) -> _Reporter:
        assert name == "terminalreporter"
        return self._reporter


def test_the_last_line_counts_every_in_run_gate() -> None:
    from fixtures.plugins.gate import pytest_unconfigure, tally_gates

    reporter = _Reporter()
    config = _Config(reporter)
    tally_gates(config, {"speedup": "pass", "f1_drop_pts": "inconclusive"})  # type: ignore[arg-type]
    tally_gates(config, {"speedup": "fail", "size_ratio": "pass"})  # type: ignore[arg-type]
    pytest_unconfigure(config)  # type: ignore[arg-type]
    ((line, markup),) = reporter.lines
    assert line.startswith("compress-bench gates: 2 passed, 1 fail, 1 inconclusive")
    assert "--strict-quality" in line and markup == {"red": True, "green": False}


def test_a_case_the_profile_leaves_out_is_out_of_scope() -> None:
    """A baseline recorded by a profile that ran a case does not make it missing in a run whose
    profile leaves it out (Profile.left_out); a case of the same module it runs stays in."""
    from types import SimpleNamespace

    from fixtures.plugins.gate import _in_scope

    module = "benchmarks/test_compiled.py"
    config = SimpleNamespace(stash={}, getoption=lambda name: "")
    items = [SimpleNamespace(nodeid=f"{module}::test_compiled[minilm-l6-mrpc-fp32-bs1]")]
    in_scope = _in_scope(SimpleNamespace(items=items, config=config))  # default profile: quick
    assert in_scope(f"{module}::test_compiled[minilm-l6-mrpc-bf16-bs1]")
    assert not in_scope(f"{module}::test_compiled_peak_memory[minilm-l6-mrpc]")
    assert not in_scope("benchmarks/test_prune.py::test_prune_bert[2:4]")
