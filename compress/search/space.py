"""The parts of an accuracy-budget search (compress.search): what is searched and how one
configuration is measured.

A ``Space`` declares the candidates (categorical dimensions, some only meaningful given
others), how to build one, and how to score and time it. Optuna searches it on three
objectives measured per trial: the quality drop in points against the space's reference
(paired bootstrap CI), the paired speedup over the reference on one thread (bootstrap CI) and
the serialized size. The search sees the space's "search" split only; chosen
configurations are re-measured on the "heldout" split it never saw. Paired timings take a
machine-wide file lock, so workers sharing a machine never time at the same time; quality
evaluations do not wait.
"""

from __future__ import annotations

import fcntl
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compress.core.config import config_from_dict
from compress.measure.meters import paired_speedup
from compress.verdict.gates import quality_drop_metric, speedup_metric

SPLITS = ("search", "heldout")
DIRECTIONS = ("minimize", "maximize", "minimize")  # drop (pts), speedup (x), size (bytes)
DEFAULT_LOCK = Path(tempfile.gettempdir()) / "compress-bench-timing.lock"


class SearchError(ValueError):
    """A search that cannot start or cannot continue: says what was expected."""


@dataclass(frozen=True)
class Dimension:
    """One categorical choice; ``when`` says for which earlier choices it exists."""

    name: str
    choices: tuple[Any, ...]
    when: Callable[[dict[str, Any]], bool] | None = None


@dataclass(frozen=True)
class Built:
    """A candidate ready to measure: predictions per split, a timed forward, its size."""

    predict: Callable[[str], np.ndarray]  # split -> predicted labels
    forward: Callable[[str], Callable[[], object]]  # split -> one timing batch's forward
    size_bytes: int


@dataclass(frozen=True)
class Space:
    """What to search: dimensions, the reference configuration, how to build and score."""

    identity: dict[str, Any]  # model, data and splits: a study of another identity is refused
    dimensions: tuple[Dimension, ...]
    reference: dict[str, Any]  # the configuration every drop and speedup is measured against
    build: Callable[[dict[str, Any]], Built]
    labels: Callable[[str], np.ndarray]
    score: Callable[[np.ndarray, np.ndarray], float]  # e.g. compress.core.stats.f1_binary
    score_name: str = "f1"
    seeds: tuple[dict[str, Any], ...] = ()  # configurations tried first (the hand-written rows)

    def __post_init__(self) -> None:
        if not self.dimensions:
            raise SearchError("the search space is empty: declare at least one dimension")
        empty = [d.name for d in self.dimensions if not d.choices]
        if empty:
            raise SearchError(f"dimension(s) {empty} have no choices")
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise SearchError(f"dimension names repeat: {names}")


