"""A self-contained HTML page of one or more runs: ``python -m compress.report R.json --html P``.

Per run, in the order a reader asks: "what should I ship?" — one Pareto plot per model and
task (compress.report.pareto: quality drop with its CI against speedup with its CI, the
non-dominated front drawn and named, marker area proportional to the checkpoint, numbered
points listed under the plot); the Chinese max-length sweep as curves; then every benchmark's
table with labelled columns, its headline figures first and the rest folded
(compress.report.tables_html). With runs from several machines, a matrix of speedups by machine and
int8 ISA class comes first; what changed between two runs is the comparison page's question
(``python -m compress.compare BASE NEW --html P``, compress.compare.html). Plots use
matplotlib's non-interactive Agg backend.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from compress.measure.fingerprint import isa_class
from compress.report.compare_table import fmt
from compress.report.pareto import Point, front, pareto_groups
from compress.report.pareto_plot import drop_label, pareto_figure
from compress.report.style import img_tag, page, png_base64, pyplot
from compress.report.tables import collect_tables, machine_line
from compress.report.tables_html import human_table
from compress.verdict.resultfile import ResultFile
from compress.verdict.results import CaseResult

SWEEP_TABLE = "test_length_sweep"


def _errors(value: float, ci) -> list[float]:
    return [0.0, 0.0] if ci is None else [value - ci.low, ci.high - value]


def sweep_figure(result: ResultFile) -> str | None:
    """Base64 PNG of the max-length sweep: speedup and per-sample time against length."""
    rows = collect_tables(result).get(SWEEP_TABLE)
    if not rows:
        return None
    curves: dict[str, list[tuple[int, CaseResult]]] = {}
    for _, case in rows:
        curves.setdefault(str(case.data.get("dataset")), []).append(
            (int(case.data["max_length"]), case)
        )
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, points in curves.items():
        points.sort(key=lambda p: p[0])
        xs = [n for n, _ in points]
        speed = [c.metrics["speedup"] for _, c in points]
        yerr = list(zip(*(_errors(m.value, m.ci) for m in speed), strict=True))
        left.errorbar(xs, [m.value for m in speed], yerr=yerr, marker="o", capsize=3, label=name)
        for arm in ("fp32", "int8"):
            ms = [1e3 * c.metrics[f"{arm}_s_per_sample"].value for _, c in points]
            right.plot(xs, ms, marker="o", label=f"{name} {arm}")
    left.set(xlabel="max length (tokens)", ylabel="int8 speedup (95% CI)", title="speedup")
    right.set(xlabel="max length (tokens)", ylabel="ms per sample, batch 1", title="latency")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    return png_base64(fig)


def machine_matrix(results: Sequence[ResultFile]) -> str:
    """HTML table: each benchmark's speedup [CI] on each run's machine (ISA class in header)."""
    from tabulate import tabulate

    heads = [
        f"{r.path.name}<br>{html.escape(str(r.fingerprint.get('cpu_model', '?')))}"
        f"<br>{isa_class(r.fingerprint.get('isa')) or 'unknown ISA'}"
        for r in results
    ]
    names = [b for r in results for b, c in r.cases.items() if c and "speedup" in c.metrics]
    rows = []
    for bench in dict.fromkeys(names):
        cells = []
        for r in results:
            case = r.cases.get(bench)
            m = case.metrics.get("speedup") if case else None
            cells.append("" if m is None else fmt(m.value, m.unit, m.ci))
        rows.append([html.escape(bench.rsplit("::", 1)[-1]), *cells])
    table = tabulate(rows, ["benchmark", *heads], tablefmt="unsafehtml", disable_numparse=True)
    return f'<div class="wide">{table}</div>'


def _legend(points: Sequence[Point], best: Sequence[Point]) -> str:
    """The numbered list under a plot: what each number is, its figures, whether on the front."""
    rows = []
    for i, p in enumerate(points, start=1):
        on = p in best
        size = "" if p.size is None else fmt(p.size.value, p.size.unit)
        rows.append(
            f'<tr class="{"front" if on else ""}"><td>{i}</td><td class="text">'
            f"{html.escape(p.name)}</td><td>{html.escape(drop_label(p))}: "
            f"{html.escape(fmt(p.drop.value, p.drop.unit, p.drop.ci))}</td>"
            f"<td>{html.escape(fmt(p.speedup.value, 'x', p.speedup.ci))}</td><td>{size}</td>"
            f"<td>{'on the front' if on else ''}</td></tr>"
        )
    head = "<tr><th>#</th><th>variant</th><th>quality drop</th><th>speedup</th>"
    head += "<th>checkpoint</th><th></th></tr>"
    return f'<div class="wide"><table class="legend">{head}{"".join(rows)}</table></div>'


def pareto_section(result: ResultFile) -> list[str]:
    """ "What should I ship?": one figure per task, its front named, its points listed."""
    groups = pareto_groups(result)
    if not groups:
        return []
    parts = [
        "<h3>What should I ship? Quality against speed, one plot per model and task</h3>",
        "<p>Each point is a compressed variant: its quality drop against the uncompressed "
        "model (lower is better) and its speedup over it (higher is better), both with 95% "
        "CIs; marker area is the checkpoint size. The <b>front</b> (green, dashed) holds the "
        "variants nothing else beats on both axes: pick among them by the drop you can "
        "afford. Each speedup is against the case's own reference on its own input (the "
        "case's data record); overlapping CIs are not a difference.</p>",
    ]
    for task, points in groups.items():
        best = front(points)
        png, _ = pareto_figure(task, points)
        names = ", ".join(f"{points.index(p) + 1} {p.name}" for p in best)
        parts.append(
            f'<figure class="pareto" data-task="{html.escape(task.title)}" '
            f'data-quality="{html.escape(task.quality)}">'
            f"<h4>{html.escape(task.title)} — {html.escape(task.quality)}</h4>"
            f"{img_tag(png, f'pareto: {task.title}, {task.quality} drop vs speedup')}"
            f"<figcaption>Front: {html.escape(names)}.</figcaption>{_legend(points, best)}"
            "</figure>"
        )
    return parts


def run_section(r: ResultFile) -> list[str]:
    """One run: its machine, the Pareto plots, the sweep, every benchmark's table."""
    parts = [f"<h2>{html.escape(r.path.name)}</h2><p>{html.escape(machine_line(r))}</p>"]
    parts += pareto_section(r)
    sweep = sweep_figure(r)
    if sweep is not None:
        parts.append("<h3>Max-length sweep</h3>" + img_tag(sweep, "max-length sweep"))
    parts.append("<h3>Tables</h3>")
    for name, rows in collect_tables(r).items():
        parts.append(f'<h4 id="{html.escape(name)}">{html.escape(name)}</h4>{human_table(rows)}')
    return parts


def render_html(results: Sequence[ResultFile]) -> str:
    """The whole page for one or more runs."""
    parts = ["<h1>compress-bench</h1>"]
    if len(results) > 1:
        parts.append(
            "<h2>Speedup by machine</h2><p>Side by side only: for what changed between two "
            "runs, with verdicts, use <code>python -m compress.compare BASE NEW --html "
            "PAGE</code>.</p>" + machine_matrix(results)
        )
    for r in results:
        parts += run_section(r)
    return page("compress-bench report", parts)
