"""Accuracy-budget search: the fastest compressed model within a quality budget, and the front.

Optuna searches the space (compress.search.space) on quality drop, speedup and size, using
the "search" split only; the Pareto front and the answer for each budget are then re-measured
on the "heldout" split and reported side by side (compress.search.report). Studies are
resumable and may be shared: any database URL Optuna accepts lets several workers (processes
or machines) add trials to one study. A study remembers the model and data it was made with
and refuses another; a trial that fails is recorded as failed and the study goes on.
The command line is compress.search.cli (``python -m compress.search``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import random
import sys
from collections.abc import Callable
from typing import Any

from compress.search.report import SearchReport
from compress.search.space import (
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
from compress.search.study import Claims, Worker, evaluations, open_study
from compress.search.study import plain as _plain

DECLARED_SPACE = "fixtures.search.declared:declared"  # --suite: a declared model's space
ATTEMPTS = 4  # at most this many trials per configuration asked to be measured


def _objective(
    space: Space, config: SearchConfig, reference: Built, study: Any, claims: Claims
) -> Callable:
    everything, worker = configurations(space.dimensions), Worker.here()

    def next_fresh(trial: Any, busy: set[str]) -> None:
        """Enqueue a configuration nobody has measured or claimed, for the next trial."""
        fresh = [c for c in everything if key(_plain(c)) not in busy]
        if fresh:
            pick = random.Random(config.seed + trial.number).choice(fresh)
            study.enqueue_trial(pick, skip_if_exists=True)

    def objective(trial: Any) -> tuple[float, float, float] | None:
        """The trial's figures; None: another worker started this very trial and measures it.
        Raises optuna.TrialPruned when another trial is measuring the same configuration."""
        import optuna

        trial.set_user_attr("fingerprint_id", worker.fingerprint_id)
        trial.set_user_attr("isa_class", worker.isa_class)
        params = suggest(trial, space.dimensions)
        k = key(_plain(params))
        measured_now = {key(e.params): e for e in evaluations(study)}
        done = measured_now.get(k)
        if done is not None:  # a configuration is measured once; repeats reuse its figures,
            trial.set_user_attr("same_as", done.trial)  # and the next trial measures a new one
            next_fresh(trial, set(measured_now) | claims.taken())
            return done.values
        holder = claims.take(k, trial.number, worker.name)
        if holder == trial.number:  # two SQLite workers started one enqueued trial
            return None
        if holder is not None:
            trial.set_user_attr("claimed_by", holder)
            next_fresh(trial, set(measured_now) | claims.taken())
            raise optuna.TrialPruned(f"trial {holder} is measuring it")
        try:
            evaluation = measure(space, params, "search", config, reference)
        except BaseException as err:  # Ctrl-C too: only a killed worker keeps its claim
            claims.release(k)  # it may be tried again
            trial.set_user_attr("error", f"{type(err).__name__}: {err}")
            raise
        trial.set_user_attr("worker", worker.name)
        data = {**evaluation.to_dict(), "trial": trial.number}
        trial.set_user_attr("evaluation", _plain(data))
        return evaluation.values

    return objective


def _say(trial: Any) -> None:
    """One line per finished trial, on stderr (the report goes to stdout)."""
    if trial.values is None:
        why = trial.user_attrs.get("error", "")
        if "claimed_by" in trial.user_attrs:
            why = f"trial {trial.user_attrs['claimed_by']} is measuring it"
        print(f"trial {trial.number} {trial.params}: {trial.state.name} {why}",
              file=sys.stderr)  # fmt: skip
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


def _trial(study: Any, objective: Callable) -> bool:
    """Ask for one trial, measure it and tell the study; True when this worker measured it."""
    import optuna

    trial, state, values = study.ask(), None, None
    try:
        values = objective(trial)
        if values is None:
            return False
    except optuna.TrialPruned:
        state = optuna.trial.TrialState.PRUNED
    except Exception:  # recorded as failed, with its error; the study goes on
        state = optuna.trial.TrialState.FAIL
    except KeyboardInterrupt:  # recorded as failed, not left running; the worker stops
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    try:
        _say(study.tell(trial, values, state=state))
    except ValueError as err:
        # Two workers sharing a SQLite study can both start one enqueued trial (SQLite has
        # no row lock); optuna refuses the second one's result: it is measured, go on.
        if not str(err).startswith("Cannot tell a "):
            raise
    return values is not None and "same_as" not in trial.user_attrs


def run_search(space: Space, config: SearchConfig) -> Any:
    """Measure ``config.trials`` new configurations into the study and return it. The sampler
    may propose one already measured (recorded again at no cost) or one another worker is
    measuring (recorded as pruned); failed trials count as attempts. Stops early when every
    configuration of the space has been measured or claimed, or after ATTEMPTS x
    ``config.trials`` attempts."""
    study = open_study(space, config)
    if not config.trials:
        return study
    claims = Claims(config.storage, config.study)
    objective = _objective(space, config, _reference(space), study, claims)
    size, measured = len(configurations(space.dimensions)), 0
    for _ in range(ATTEMPTS * config.trials):
        busy = {key(e.params) for e in evaluations(study)} | claims.taken()
        if measured >= config.trials or len(busy) >= size:
            break
        measured += _trial(study, objective)
    claims.engine.dispose()
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
        identity=study.user_attrs.get("identity", _plain(space.identity)),
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
