"""The median run per case, by its evidence: one baseline document out of several runs.

A single run's speedups sit anywhere in their run-to-run spread; a baseline recorded on a lucky
(or unlucky) run makes the gate fire (or sleep) on the next ordinary one. So each case takes
the run whose speedups are closest to the case's medians across the runs in which it passed,
and the machine facts (the int8 limit among them) come from the run of the median int8 limit.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from compress.core.errors import InputError
from compress.measure.fingerprint import kind_of
from compress.verdict.depends import Facet
from compress.verdict.resultfile import OUTCOMES_KEY, ResultFile


def _injected(run: ResultFile) -> object:
    settings = run.machine_info.get("settings")
    return settings.get("inject") if isinstance(settings, Mapping) else None


def check(files: Sequence[ResultFile]) -> None:
    """Raise InputError naming the first file that may not go into one baseline with the
    others: no fingerprint or profile, an injected regression, or another profile or CPU kind
    than the first file's."""
    if not files:
        raise ValueError("no runs to pick from")
    for run in files:
        if not run.fingerprint:
            raise InputError(run.path, "no machine fingerprint")
        if not kind_of(run.fingerprint):
            raise InputError(run.path, "its machine fingerprint names no CPU model or ISA flags")
        if not run.profile:
            raise InputError(run.path, "no profile recorded (machine_info.profile)")
        inject = _injected(run)
        if inject not in (None, "", [], {}):
            raise InputError(
                run.path,
                f"run with an injected regression (settings.inject = {inject!r}): "
                "an injected run must never become a baseline",
            )
    first = files[0]
    for run in files[1:]:
        if run.profile != first.profile:
            raise InputError(
                run.path, f"profile {run.profile!r}, but {first.path.name} is {first.profile!r}"
            )
        kind, want = kind_of(run.fingerprint), kind_of(first.fingerprint)
        if kind != want:
            raise InputError(run.path, f"CPU kind {kind}, but {first.path.name} is {want}")


def passed(run: ResultFile, fullname: str) -> bool:
    """Whether the case saved a row in ``run`` and its test passed (a file without outcomes
    counts every row as passed, as compress.compare does)."""
    return fullname in run.cases and run.outcomes.get(fullname, "passed").startswith("passed")


def speedups(run: ResultFile, fullname: str) -> dict[str, float]:
    """The case's speedup figures in ``run``: metric name -> value (positive ones only)."""
    case = run.cases.get(fullname)
    metrics = case.metrics if case is not None else {}
    # the figures that depend on the CPU kind (speedups): their run-to-run spread picks the run
    return {k: m.value for k, m in metrics.items()
            if Facet.KIND in (m.depends_on or ()) and m.value > 0}  # fmt: skip


def _limit(run: ResultFile) -> float | None:
    limit = run.machine_info.get("int8_limit")
    value = limit.get("speedup") if isinstance(limit, Mapping) else None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    return float(value) if ok else None


def median_limit_run(files: Sequence[ResultFile]) -> int:
    """Index of the run whose int8 limit is the median of the runs' (the nearer to it of the
    two middle ones, the first on a tie); 0 when no run recorded a limit."""
    limits = {i: v for i, v in enumerate(map(_limit, files)) if v is not None}
    if not limits:
        return 0
    middle = statistics.median(limits.values())
    return min(limits, key=lambda i: abs(limits[i] - middle))


def pick_case(files: Sequence[ResultFile], fullname: str, fallback: int = 0) -> int | None:
    """Index of the run to take ``fullname``'s row from: among the runs in which it passed, the
    one whose speedups are closest to their medians (sum of |log(value / median)|, the first on
    a tie); without speedups, ``fallback`` if it passed there, else the first that passed.
    None when it passed in no run."""
    runs = [i for i, run in enumerate(files) if passed(run, fullname)]
    if not runs:
        return None
    speeds = {i: speedups(files[i], fullname) for i in runs}
    keys = set.intersection(*(set(s) for s in speeds.values()))
    if not keys:
        return fallback if fallback in runs else runs[0]
    median = {k: statistics.median(speeds[i][k] for i in runs) for k in keys}
    return min(runs, key=lambda i: sum(abs(math.log(speeds[i][k] / median[k])) for k in keys))


def pick(files: list[ResultFile]) -> dict[str, Any]:
    """One pytest-benchmark document out of several runs of one profile and CPU kind: each
    case's row from its median run (pick_case), the machine facts, commit, datetime and
    version from the run of the median int8 limit, outcomes "passed" for the kept cases, and
    ``compress_bench.baseline``: {"runs", "picked": {fullname: run index}, "sources": [file
    names], "left_out": [cases that passed in no run]}. Raises InputError as ``check`` does."""
    check(files)
    base = median_limit_run(files)
    rows = [run.rows() for run in files]
    names = list(dict.fromkeys(name for r in rows for name in r))  # the first run's order first
    picked: dict[str, int] = {}
    left_out: list[str] = []
    for name in names:
        index = pick_case(files, name, base)
        if index is None:
            left_out.append(name)
        else:
            picked[name] = index
    doc = {k: copy.deepcopy(v) for k, v in files[base].doc.items() if k != OUTCOMES_KEY}
    doc["benchmarks"] = [copy.deepcopy(rows[i][name]) for name, i in picked.items()]
    doc[OUTCOMES_KEY] = {
        "outcomes": dict.fromkeys(picked, "passed"),
        "baseline": {
            "runs": len(files),
            "picked": picked,
            "sources": [run.path.name for run in files],
            "left_out": left_out,
        },
    }
    return doc
