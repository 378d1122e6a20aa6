"""Accuracy-budget search: the fastest compressed model within a quality budget, and the front.

    python -m compress.search [--space fixtures.search.mrpc:mrpc | --suite F [--model NAME]]
        [--trials 30]
        [--storage sqlite:///results/search.sqlite] [--study mrpc] [--budget 0.5 1 2]
        [--out results/search] [--report-only]

The search itself is in run.py. Exit status: 0 done, 2 bad input (nothing written).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from compress.core.errors import InputError
from compress.methods.suite import load_suite
from compress.search.report import write_report
from compress.search.run import DECLARED_SPACE, answer, load_space, run_search
from compress.search.space import SearchConfig, SearchError


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
    p.add_argument("--space", default="fixtures.search.mrpc:mrpc", help="module:function")
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
