"""Which cases answer "what should I ship?" for one model and task, and which are on the front.

A point is a case that records a speedup (against its own uncompressed reference) and a quality
drop against that same reference, with its checkpoint size when recorded. Points are grouped
by **task** (``task_of``) so that one plot never mixes an F1 drop on MRPC with an accuracy
drop on digits:

- the data set is ``data["task"]`` when the case records one, else the first name of
  DATASETS found in its data provenance (``data["about"]``, ``"split"``, ``"input"``);
- the model is the reference the drop is measured against: ``model["about"]``, or the part
  after "teacher:" for a distilled student, matched against MODELS; a case whose provenance
  names no known model (the search's "MRPC classifier finetuned:…") joins its data set's
  only model when it has exactly one;
- the quality figure is the case's first of DROPS, and its family (F1, accuracy, ...) is part
  of the key: points whose drops are of different figures are never on one axis.

Distillation keeps quality and speed in two benchmarks (``test_kd_quality[<set>-<mix>]`` per
loss mix, ``test_kd_speed[<set>-int8]`` for the student architecture they share): each mix's
int8 student's drop vs the teacher is paired with that speed and size (``distilled_points``).
"""

from __future__ import annotations

from dataclasses import dataclass

from compress.report.tables import table_of
from compress.verdict.resultfile import ResultFile
from compress.verdict.results import CaseResult, Metric

# (substring of the data provenance, data set name), first match wins
DATASETS: tuple[tuple[str, str], ...] = (
    ("mrpc", "MRPC"),
    ("thucnews", "THUCNews"),
    ("sogou", "Sogou news"),
    ("wikitext", "WikiText-2"),
    ("load_digits", "digits"),
    ("digits", "digits"),
    ("sst2", "SST-2"),
    ("sst-2", "SST-2"),
    ("boolq", "BoolQ"),
    ("rotten", "Rotten Tomatoes"),
)
# (substring of the reference model's provenance, model name), first match wins
MODELS: tuple[tuple[str, str], ...] = (
    ("minilm", "MiniLM-L6"),
    ("bert-base", "bert-base"),
    ("bertconfig()", "bert-base"),
    ("char-level bert", "char-BERT"),
    ("lstm", "LSTM LM"),
    ("digitscnn", "digits CNN"),
    ("deepnn", "DeepNN (KD tutorial)"),
)
# quality drops a point may use (first present wins) -> the figure they are a drop of
DROPS: dict[str, str] = {
    "f1_drop_pts": "F1",
    "f1_drop_pts_heldout": "F1",
    "f1_weighted_drop_pts": "weighted F1",
    "accuracy_drop_pts": "accuracy",
    "loss_delta": "loss",
}
KD_DROP = "int8_drop_vs_teacher_pts"
KD_QUALITY, KD_SPEED = "test_kd_quality", "test_kd_speed"


@dataclass(frozen=True)
class Task:
    """One plot: a data set, the reference model, the quality figure whose drop is drawn."""

    dataset: str
    model: str
    quality: str

    @property
    def title(self) -> str:
        return f"{self.dataset} · {self.model}" if self.model else self.dataset


@dataclass(frozen=True)
class Point:
    """One case (or distilled student) on a plot."""

    label: str  # the case's parameters, e.g. "torch-dynamic"
    benchmark: str  # the benchmark function, e.g. "test_mrpc_method"
    speedup: Metric
    drop: Metric
    drop_name: str
    size: Metric | None

    @property
    def name(self) -> str:
        short = self.benchmark.removeprefix("test_")
        return short if self.label == self.benchmark else f"{short}: {self.label}"


def _text(*parts: object) -> str:
    return " ".join(str(p) for p in parts if p).lower()


def dataset_of(case: CaseResult) -> str | None:
    """The data set of the case's evaluation (see the module docstring), or None."""
    d = case.data
    text = _text(d.get("task")) or _text(d.get("about"), d.get("split"), d.get("input"))
    return next((name for key, name in DATASETS if key in text), None)


def model_of(case: CaseResult) -> str:
    """The reference model's name (MODELS), "" when its provenance names none of them."""
    about = str(case.model.get("about", ""))
    if about.startswith("teacher:"):
        about = about.removeprefix("teacher:").split("; student:", 1)[0]
    text = about.lower()
    return next((name for key, name in MODELS if key in text), "")


def _quality(case: CaseResult, drop: str) -> str:
    if drop != KD_DROP:
        return DROPS[drop]
    return "F1" if "f1_teacher" in case.metrics else "accuracy"


def _point(full: str, case: CaseResult) -> tuple[Point, str] | None:
    drop = next((k for k in DROPS if k in case.metrics), None)
    if drop is None or "speedup" not in case.metrics:
        return None
    bench, label = table_of(full)
    m = case.metrics
    return Point(label, bench, m["speedup"], m[drop], drop, m.get("size_bytes")), _quality(
        case, drop
    )


def distilled_points(result: ResultFile) -> list[tuple[str, CaseResult, Point]]:
    """(fullname, quality case, point) of each distilled student's int8 drop vs its teacher,
    at the speed and size of the int8 student (``test_kd_speed[<set>-int8]``)."""
    speed = {}
    for full, case in result.cases.items():
        bench, label = table_of(full)
        if case is not None and bench == KD_SPEED and label.endswith("-int8"):
            speed[label.removesuffix("-int8")] = case
    out = []
    for full, case in result.cases.items():
        bench, label = table_of(full)
        if case is None or bench != KD_QUALITY or KD_DROP not in case.metrics:
            continue
        fast = speed.get(label.split("-", 1)[0])
        if fast is None or "speedup" not in fast.metrics:
            continue
        m = fast.metrics
        point = Point(
            f"{label} int8",
            bench,
            m["speedup"],
            case.metrics[KD_DROP],
            KD_DROP,
            m.get("size_bytes"),
        )
        out.append((full, case, point))
    return out


def pareto_groups(result: ResultFile) -> dict[Task, list[Point]]:
    """Every point of the run, grouped by task (module docstring), in the file's order."""
    found: list[tuple[str, str, str, Point]] = []  # (dataset, model, quality, point)
    for full, case in result.cases.items():
        got = None if case is None else _point(full, case)
        if case is not None and got is not None and (ds := dataset_of(case)) is not None:
            found.append((ds, model_of(case), got[1], got[0]))
    for _, case, point in distilled_points(result):
        if (ds := dataset_of(case)) is not None:
            found.append((ds, model_of(case), _quality(case, KD_DROP), point))
    models: dict[str, set[str]] = {}
    for ds, model, _, _ in found:
        if model:
            models.setdefault(ds, set()).add(model)
    groups: dict[Task, list[Point]] = {}
    for ds, model, quality, point in found:
        if not model and len(models.get(ds, ())) == 1:
            model = next(iter(models[ds]))  # the task's only model (see the module docstring)
        groups.setdefault(Task(ds, model, quality), []).append(point)
    return groups


def front(points: list[Point]) -> list[Point]:
    """The non-dominated points: none other is at least as fast with at most the same drop
    and strictly better in one, sorted by speedup."""

    def dominates(a: Point, b: Point) -> bool:
        fa, fb, da, db = a.speedup.value, b.speedup.value, a.drop.value, b.drop.value
        return fa >= fb and da <= db and (fa > fb or da < db)

    kept = [p for p in points if not any(dominates(q, p) for q in points if q is not p)]
    return sorted(kept, key=lambda p: p.speedup.value)
