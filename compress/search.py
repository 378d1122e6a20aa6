"""Accuracy-budget search: the fastest compressed model within a quality budget, and the front.

    python -m compress.search [--space fixtures.search_space:mrpc | --suite F [--model NAME]]
        [--trials 30]
        [--storage sqlite:///results/search.sqlite] [--study mrpc] [--budget 0.5 1 2]
        [--out results/search] [--report-only]

Optuna searches the space (compress.search_space) on quality drop, speedup and size, using
the "search" split only; the Pareto front and the answer for each budget are then re-measured
on the "heldout" split and reported side by side (compress.search_report). Studies are
resumable and may be shared: any database URL Optuna accepts lets several workers (processes
or machines) add trials to one study. A study remembers the model and data it was made with
and refuses another; a trial that fails is recorded as failed and the study goes on.
Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import os
import random
import socket
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compress.errors import InputError
from compress.search_report import SearchReport, write_report
from compress.search_space import (
    DIRECTIONS,
    Built,
    Evaluation,
    SearchConfig,
    SearchError,
    Space,
    choose,
    configurations,
    key,
    measure,
    pareto_front,
    suggest,
)
from compress.suite import load_suite

METRIC_NAMES = ["drop_pts", "speedup", "size_bytes"]
DECLARED_SPACE = "fixtures.declared_search:declared"  # --suite: a declared model's space
OPEN_ATTEMPTS = 3  # a storage that two workers create at once may refuse the first open
ATTEMPTS = 4  # at most this many trials per configuration asked to be measured
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # who measured a trial (shared studies)


def _plain(value: Any) -> Any:
    """``value`` as it reads back from the study's storage (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


def open_study(space: Space, config: SearchConfig) -> Any:
    """Create or resume ``config.study`` in ``config.storage``; refuse a study whose recorded
    identity (model, data, splits) differs from ``space``'s."""
    import optuna

    sampler = optuna.samplers.TPESampler(seed=config.seed)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            study = optuna.create_study(
                storage=config.storage, study_name=config.study, directions=list(DIRECTIONS),
                load_if_exists=True, sampler=sampler,
            )  # fmt: skip
            break
        except Exception as err:  # a bad URL, a missing driver, an unwritable path, ...
            # ... or two workers creating one new database at once: the loser retries
            if attempt + 1 == OPEN_ATTEMPTS:
                raise SearchError(
                    f"storage {config.storage!r} cannot be opened ({type(err).__name__}: "
                    f"{err}); expected a database URL Optuna accepts, e.g. "
                    "sqlite:///results/search.sqlite"
                ) from err
            time.sleep(0.5 * (attempt + 1))
    identity, stored = _plain(space.identity), study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
        with warnings.catch_warnings():  # "experimental since v3.2": still the way to name them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(METRIC_NAMES)
        for seed in space.seeds:
            study.enqueue_trial(seed, skip_if_exists=True)
    elif stored != identity:
        differ = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        raise SearchError(
            f"study {config.study!r} in {config.storage} was made with another model or data "
            f"(differs in {differ}: stored {[stored.get(k) for k in differ]}, now "
            f"{[identity.get(k) for k in differ]}); use another --study or --storage"
        )
    return study


def evaluations(study: Any) -> list[Evaluation]:
    """One evaluation per distinct configuration the study measured (repeats skipped)."""
    import optuna

    seen: dict[str, Evaluation] = {}
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        data = trial.user_attrs.get("evaluation")
        if data is not None and "same_as" not in trial.user_attrs:
            seen.setdefault(key(data["params"]), Evaluation.from_dict(data))
    return list(seen.values())


def _objective(
    space: Space, config: SearchConfig, reference: Built, study: Any, measured: list[int]
) -> Callable:
    everything = configurations(space.dimensions)

    def objective(trial: Any) -> tuple[float, float, float]:
        params = suggest(trial, space.dimensions)
        measured_now = {key(e.params): e for e in evaluations(study)}
        done = measured_now.get(key(_plain(params)))
        if done is not None:  # a configuration is measured once; repeats reuse its figures,
            trial.set_user_attr("same_as", done.trial)  # and the next trial measures a new one
            fresh = [c for c in everything if key(_plain(c)) not in measured_now]
            if fresh:
                pick = random.Random(config.seed + trial.number).choice(fresh)
                study.enqueue_trial(pick, skip_if_exists=True)
            return done.values
        try:
            evaluation = measure(space, params, "search", config, reference)
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            raise
        trial.set_user_attr("worker", WORKER)
        data = {**evaluation.to_dict(), "trial": trial.number}
        trial.set_user_attr("evaluation", _plain(data))
        measured.append(trial.number)
        return evaluation.values

    return objective


def _say(study: Any, trial: Any) -> None:
    """One line per finished trial, on stderr (the report goes to stdout)."""
    if trial.values is None:
        print(f"trial {trial.number} {trial.params}: {trial.state.name} "
              f"{trial.user_attrs.get('error', '')}", file=sys.stderr)  # fmt: skip
        return
    drop, speed, size = trial.values
    again = " (measured before)" if "same_as" in trial.user_attrs else ""
    print(f"trial {trial.number} {trial.params}: drop {drop:.2f} pt, {speed:.2f}x, "
          f"{size / 2**20:.1f} MiB{again}", file=sys.stderr)  # fmt: skip