@dataclass(frozen=True)
class SearchConfig:
    """How long to search, where the study lives, and how each trial is timed."""

    trials: int = 30  # new configurations this invocation measures into the study
    seed: int = 0  # the sampler's seed
    budgets_pts: tuple[float, ...] = (0.5, 1.0, 2.0)  # quality budgets to answer
    rounds: int = 10  # paired timing rounds per trial
    warmup: int = 2
    storage: str = "sqlite:///results/search.sqlite"
    study: str = "mrpc"
    lock: str = str(DEFAULT_LOCK)  # machine-wide timing lock

    def __post_init__(self) -> None:
        if not isinstance(self.trials, int) or self.trials < 0:
            raise SearchError(f"trials must be an int >= 0, got {self.trials!r}")
        object.__setattr__(self, "budgets_pts", tuple(self.budgets_pts))
        bad = [b for b in self.budgets_pts if not (isinstance(b, int | float) and b > 0)]
        if bad or not self.budgets_pts:
            raise SearchError(f"every quality budget must be > 0 points, got {self.budgets_pts}")
        if self.rounds < 3:
            raise SearchError(f"rounds must be >= 3 (a CI needs them), got {self.rounds}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class Evaluation:
    """One configuration measured on one split, against the reference."""

    params: dict[str, Any]
    split: str
    drop_pts: float
    drop_ci: tuple[float, float]
    score: float  # the candidate's own score (fraction)
    speedup: float
    speedup_ci: tuple[float, float]
    size_bytes: int
    size_ratio: float
    trial: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> tuple[float, float, float]:
        """The three objectives, in DIRECTIONS order."""
        return (self.drop_pts, self.speedup, float(self.size_bytes))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        data = dict(data)
        data["drop_ci"], data["speedup_ci"] = tuple(data["drop_ci"]), tuple(data["speedup_ci"])
        return cls(**data)


@contextmanager
def timing_lock(path: str | Path) -> Iterator[None]:
    """Hold the machine-wide timing lock: paired timings of two workers never overlap."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def suggest(trial: Any, dimensions: Sequence[Dimension]) -> dict[str, Any]:
    """The trial's configuration: every dimension that exists given the earlier choices."""
    params: dict[str, Any] = {}
    for dim in dimensions:
        if dim.when is None or dim.when(params):
            params[dim.name] = trial.suggest_categorical(dim.name, list(dim.choices))
    return params


def configurations(
    dimensions: Sequence[Dimension], params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every distinct configuration the dimensions allow (``when`` honoured), in order."""
    params = params or {}
    for i, dim in enumerate(dimensions):
        if dim.when is None or dim.when(params):
            rest = dimensions[i + 1 :]
            return [c for v in dim.choices for c in configurations(rest, {**params, dim.name: v})]
    return [params]


def measure(
    space: Space, params: dict[str, Any], split: str, config: SearchConfig, reference: Built
) -> Evaluation:
    """Build ``params`` and measure it on ``split`` against the (already built) reference."""
    if split not in SPLITS:
        raise SearchError(f"split must be one of {SPLITS}, got {split!r}")
    built = space.build(params)
    labels = space.labels(split)
    ours, theirs = built.predict(split), reference.predict(split)
    drop = quality_drop_metric(labels, theirs, ours, space.score, budget_pts=None)
    with timing_lock(config.lock):
        speed = paired_speedup(
            reference.forward(split), built.forward(split),
            rounds=config.rounds, warmup=config.warmup, threads=1,
        )  # fmt: skip
    speedup = speedup_metric(speed, floor=None)
    assert drop.ci is not None and speedup.ci is not None
    return Evaluation(
        params, split, drop.value, (drop.ci.low, drop.ci.high),
        float(space.score(np.asarray(labels), np.asarray(ours))),
        speedup.value, (speedup.ci.low, speedup.ci.high),
        built.size_bytes, built.size_bytes / reference.size_bytes,
    )  # fmt: skip


def dominates(a: Evaluation, b: Evaluation) -> bool:
    """``a`` is no worse than ``b`` on every objective and better on one."""
    better = (a.drop_pts <= b.drop_pts, a.speedup >= b.speedup, a.size_bytes <= b.size_bytes)
    strictly = (a.drop_pts < b.drop_pts, a.speedup > b.speedup, a.size_bytes < b.size_bytes)
    return all(better) and any(strictly)


def pareto_front(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """The non-dominated evaluations, fastest first."""
    front = [e for e in evaluations if not any(dominates(o, e) for o in evaluations)]
    return sorted(front, key=lambda e: (-e.speedup, e.drop_pts, e.size_bytes))


def choose(evaluations: Sequence[Evaluation], budget_pts: float) -> Evaluation | None:
    """The fastest evaluation whose drop is within ``budget_pts`` (smaller size breaks ties);
    None when none is."""
    if not budget_pts > 0:
        raise SearchError(f"a quality budget must be > 0 points, got {budget_pts}")
    within = [e for e in evaluations if e.drop_pts <= budget_pts]
    return min(within, key=lambda e: (-e.speedup, e.size_bytes), default=None)


def key(params: dict[str, Any]) -> str:
    """A configuration's identity in the study (order-free)."""
    return json.dumps(params, sort_keys=True, default=str)
