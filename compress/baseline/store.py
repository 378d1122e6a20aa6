"""Where baselines live, running the suite for one, and the baselines there are.

Committed baselines: ``<results>/<machine folder>/NNNN_baseline-<profile>@<kind>.json`` (the
folder is pytest-benchmark's, the number the next free one in it); local references of a kind,
never committed: ``<results>/local/<profile>@<kind>.json``.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from compress.compare.reference import LOCAL
from compress.measure.fingerprint import isa_class, kind_of
from compress.verdict.resultfile import load

NUMBERED = re.compile(r"^(\d{4})_")


class RunError(RuntimeError):
    """A run of the suite saved no result file."""


def repo_root() -> Path:
    """The checkout this package is in (the folder holding pyproject.toml), else the cwd."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def _machine_id() -> str:
    try:
        from pytest_benchmark.utils import get_machine_id
    except ImportError:  # the same name pytest-benchmark gives its storage folder
        bits = platform.architecture()[0]
        version = ".".join(platform.python_version_tuple()[:2])
        return f"{platform.system()}-{platform.python_implementation()}-{version}-{bits}"
    return get_machine_id()


def machine_folder(sources: Sequence[Path], results: Path) -> str:
    """The folder name pytest-benchmark stores this machine's runs in: that of the first source
    when it lies in a machine folder of ``results`` (or of a folder named results), else this
    machine's id (e.g. ``Linux-CPython-3.11-64bit``)."""
    for source in sources[:1]:
        folder = source.resolve().parent
        under = folder.parent == results.resolve() or folder.parent.name == "results"
        if under and folder.name != LOCAL:
            return folder.name
    return _machine_id()


def baseline_path(results: Path, machine_folder: str, profile: str, kind: str) -> Path:
    """``<results>/<machine_folder>/NNNN_baseline-<profile>@<kind>.json``, NNNN the number after
    the highest one in that folder (0001 in an empty or new one)."""
    folder = Path(results) / machine_folder
    taken = [int(m.group(1)) for p in folder.glob("*") if (m := NUMBERED.match(p.name))]
    return folder / f"{max(taken, default=0) + 1:04d}_baseline-{profile}@{kind}.json"


def run_pytest(cmd: list[str], cwd: Path) -> int:
    """Run one pytest command and return its exit status (tests replace this function)."""
    return subprocess.run(cmd, cwd=cwd, check=False).returncode


def run_suite(runs: int, profile: str, pytest_args: Sequence[str], folder: Path) -> list[Path]:
    """Run the benchmark suite ``runs`` times into ``folder``/run-i.json; raise RunError when a
    run saves no file. A run whose cases fail still counts: the picker takes those cases from
    the runs in which they passed."""
    saved = []
    for i in range(runs):
        out = Path(folder) / f"run-{i}.json"
        cmd = [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:xdist"]
        cmd += ["--profile", profile, f"--benchmark-json={out}", *pytest_args]
        print(f"run {i + 1}/{runs}: {' '.join(cmd[1:])}", flush=True)
        code = run_pytest(cmd, repo_root())
        if not out.is_file():
            raise RunError(f"run {i + 1} of {runs} saved no result file (pytest exit {code})")
        if code != 0:
            print(f"run {i + 1}: pytest exit status {code}; its failed cases go to the other runs")
        saved.append(out)
    return saved


@dataclass(frozen=True)
class Entry:
    """One baseline or local reference, as ``list`` shows it."""

    path: Path
    profile: str | None
    kind: str | None
    isa: str | None
    cpu: str | None
    datetime: str | None
    cases: int
    local: bool

    def line(self) -> str:
        """The entry in one line."""
        where = "local" if self.local else "committed"
        return (
            f"{self.path}  {where}  profile {self.profile or '?'}  kind {self.kind or '?'}  "
            f"isa {self.isa or 'unknown'}  cpu {self.cpu or '?'}  {self.datetime or '?'}  "
            f"{self.cases} cases"
        )


def entries(results: Path, profile: str | None = None) -> list[Entry]:
    """The committed baselines (``*/*_baseline-*.json``) and local references (``local/*.json``)
    under ``results``, of ``profile`` when given; InputError names an unreadable one."""
    results = Path(results)
    committed = [p for p in results.glob("*/*_baseline-*.json") if p.parent.name != LOCAL]
    found = [(p, False) for p in sorted(committed)]
    found += [(p, True) for p in sorted((results / LOCAL).glob("*.json"))]
    out = []
    for path, local in found:
        run = load(path)
        if profile is not None and run.profile != profile:
            continue
        fp = run.fingerprint
        cpu = fp.get("cpu_model")
        when = run.doc.get("datetime")
        out.append(
            Entry(
                path,
                run.profile,
                kind_of(fp),
                isa_class(fp.get("isa")),
                str(cpu) if cpu else None,
                str(when) if when else None,
                len(run.cases),
                local,
            )
        )
    return out