def _reference(space: Space) -> Built:
    """The reference configuration, built once, with its predictions on each split computed
    once: every trial's drop is measured against the same predictions."""
    built = space.build(space.reference)
    return dataclasses.replace(built, predict=functools.cache(built.predict))


def run_search(space: Space, config: SearchConfig) -> Any:
    """Measure ``config.trials`` new configurations into the study and return it. The sampler
    may propose one already measured (recorded again at no cost); failed trials count as
    attempts. Stops early when every configuration of the space has been measured, or after
    ATTEMPTS x ``config.trials`` attempts."""
    study = open_study(space, config)
    if not config.trials:
        return study
    reference = _reference(space)
    measured: list[int] = []
    objective = _objective(space, config, reference, study, measured)
    size = len(configurations(space.dimensions))
    for _ in range(ATTEMPTS * config.trials):
        if len(measured) >= config.trials or len(evaluations(study)) >= size:
            break
        try:
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[_say])
        except ValueError as err:
            # Two workers sharing a SQLite study can both start one enqueued trial (SQLite has
            # no row lock); optuna refuses the second one's result: it is measured, go on.
            if not str(err).startswith("Cannot tell a "):
                raise
    return study


def answer(space: Space, config: SearchConfig, study: Any) -> SearchReport:
    """The front and the answer per budget, each re-measured on the held-out split."""
    import optuna

    found = evaluations(study)
    if not found:
        raise SearchError(f"study {config.study!r} has no completed trial to answer from")
    reference = _reference(space)
    heldout: dict[str, Evaluation] = {}

    def validated(evaluation: Evaluation) -> Evaluation:
        k = key(evaluation.params)
        if k not in heldout:
            heldout[k] = measure(space, evaluation.params, "heldout", config, reference)
        return heldout[k]

    front = pareto_front(found)
    answers = [(b, choose(found, b)) for b in config.budgets_pts]
    seeds = [e for e in found if key(e.params) in {key(_plain(s)) for s in space.seeds}]
    failed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    return SearchReport(
        identity=_plain(space.identity),
        config=config.to_dict(),
        score_name=space.score_name,
        front=[(e, validated(e)) for e in front],
        answers=[(b, e, validated(e) if e else None) for b, e in answers],
        seeds=[(e, validated(e)) for e in seeds],
        trials=len(study.trials),
        distinct=len(found),
        failed=[(t.number, t.user_attrs.get("error", "?")) for t in failed],
    )


def load_space(spec: str, *args: Any) -> Space:
    """``module:function`` returning a Space (default: the MRPC classifier's space), called
    with ``args``."""
    module, _, function = spec.partition(":")
    if not module or not function:
        raise SearchError(f"--space must be module:function, got {spec!r}")
    space = getattr(importlib.import_module(module), function)(*args)
    if not isinstance(space, Space):
        raise SearchError(f"{spec} returned {type(space).__name__}, expected a Space")
    return space


def _only_model(path: Path) -> str:
    """The suite's one model; with several, --model must say which."""
    models = load_suite(path, strict=False).models
    if len(models) > 1:
        names = ", ".join(m.name for m in models)
        raise SearchError(f"{path} declares several models ({names}): name one with --model")
    return models[0].name


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compress.search", description=__doc__.split("\n")[0]
    )
    p.add_argument("--space", default="fixtures.search_space:mrpc", help="module:function")
    p.add_argument("--suite", type=Path, help="a suite file (docs/suite.md): search its model")
    p.add_argument("--model", help="with --suite: the declared model (default: the only one)")
    p.add_argument("--trials", type=int, default=SearchConfig.trials, help="new configurations")
    p.add_argument("--storage", default=SearchConfig.storage, help="database URL (Optuna)")
    p.add_argument("--study", help=f"default {SearchConfig.study!r}; --suite: declared-MODEL")
    p.add_argument("--budget", type=float, nargs="+", default=list(SearchConfig.budgets_pts))
    p.add_argument("--rounds", type=int, default=SearchConfig.rounds)
    p.add_argument("--seed", type=int, default=SearchConfig.seed)
    p.add_argument("--out", type=Path, default=Path("results/search"), help="report folder")
    p.add_argument("--report-only", action="store_true", help="answer from the stored trials")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start = time.perf_counter()
    try:
        if args.suite is not None:
            args.model = args.model or _only_model(args.suite)
        study = args.study or (f"declared-{args.model}" if args.suite else SearchConfig.study)
        config = SearchConfig(
            trials=0 if args.report_only else args.trials, seed=args.seed,
            budgets_pts=tuple(args.budget), rounds=args.rounds, storage=args.storage,
            study=study,
        )  # fmt: skip
        if args.suite is not None:
            space = load_space(DECLARED_SPACE, args.suite, args.model)
        else:
            space = load_space(args.space)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is noise
        report = answer(space, config, run_search(space, config))
    except (SearchError, InputError) as err:
        print(f"compress.search: {err}", file=sys.stderr)
        return 2
    report.wall_s = time.perf_counter() - start
    for path in write_report(report, args.out):
        print(f"wrote {path}")
    print((args.out / "search.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
