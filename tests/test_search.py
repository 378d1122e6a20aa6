"""The accuracy-budget search: selection rules, bad input, failed trials, shared studies."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

from compress.search.cli import main
from compress.search.report import SearchReport, render_markdown
from compress.search.run import answer, open_study, run_search
from compress.search.sensitivity import rank_linear_layers
from compress.search.space import (
    Built,
    Dimension,
    Evaluation,
    SearchConfig,
    SearchError,
    choose,
    configurations,
    dominates,
    key,
    pareto_front,
)
from compress.search.study import Worker, plain
from fixtures.search.tiny import tiny

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, **kw: object) -> SearchConfig:
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    base = {"trials": 4, "rounds": 3, "warmup": 1, "storage": url, "lock": str(tmp_path / "lock")}
    return SearchConfig(**{**base, **kw})  # type: ignore[arg-type]


def _ev(drop: float, speed: float, size: int, name: str = "x") -> Evaluation:
    return Evaluation({"c": name}, "search", drop, (drop - 1, drop + 1), 0.8, speed,
                      (speed - 0.1, speed + 0.1), size, size / 100)  # fmt: skip


def test_front_keeps_only_non_dominated_fastest_first() -> None:
    a, b, c, d = (
        _ev(0.0, 1.0, 100, "a"),
        _ev(0.5, 2.0, 50, "b"),
        _ev(2.0, 3.0, 40, "c"),
        _ev(1.0, 1.5, 60, "d"),
    )
    assert dominates(b, d) and not dominates(d, b) and not dominates(a, a)
    assert [e.params["c"] for e in pareto_front([a, b, c, d])] == ["c", "b", "a"]


@pytest.mark.parametrize(("budget", "expected"), [(0.4, "a"), (0.5, "b"), (1.9, "b"), (2.0, "c")])
def test_choose_is_the_fastest_within_the_budget(budget: float, expected: str) -> None:
    evals = [_ev(0.0, 1.0, 100, "a"), _ev(0.5, 2.0, 50, "b"), _ev(2.0, 3.0, 40, "c")]
    assert choose(evals, budget).params["c"] == expected  # type: ignore[union-attr]
    assert choose([_ev(3.0, 2.0, 1)], 1.0) is None


@pytest.mark.parametrize("budget", [0, -1.0])
def test_budget_must_be_positive(budget: float, tmp_path: Path) -> None:
    with pytest.raises(SearchError, match="must be > 0 points"):
        SearchConfig(budgets_pts=(1.0, budget))
    with pytest.raises(SearchError, match="must be > 0 points"):
        choose([_ev(0, 1, 1)], budget)
    out = tmp_path / "out"
    argv = ["--space", "fixtures.search.tiny:tiny", "--budget", str(budget), "--out", str(out)]
    assert main(argv) == 2 and not out.exists()


@pytest.mark.parametrize(
    ("dimensions", "message"),
    [
        ((), "the search space is empty"),
        ((Dimension("q", ()),), r"\['q'\] have no choices"),
        ((Dimension("q", (1,)), Dimension("q", (2,))), "repeat"),
    ],
)
def test_empty_or_malformed_space_is_refused(dimensions: tuple, message: str) -> None:
    with pytest.raises(SearchError, match=message):
        replace(tiny(), dimensions=dimensions)


@pytest.mark.parametrize("url", ["sqlite:////no/such/folder/s.sqlite", "nosuchdb://x/y"])
def test_storage_that_cannot_be_opened_is_named(url: str, tmp_path: Path) -> None:
    with pytest.raises(SearchError, match=r"storage: cannot open the database"):
        open_study(tiny(), _config(tmp_path, storage=url))
    out = tmp_path / "out"
    argv = ["--space", "fixtures.search.tiny:tiny", "--storage", url, "--out", str(out)]
    assert main(argv) == 2 and not out.exists()


def test_study_of_other_model_or_data_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, trials=0)
    open_study(tiny(), config)
    other = replace(tiny(), identity={**tiny().identity, "data": "synthetic seed 1"})
    with pytest.raises(SearchError, match=r"another model or data \(differs in \['data'\]"):
        open_study(other, config)
    open_study(tiny(), config)  # the same identity resumes


def test_failed_trial_is_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    seeds = ({"quant": "broken", "fallback": 0}, {"quant": "dynamic", "fallback": 1})
    space = replace(tiny(quant=("none", "dynamic", "broken")), seeds=seeds)
    study = run_search(space, _config(tmp_path, trials=4))
    states = [t.state for t in study.trials]
    assert states[0] == optuna.trial.TrialState.FAIL
    assert "cannot be built" in study.trials[0].user_attrs["error"]
    assert states[1] == optuna.trial.TrialState.COMPLETE
    assert len([t for t in study.trials if "evaluation" in t.user_attrs]) == 4
    report = answer(space, _config(tmp_path, trials=0), study)
    assert report.failed and report.failed[0][0] == 0
    assert "cannot be built" in render_markdown(report)


def test_answers_are_remeasured_on_the_heldout_split(tmp_path: Path) -> None:
    config = _config(tmp_path, trials=6)
    study = run_search(tiny(), config)
    report = answer(tiny(), config, study)
    assert report.distinct == 6 <= len(study.trials)
    for budget, search, heldout in report.answers:
        assert search is not None and search.drop_pts <= budget
        assert heldout is not None and heldout.split == "heldout"
        assert heldout.params == search.params
    assert all(s.split == "search" and h.split == "heldout" for s, h in report.front)
    again = SearchReport.from_dict(report.to_dict())
    assert render_markdown(again) == render_markdown(report)


def test_the_reference_predicts_each_split_once(tmp_path: Path) -> None:
    space, calls = tiny(), []

    def build(params: dict) -> Built:
        built = space.build(params)
        if params != space.reference:
            return built

        def predict(split: str):
            calls.append(split)
            return built.predict(split)

        return replace(built, predict=predict)

    counted = replace(space, build=build)
    config = _config(tmp_path, trials=4)
    report = answer(counted, config, run_search(counted, config))
    assert report.distinct >= 4 and len(report.front) >= 1
    assert sorted(calls) == ["heldout", "search"]  # once per split, not once per trial


def test_each_configuration_is_measured_once_and_the_space_can_run_out(tmp_path: Path) -> None:
    space = replace(tiny(quant=("none", "dynamic")), seeds=())
    everything = {key(plain(c)) for c in configurations(space.dimensions)}
    assert len(everything) == 4  # none; dynamic, 0, 1 or 2 layers fp32
    config = _config(tmp_path, trials=10)  # asks for more than exist
    study = run_search(space, config)
    measured = {t.number: t for t in study.trials if "evaluation" in t.user_attrs}
    assert len(measured) == 4
    assert {key(t.user_attrs["evaluation"]["params"]) for t in measured.values()} == everything
    assert "evaluation" in study.trials[-1].user_attrs  # it stopped once the last was measured
    for t in study.trials:
        if "same_as" in t.user_attrs:  # a repeat: the original's figures, not re-timed
            assert "evaluation" not in t.user_attrs
            assert t.values == measured[t.user_attrs["same_as"]].values
    again = run_search(space, config)  # resumed on a space already measured: nothing to do
    assert len(again.trials) == len(study.trials)


@pytest.mark.parametrize(("message", "survives"), [("Cannot tell a COMPLETE trial.", True),
                                                  ("something else", False)])  # fmt: skip
def test_a_trial_another_worker_told_is_not_fatal(
    message: str, survives: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, raised = optuna.Study.tell, []

    def tell(self, *args, **kwargs):  # the race: the other worker told this trial first
        if not raised:
            raised.append(message)
            real(self, *args, **kwargs)
            raise ValueError(message)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "tell", tell)
    if survives:
        study = run_search(tiny(), _config(tmp_path, trials=2))
        assert raised and len([t for t in study.trials if "evaluation" in t.user_attrs]) == 2
    else:
        with pytest.raises(ValueError, match=message):
            run_search(tiny(), _config(tmp_path, trials=2))


def test_a_worker_of_another_isa_class_is_refused_and_trials_say_whose(tmp_path: Path) -> None:
    config = _config(tmp_path, trials=2)
    study = run_search(tiny(), config)
    here = Worker.here()
    assert study.user_attrs["identity"]["isa_class"] == here.isa_class
    assert {(t.user_attrs["isa_class"], t.user_attrs["fingerprint_id"]) for t in study.trials} == {
        (here.isa_class, here.fingerprint_id)
    }
    other = "avx2" if here.isa_class != "avx2" else "avx512-vnni"
    with pytest.raises(SearchError, match=f"this worker's is {other}: speedups are not compared"):
        open_study(tiny(), config, Worker("elsewhere:1", "fp", other))
    argv = ["--space", "fixtures.search.tiny:tiny", "--storage", config.storage, "--out",
            str(tmp_path / "out"), "--report-only"]  # fmt: skip
    assert main(argv) == 0  # this worker's class: it answers


def test_a_study_made_before_isa_classes_adopts_the_first_workers(tmp_path: Path, capsys) -> None:
    config = _config(tmp_path, trials=0)
    legacy = optuna.create_study(storage=config.storage, study_name=config.study,
                                 directions=["minimize", "maximize", "minimize"])  # fmt: skip
    legacy.set_user_attr("identity", tiny().identity)
    study = open_study(tiny(), config, Worker("a:1", "fp", "avx2"))
    assert study.user_attrs["identity"] == {**tiny().identity, "isa_class": "avx2"}
    assert "recorded no ISA class: it is now avx2's" in capsys.readouterr().err
    with pytest.raises(SearchError, match="made on ISA class avx2"):
        open_study(tiny(), config, Worker("b:1", "fp", "avx512-vnni"))


def test_two_workers_share_one_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path), "FAKE_BUILD_S": "0"}
    # the throughput tool's space: it builds in no time, so the workers race for configurations
    argv = [sys.executable, "-m", "compress.search", "--space", "tools.search_workers:fake",
            "--storage", url, "--trials", "3", "--rounds", "3"]  # fmt: skip
    workers = [
        subprocess.Popen(
            [*argv, "--out", str(tmp_path / f"w{i}")],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    study = optuna.load_study(study_name="mrpc", storage=url)
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert all(t.state in done for t in study.trials)  # pruned: the other one was measuring it
    measured = [t for t in study.trials if "worker" in t.user_attrs]
    by_worker = Counter(t.user_attrs["worker"] for t in measured)
    assert sorted(by_worker.values()) == [3, 3], by_worker  # each measured its own three
    assert len({key(t.params) for t in measured}) == 6  # and never the other's


def test_the_layer_that_int8_hurts_most_ranks_first() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 4))  # fmt: skip
    with torch.no_grad():  # one huge weight: per-tensor int8 rounds the rest of "2" to 0;
        model[2].weight[0, 0] = 500.0  # its unit is never active (ReLU), so the next layer's
        model[2].bias[0] = -1e5  # inputs stay small and only "2" itself is hurt
    batches = [{"input": torch.randn(64, 16)}]

    class Wrap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, input: torch.Tensor) -> torch.Tensor:
            return self.net(input)

    ranking = rank_linear_layers(Wrap(), batches)
    assert ranking[0][0] == "net.2" and ranking[0][1] > 10 * ranking[-1][1]
    assert sorted(n for n, _ in ranking) == ["net.0", "net.2", "net.4"]
    head = model[4]  # one output (a regression head): no distribution, ranked by MSE
    model[4] = nn.Linear(32, 1)
    ranking = rank_linear_layers(Wrap(), batches)
    assert ranking[0][0] == "net.2" and ranking[-1][1] > 0
    model[4] = head
