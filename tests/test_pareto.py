"""compress.report.pareto and .pareto_plot: points grouped per model and task, the front,
numbered labels that do not overlap."""

from __future__ import annotations

import itertools
from pathlib import Path

from compress.report.pareto import Point, Task, front, pareto_groups
from compress.report.pareto_plot import pareto_figure
from compress.verdict.resultfile import load
from tests.pages_data import TASKS, drop, runs, size, speed


def _names(points: list[Point]) -> list[str]:
    return [p.name for p in points]


def test_points_are_grouped_by_data_set_model_and_quality_figure(tmp_path: Path) -> None:
    groups = pareto_groups(load(runs(tmp_path)[0]))
    assert {t.title for t in groups} == TASKS
    mrpc = groups[Task("MRPC", "MiniLM-L6", "F1")]
    # every MRPC variant, the search (whose provenance names no model) and the distilled
    # student (its drop vs the teacher, at the int8 student's speed) included
    assert _names(mrpc) == [
        "mrpc_method: torch-dynamic",
        "mrpc_method: ort-static",
        "fine_pruned: taylor-int8",
        "budget_search",
        "kd_quality: mrpc-all int8",
    ]
    kd = mrpc[-1]
    assert kd.speedup.value == 5.3 and kd.drop.value == 2.4 and kd.size is not None
    assert groups[Task("WikiText-2", "LSTM LM", "loss")][0].drop_name == "loss_delta"


def _point(name: str, x: float, y: float) -> Point:
    return Point(name, "test_x", speed(x), drop(y), "f1_drop_pts", size(10))


def test_front_keeps_only_the_non_dominated() -> None:
    a, b, c, d = _point("a", 2, 0.5), _point("b", 3, 1), _point("c", 2, 1), _point("d", 1, 0)
    assert _names(front([a, b, c, d])) == _names([d, a, b])  # c: slower and worse than a
    assert front([a, _point("a2", 2, 0.5)]) == [a, _point("a2", 2, 0.5)]  # ties both stay


def test_labels_of_a_tight_cluster_do_not_overlap() -> None:
    points = [_point(f"p{i}", 2 + 0.01 * (i % 4), 0.02 * i) for i in range(12)]
    _, boxes = pareto_figure(Task("MRPC", "m", "F1"), points)
    assert len(boxes) == 12
    for a, b in itertools.combinations(boxes, 2):
        assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
