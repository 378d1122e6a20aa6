"""A search's study (compress.search): who may add trials to it, and who measures what.

A study is shared by workers (processes, or machines through a database server such as
PostgreSQL). Its identity is the space's model, data and splits **and the ISA class** of the
machine that made it (compress.measure.fingerprint.isa_class): a speedup measured on an AVX2 CPU is
not comparable with one measured with an int8 dot product, so a worker of another class is
refused rather than mixed in (one study per class: ``--study mrpc-avx2``). A study made
before the class was recorded adopts the class of the first worker that opens it.

Every trial records its worker's fingerprint id and ISA class. A configuration is measured
once: the worker that measures it first takes a claim, a row keyed by (study, configuration)
in the study's own database; a worker whose insert fails on that key measures something else.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from compress.core.dburl import database_url, describe, where
from compress.measure.fingerprint import isa_class, machine_fingerprint
from compress.search.space import DIRECTIONS, Evaluation, SearchConfig, SearchError, Space, key

METRIC_NAMES = ["drop_pts", "speedup", "size_bytes"]
OPEN_ATTEMPTS = 3  # a storage that two workers create at once may refuse the first open

claims_table = sa.Table(
    "compress_search_claims",
    sa.MetaData(),
    sa.Column("study", sa.String(255), primary_key=True),
    sa.Column("config_sha256", sa.String(64), primary_key=True),  # MySQL cannot index TEXT
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("trial", sa.Integer),
    sa.Column("worker", sa.Text),
)


@dataclass(frozen=True)
class Worker:
    """Who measures: a name (host:pid), the machine's fingerprint id and its ISA class."""

    name: str
    fingerprint_id: str
    isa_class: str

    @staticmethod
    @functools.cache
    def here() -> Worker:
        """This process on this machine (ISA caps such as FBGEMM_ENABLE_INSTRUCTIONS apply)."""
        fp = machine_fingerprint()
        name = f"{socket.gethostname()}:{os.getpid()}"
        return Worker(name, str(fp["id"]), isa_class(fp.get("isa")) or "unknown")


def plain(value: Any) -> Any:
    """``value`` as it reads back from the study's storage (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


def _create(config: SearchConfig) -> Any:
    import optuna

    sampler = optuna.samplers.TPESampler(seed=config.seed)
    url = database_url(config.storage)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            return optuna.create_study(
                storage=url, study_name=config.study, directions=list(DIRECTIONS),
                load_if_exists=True, sampler=sampler,
            )  # fmt: skip
        except Exception as err:  # a bad URL, a missing driver, an unreachable host, ...
            # ... or two workers creating one new database at once: the loser retries
            bad_url = isinstance(err, (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError))
            unreachable = any(words in str(err) for words in ("connect", "unable to open"))
            if bad_url or unreachable or attempt + 1 == OPEN_ATTEMPTS:  # else: retry
                hint = "" if isinstance(err, sa.exc.DBAPIError) else (
                    " (expected a database URL, e.g. sqlite:///results/search.sqlite or "
                    "postgresql://user:password@host/db)"
                )  # fmt: skip
                raise SearchError(f"storage: {describe(url, err)}{hint}") from err
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _refuse(config: SearchConfig, stored: dict, identity: dict) -> SearchError:
    place = f"study {config.study!r} in {where(database_url(config.storage))}"
    differ = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
    if differ == ["isa_class"]:
        return SearchError(
            f"{place} was made on ISA class {stored['isa_class']}; this worker's is "
            f"{identity['isa_class']}: speedups are not compared across ISA classes, so a "
            f"class keeps its own study (e.g. --study {config.study}-{identity['isa_class']})"
        )
    return SearchError(
        f"{place} was made with another model or data (differs in {differ}: stored "
        f"{[stored.get(k) for k in differ]}, now {[identity.get(k) for k in differ]}); "
        "use another --study or --storage"
    )


def open_study(space: Space, config: SearchConfig, worker: Worker | None = None) -> Any:
    """Create or resume ``config.study`` in ``config.storage``; refuse a study whose recorded
    identity (model, data, splits, ISA class) differs from ``space``'s on ``worker``."""
    import optuna

    worker = worker or Worker.here()
    study = _create(config)
    identity = {**plain(space.identity), "isa_class": worker.isa_class}
    stored = study.user_attrs.get("identity")
    legacy = stored is not None and "isa_class" not in stored  # made before classes counted
    if legacy and {**stored, "isa_class": worker.isa_class} == identity:
        print(f"search: study {config.study!r} recorded no ISA class: it is now "
              f"{worker.isa_class}'s", file=sys.stderr)  # fmt: skip
        study.set_user_attr("identity", identity)
        stored = identity
    if stored is None:
        study.set_user_attr("identity", identity)
        with warnings.catch_warnings():  # "experimental since v3.2": still the way to name them
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(METRIC_NAMES)
        for seed in space.seeds:
            study.enqueue_trial(seed, skip_if_exists=True)
    elif stored != identity:
        raise _refuse(config, stored, identity)
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


class Claims:
    """Which configurations of a study a worker has taken to measure (see the docstring)."""

    def __init__(self, storage: str, study: str) -> None:
        self.engine = sa.create_engine(database_url(storage))
        self.study = study
        for attempt in range(OPEN_ATTEMPTS):
            try:
                claims_table.create(self.engine, checkfirst=True)
                break
            except sa.exc.DBAPIError:  # two workers creating the table at once: one loses
                if attempt + 1 == OPEN_ATTEMPTS:
                    raise
                time.sleep(0.2 * (attempt + 1))

    @staticmethod
    def _sha(config_key: str) -> str:
        return hashlib.sha256(config_key.encode()).hexdigest()

    def take(self, config_key: str, trial: int, worker: str) -> int | None:
        """Claim a configuration for ``trial``: None when claimed now, else the trial that
        holds it (-1 if it was given back meanwhile). The key decides, not a read first."""
        row = {"study": self.study, "config_sha256": self._sha(config_key),
               "config": config_key, "trial": trial, "worker": worker}  # fmt: skip
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(claims_table), [row])
        except sa.exc.IntegrityError:
            c = claims_table.c
            query = sa.select(c.trial).where(
                c.study == self.study, c.config_sha256 == row["config_sha256"]
            )
            with self.engine.connect() as conn:
                holder = conn.scalar(query)
            return -1 if holder is None else int(holder)
        return None

    def release(self, config_key: str) -> None:
        """Give a claim back (its measurement failed: another trial may try again)."""
        c = claims_table.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(claims_table).where(
                    c.study == self.study, c.config_sha256 == self._sha(config_key)
                )
            )

    def taken(self) -> set[str]:
        """The configuration keys claimed in this study."""
        query = sa.select(claims_table.c.config).where(claims_table.c.study == self.study)
        with self.engine.connect() as conn:
            return set(conn.scalars(query))
