"""The whole declared-suite flow on a tiny saved classifier and a TSV written here: the
benchmark run (``pytest benchmarks --suite``), its result file, the compare, and the search;
bad input stops the run before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compress.verdict.resultfile import load
from tests.test_suite import SUITE, make_model, make_tsv

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("flow")
    make_model(root / "tiny")
    make_tsv(root / "eval.tsv", rows=48)
    suite = SUITE.replace("batch_sizes = [4, 1]", 'batch_sizes = [2]\ntrain = "eval.tsv"')
    suite = suite.replace('["torch-dynamic"]', '["torch-dynamic", "fine-pruned-int8"]')
    (root / "suite.toml").write_text(suite.replace("min_agreement = 0.3", "min_agreement = 0.05"))
    return root


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COMPRESS_BENCH_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "COMPRESS_BENCH_CACHE": str(cwd / "cache")}  # fmt: skip
    env.pop("PYTEST_XDIST_WORKER", None)
    plugins = ["-p", "no:xdist", "-p", "no:cacheprovider"]
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "benchmarks"), *plugins, "-q",
           "-W", "ignore", "--rootdir", str(ROOT), *args]  # fmt: skip
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_declared_model_is_benchmarked_from_its_suite_file(folder: Path) -> None:
    out = folder / "run.json"
    proc = _pytest("--suite", str(folder / "suite.toml"), f"--benchmark-json={out}", cwd=folder)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout and "deselected" in proc.stdout  # the built-in cases
    row, pruned = load(out).doc["benchmarks"]
    assert row["name"] == "test_declared[tiny-torch-dynamic-bs2]"
    assert pruned["name"] == "test_declared[tiny-fine-pruned-int8-bs2]"
    assert pruned["extra_info"]["compress_bench"]["config"]["fine_prune"]["score"] == "taylor"
    metrics = row["extra_info"]["compress_bench"]["metrics"]
    for name in ("macro_f1_drop_pts", "accuracy_drop_pts", "agreement", "speedup",
                 "size_bytes", "p99_compressed_s", "process_peak_ratio"):  # fmt: skip
        assert name in metrics, name
    assert metrics["speedup"]["ci"] is not None
    report = subprocess.run([sys.executable, "-m", "compress.report", str(out)], cwd=ROOT,
                            capture_output=True, text=True)  # fmt: skip
    assert report.returncode == 0 and "tiny-torch-dynamic-bs2" in report.stdout, report.stderr


def test_bad_input_stops_the_run_before_anything_is_written(folder: Path) -> None:
    bad = folder / "bad.toml"
    bad.write_text(SUITE.replace('"macro_f1"', '"f2"'))
    run = folder / "empty-run"
    run.mkdir()
    proc = _pytest("--suite", str(bad), "--benchmark-autosave", cwd=run)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "bad.toml: models.tiny.metric: expected one of" in proc.stderr
    assert list(run.iterdir()) == []


def test_the_search_runs_on_a_declared_model(folder: Path) -> None:
    out, db = folder / "search", folder / "search.sqlite"
    cmd = [sys.executable, "-m", "compress.search", "--suite", str(folder / "suite.toml"),
           "--trials", "1", "--rounds", "3", "--storage", f"sqlite:///{db}", "--out", str(out),
           "--budget", "50"]  # fmt: skip
    env = {**os.environ, "COMPRESS_BENCH_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "search.md").exists()
    import optuna

    study = optuna.load_study(study_name="declared-tiny", storage=f"sqlite:///{db}")
    assert study.user_attrs["identity"]["task"] == "declared:tiny"
    assert study.user_attrs["identity"]["metric"] == "macro_f1"
