"""The search's answer as files: a Markdown table, a JSON record and a plot of the front.

Every row states its figures on both splits: the search split (what the search saw) and the
held-out split (what it never saw), each with its 95% CI. The files are written together at
the end of a search; nothing is written when it fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compress.search.space import Evaluation

Pair = tuple[Evaluation, Evaluation]  # (search split, held-out split) of one configuration


@dataclass
class SearchReport:
    """What the search found, and how each answer held on data it never saw."""

    identity: dict[str, Any]
    config: dict[str, Any]
    score_name: str
    front: list[Pair]
    answers: list[tuple[float, Evaluation | None, Evaluation | None]]  # budget, search, held-out
    seeds: list[Pair]  # the hand-written configurations, for comparison
    trials: int
    distinct: int
    failed: list[tuple[int, str]] = field(default_factory=list)
    wall_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        pair = lambda p: [p[0].to_dict(), p[1].to_dict()]  # noqa: E731
        opt = lambda e: e.to_dict() if e else None  # noqa: E731
        return {
            "identity": self.identity, "config": self.config, "score_name": self.score_name,
            "front": [pair(p) for p in self.front], "seeds": [pair(p) for p in self.seeds],
            "answers": [[b, opt(s), opt(h)] for b, s, h in self.answers],
            "trials": self.trials, "distinct": self.distinct,
            "failed": [list(f) for f in self.failed], "wall_s": self.wall_s,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchReport:
        pair = lambda p: (Evaluation.from_dict(p[0]), Evaluation.from_dict(p[1]))  # noqa: E731
        opt = lambda e: Evaluation.from_dict(e) if e else None  # noqa: E731
        return cls(
            data["identity"], data["config"], data["score_name"],
            [pair(p) for p in data["front"]],
            [(b, opt(s), opt(h)) for b, s, h in data["answers"]],
            [pair(p) for p in data["seeds"]], data["trials"], data["distinct"],
            [tuple(f) for f in data["failed"]], data["wall_s"],
        )  # fmt: skip


def describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _ci(value: float, ci: tuple[float, float], fmt: str) -> str:
    return f"{value:{fmt}} [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _row(search: Evaluation, heldout: Evaluation | None, score: str) -> list[str]:
    cells = [
        describe(search.params),
        _ci(search.drop_pts, search.drop_ci, ".2f"),
        _ci(search.speedup, search.speedup_ci, ".2f"),
    ]
    if heldout is not None:
        cells += [
            _ci(heldout.drop_pts, heldout.drop_ci, ".2f"),
            f"{heldout.score:.4f}",
            _ci(heldout.speedup, heldout.speedup_ci, ".2f"),
        ]
    else:
        cells += ["-", "-", "-"]
    return [*cells, f"{search.size_bytes / 2**20:.1f} MiB ({search.size_ratio:.2f})"]


def _table(rows: list[list[str]], score: str) -> list[str]:
    head = [
        "configuration", f"{score} drop, search (pts)", "speedup, search",
        f"{score} drop, held-out (pts)", f"{score}, held-out", "speedup, held-out", "size",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def render_markdown(report: SearchReport) -> str:
    """The answer per budget, the Pareto front and the hand-written rows, as Markdown."""
    s = report.score_name
    out = [
        "# Accuracy-budget search",
        "",
        f"Model and data: {json.dumps(report.identity, sort_keys=True)}",
        f"{report.trials} trials, {report.distinct} distinct configurations measured, "
        f"{len(report.failed)} failed"
        + (f"; {report.wall_s / 60:.1f} min" if report.wall_s else "")
        + ". Drops are against the reference, paired bootstrap 95% CI; speedups are paired "
        "on one thread, bootstrap 95% CI. The search saw the search split only.",
        "",
        "## Answers",
        "",
    ]
    for budget, search, heldout in report.answers:
        if search is None:
            out.append(f"- within {budget:g} pt: no configuration found")
            continue
        held = heldout.drop_pts if heldout else float("nan")
        verdict = "holds" if held <= budget else "does NOT hold"
        out.append(
            f"- within {budget:g} pt: **{describe(search.params)}**, {search.speedup:.2f}x, "
            f"drop {search.drop_pts:.2f} pt on the search split; on held-out {held:.2f} pt "
            f"({verdict} within the budget)"
        )
    out += ["", "## Pareto front (search split), with held-out figures", ""]
    out += _table([_row(a, b, s) for a, b in report.front], s)
    out += ["", "## Hand-written configurations (tried first)", ""]
    out += _table([_row(a, b, s) for a, b in report.seeds], s)
    if report.failed:
        out += ["", "## Failed trials", ""]
        out += [f"- trial {n}: {err}" for n, err in report.failed]
    return "\n".join(out) + "\n"


def plot(report: SearchReport, path: Path) -> Path | None:
    """Drop vs speedup of the front on both splits; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, marker, label in ((0, "o", "search split"), (1, "x", "held-out split")):
        points = [p[index] for p in report.front]
        ax.errorbar(
            [e.speedup for e in points], [e.drop_pts for e in points],
            yerr=[[e.drop_pts - e.drop_ci[0] for e in points],
                  [e.drop_ci[1] - e.drop_pts for e in points]],
            fmt=marker, capsize=3, label=label, alpha=0.8,
        )  # fmt: skip
    for budget, _, _ in report.answers:
        ax.axhline(budget, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("speedup over the reference (1 thread)")
    ax.set_ylabel(f"{report.score_name} drop (pts)")
    ax.set_title("Pareto front: quality drop vs speedup")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: SearchReport, out: Path) -> list[Path]:
    """search.md, search.json and search.png (when matplotlib is installed) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "search.md", out / "search.json"
    md.write_text(render_markdown(report))
    js.write_text(json.dumps(report.to_dict(), indent=1, default=str))
    png = plot(report, out / "search.png")
    return [md, js] + ([png] if png else [])
