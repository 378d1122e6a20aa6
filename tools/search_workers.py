"""Throughput of search workers sharing one study: trials per hour, and repeats.

    python -m tools.search_workers --storage postgresql://user:pw@host/db --workers 2 --trials 10
        [--separate-locks] [--build-s 1.0]

Starts ``--workers`` processes of ``python -m compress.search`` on ``fake``, a 64-configuration
space whose candidates take ``--build-s`` seconds to build and score (sleeping: a stand-in for
a real candidate's training, export and evaluation, off the timing lock) and are timed on
sleeps, then reads the study back: configurations measured, how many were measured more than
once, trials recorded as repeats or as claimed by another worker, and measured trials per hour
from the first trial's start to the last one's end. ``--separate-locks`` gives each worker its
own timing lock, as workers on different machines have.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from compress.core.stats import f1_binary
from compress.search.space import Built, Dimension, Space

ROOT = Path(__file__).resolve().parents[1]
STEP_S = 0.01  # the reference's timed call; a candidate's is STEP_S / its speedup
LABELS = np.arange(400) % 2


def _build(params: dict[str, Any]) -> Built:
    time.sleep(float(os.environ.get("FAKE_BUILD_S", "1.0")))
    speed = 1 + 0.2 * params["a"] + 0.05 * params["b"]
    flips = params["a"] + 2 * params["b"]

    def predict(split: str) -> np.ndarray:
        out = LABELS.copy()
        out[:flips] = 1 - out[:flips]
        return out

    return Built(predict, lambda split: lambda: time.sleep(STEP_S / speed), 1000 - 50 * flips)


def fake() -> Space:
    """8 x 8 configurations; the reference is a = b = 0."""
    return Space(
        identity={"model": "fake", "data": "labels 0101..., 400"},
        dimensions=(Dimension("a", tuple(range(8))), Dimension("b", tuple(range(8)))),
        reference={"a": 0, "b": 0},
        build=_build,
        labels=lambda split: LABELS,
        score=f1_binary,
    )


def _run(args: argparse.Namespace, study: str, scratch: Path) -> float:
    cmd = [sys.executable, "-m", "compress.search", "--space", "tools.search_workers:fake",
           "--storage", args.storage, "--study", study, "--trials", str(args.trials),
           "--rounds", "5"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FAKE_BUILD_S": str(args.build_s)}
    procs = []
    start = time.perf_counter()
    for i in range(args.workers):
        tmp = scratch / (f"w{i}" if args.separate_locks else "shared")
        tmp.mkdir(exist_ok=True)
        procs.append(subprocess.Popen([*cmd, "--out", str(scratch / f"out{i}")],
                                      env={**env, "TMPDIR": str(tmp)}, cwd=scratch,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True))  # fmt: skip
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a worker failed:\n{err}")
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--storage", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--trials", type=int, default=10, help="new configurations per worker")
    p.add_argument("--build-s", type=float, default=1.0)
    p.add_argument("--separate-locks", action="store_true")
    p.add_argument("--study", default=f"throughput-{os.getpid()}")
    args = p.parse_args()
    import optuna

    with tempfile.TemporaryDirectory() as scratch:
        wall = _run(args, args.study, Path(scratch))
    study = optuna.load_study(study_name=args.study, storage=args.storage)
    measured = [t for t in study.trials if "evaluation" in t.user_attrs]
    times = Counter(tuple(sorted(t.params.items())) for t in measured)
    span = max(t.datetime_complete for t in measured) - min(t.datetime_start for t in measured)
    states = Counter(t.state.name for t in study.trials)
    repeats = sum("same_as" in t.user_attrs for t in study.trials)
    print(f"{args.workers} worker(s), {'separate' if args.separate_locks else 'one'} timing "
          f"lock(s): {len(measured)} measured, {len(times)} distinct, "
          f"{sum(n - 1 for n in times.values())} measured twice; {len(study.trials)} trials "
          f"({dict(states)}, {repeats} repeats); {3600 * len(measured) / span.total_seconds():.0f}"
          f" measured trials/hour over {span.total_seconds():.1f} s of trials, "
          f"{wall:.1f} s wall")  # fmt: skip


if __name__ == "__main__":
    main()
