"""A bad data directory or model path stops the benchmark run before anything is written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


def _run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    storage = tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "benchmarks",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        f"--benchmark-storage=file://{storage}",
        "--benchmark-autosave",
        *args,
    ]
    return subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "COMPRESS_BENCH_CACHE": str(tmp_path / "cache"),
            "COMPRESS_BENCH_OFFLINE": "1",
            **(env or {}),
        },
    )


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (
            HEADER + "1\t1\t2\tonly four\n",
            r"train.tsv:2: expected 5 tab-separated columns, found 4",
        ),
        (HEADER + "2\t1\t2\ta\tb\n", r"train.tsv:2: expected label 0 or 1, found '2'"),
        (HEADER, r"train.tsv: .*empty"),
    ],
    ids=["four-columns", "label-2", "empty-split"],
)
def test_bad_glue_dir_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, train: str, message: str
) -> None:
    mrpc = tmp_path / "glue" / "MRPC"
    mrpc.mkdir(parents=True)
    (mrpc / "train.tsv").write_text(train)
    (mrpc / "dev.tsv").write_text(HEADER + "1\t1\t2\ta\tb\n")
    done = _run(tmp_path, f"--glue-dir={tmp_path / 'glue'}")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "bad input" in done.stderr

    assert re.search(message, done.stderr), done.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


def test_model_dir_without_config_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    done = _run(tmp_path, f"--model={tmp_path / 'model'}")
    assert done.returncode == 4 and "config.json: missing" in done.stderr
    assert not (tmp_path / "results").exists()


def test_wikitext_dir_without_test_file_is_a_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "wt2"
    folder.mkdir()
    (folder / "valid.txt").write_text(" = a = \n some words \n")
    done = _run(tmp_path, env={"WIKITEXT2_DIR": str(folder)})
    assert done.returncode == 4, done.stdout + done.stderr
    assert re.search(r"bad input: .*wt2/test.txt: file not found", done.stderr), done.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COMPRESS_BENCH_KD_GRID": "huge"}, "kd_grid must be one of"),
        ({"COMPRESS_BENCH_FINE_PRUNE": "taylor,magic"}, "COMPRESS_BENCH_FINE_PRUNE must be"),
        ({"COMPRESS_BENCH_PROFILE": "fast"}, "profile must be one of"),
    ],
)
def test_bad_setting_is_a_usage_error(tmp_path: Path, env: dict, message: str) -> None:
    done = _run(tmp_path, env=env)
    assert done.returncode == 4 and "bad setting" in done.stderr and message in done.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "env", [{}, {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2"}], ids=["plain", "capped"]
)
def test_report_header_names_the_machine(tmp_path: Path, env: dict) -> None:
    done = _run(tmp_path, "--collect-only", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "compress-bench: machine" in done.stdout
    assert ("kernel ISA capped by" in done.stdout) is bool(env)
