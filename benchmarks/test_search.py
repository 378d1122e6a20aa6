"""A small accuracy-budget search on the MRPC classifier (compress.search), as one case.

The space is the full search's, narrowed to models the rest of the run trains anyway (the
fine-tuned MiniLM-L6, the 40/65% fine-pruned model, the 3-layer soft-target student) and to
the cheaper quantizers; the study lives in a temporary SQLite file. The row times the whole
search. The case records, for a 1-point F1 budget, the chosen configuration's F1 drop and
speedup on the search split (MRPC dev) and on the held-out split it never saw (MRPC test;
the second half of dev without the test file), and checks what must hold whatever is chosen:
the held-out drop is not confirmed above the budget (the choice did not overfit the search
split), the held-out speedup reaches the run's int8 floor, and the front is non-dominated.
Run serially.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compress.core.stats import Interval
from compress.search.report import SearchReport, describe, render_markdown
from compress.search.run import answer, run_search
from compress.search.space import Evaluation, SearchConfig, dominates
from compress.verdict.gates import QUALITY_TOLERANCE_PTS, SPEED_TOLERANCE
from compress.verdict.results import Metric
from fixtures.recipes.profiles import Profile
from fixtures.search.mrpc import mrpc

pytestmark = pytest.mark.timed

BUDGET_PTS = 1.0
BASES = ("fp32", "pruned-40-65", "student-3L")
QUANT = ("none", "torch-dynamic", "ort-dynamic-per-channel")  # the registry's cheaper methods
TRIALS = {"quick": 4, "full": 20}


def _metric(e: Evaluation, name: str, n: int, budget: float | None, gated: bool) -> Metric:
    """A drop ("drop") or speedup ("speedup") of ``e`` as a typed metric."""
    value, (low, high) = (e.drop_pts, e.drop_ci) if name == "drop" else (e.speedup, e.speedup_ci)
    ci = Interval(low, high, 0.95, n, "percentile")
    if name == "drop":
        return Metric(value, "pts", "lower", QUALITY_TOLERANCE_PTS, budget=budget, ci=ci)
    if not gated:
        return Metric(value, "x", "report", ci=ci)
    return Metric(value, "x", "higher", SPEED_TOLERANCE, relative=True, budget=budget, ci=ci)


def _record(case, report: SearchReport, chosen: tuple, floor: float) -> None:
    _, search, heldout = chosen
    n_search, n_heldout = report.identity["search"], report.identity["heldout"]
    rounds = report.config["rounds"]  # paired timing rounds behind each speedup's CI
    case.add("f1_drop_pts_search", _metric(search, "drop", n_search, None, True))
    # the budget of the held-out drop is the search's budget: a confirmed excess fails
    case.add("f1_drop_pts_heldout", _metric(heldout, "drop", n_heldout, BUDGET_PTS, True))
    case.add("speedup_search", _metric(search, "speedup", rounds, None, False))
    case.add("speedup", _metric(heldout, "speedup", rounds, floor, True))
    case.report("trials", report.trials, "count")
    case.report("distinct_configurations", report.distinct, "count")
    case.report("front_size", len(report.front), "count")


def test_budget_search(
    benchmark, new_case, profile: Profile, glue_dir, min_speedup: float, tmp_path: Path
) -> None:
    """Search, answer the 1-pt budget on held-out data, check the front and the answer."""
    space = mrpc(BASES, QUANT, fallback=(0, 2), glue_dir=glue_dir, profile=profile.name)
    config = SearchConfig(
        trials=TRIALS[profile.name], budgets_pts=(BUDGET_PTS,), rounds=profile.rounds(10),
        storage=f"sqlite:///{tmp_path / 'search.sqlite'}", study="benchmark",
        lock=str(tmp_path / "timing.lock"),
    )  # fmt: skip
    reports: list[SearchReport] = []
    benchmark.pedantic(
        lambda: reports.append(answer(space, config, run_search(space, config))),
        rounds=1, iterations=1,
    )  # fmt: skip
    report = reports[0]
    print("\n" + render_markdown(report))
    (chosen,) = report.answers
    assert chosen[1] is not None, f"no configuration within {BUDGET_PTS} pt (not even fp32)"
    front = [search for search, _ in report.front]
    assert all(not dominates(a, b) for a in front for b in front), "front has a dominated point"
    assert not report.failed, f"failed trials: {report.failed}"
    case = new_case(
        config={
            "search": config.to_dict(),
            "bases": BASES,
            "quant": QUANT,
            "chosen": describe(chosen[1].params),
        },
        model={"about": f"MRPC classifier {report.identity['model']} and its compressions"},
        data={
            "about": report.identity["split"],
            "split": report.identity["split"],
            "search": report.identity["search"],
            "heldout": report.identity["heldout"],
            "task": "mrpc",
        },
    )
    _record(case, report, chosen, min_speedup)
    case.finish(benchmark.extra_info)
