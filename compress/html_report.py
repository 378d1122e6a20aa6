"""A self-contained HTML page of one or more runs: ``python -m compress.report R.json --html P``.

The page embeds its figures (PNG, base64) and holds: a Pareto plot per run (quality drop with
its CI against speedup with its CI, marker area proportional to the compressed checkpoint, one
marker per case that records both), the Chinese max-length sweep as curves, every benchmark's
table, and, when runs from several machines are given, a matrix of speedups by machine and
int8 ISA class. Plots use matplotlib's non-interactive Agg backend.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

from compress.compare_table import fmt
from compress.fingerprint import isa_class
from compress.report import collect_tables, machine_line, render_table, table_of
from compress.resultfile import ResultFile
from compress.results import CaseResult

SWEEP_TABLE = "test_length_sweep"
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1400px}"
    "table{border-collapse:collapse;font-size:12px;margin-bottom:1.5em}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    "th{background:#eee}td:first-child{text-align:left}"
)


def png_base64(fig) -> str:
    """The figure as a base64 PNG (closed afterwards: pages draw dozens)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_points(result: ResultFile) -> list[tuple[str, CaseResult, str]]:
    """(label, case, drop metric) of every case with a speedup and a quality drop."""
    out = []
    for full, case in result.cases.items():
        if case is None or "speedup" not in case.metrics:
            continue
        drops = [k for k in case.metrics if k.endswith("_drop_pts")]
        if drops:
            out.append((table_of(full)[1], case, drops[0]))
    return out


def _errors(value: float, ci) -> list[float]:
    return [0.0, 0.0] if ci is None else [value - ci.low, ci.high - value]


def pareto_figure(result: ResultFile) -> str | None:
    """Base64 PNG of quality drop vs speedup (both with CIs), or None when no case has both."""
    points = pareto_points(result)
    if not points:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 6))
    for label, case, drop in points:
        s, d = case.metrics["speedup"], case.metrics[drop]
        size = case.metrics.get("size_bytes")
        area = 20 + (size.value / 2**20 if size else 10)
        xerr = [[e] for e in _errors(s.value, s.ci)]
        yerr = [[e] for e in _errors(d.value, d.ci)]
        ax.errorbar(s.value, d.value, xerr=xerr, yerr=yerr, fmt="none", ecolor="#999", lw=0.8)
        ax.scatter(s.value, d.value, s=area, alpha=0.6)
        ax.annotate(
            label, (s.value, d.value), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    ax.axhline(0, color="#444", lw=0.5)
    ax.set_xlabel("speedup vs fp32 (paired, 95% CI)")
    ax.set_ylabel("quality drop, points (paired bootstrap 95% CI; lower is better)")
    ax.set_title("quality vs speed; marker area ~ compressed checkpoint MiB")
    return png_base64(fig)


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
    return tabulate(rows, ["benchmark", *heads], tablefmt="unsafehtml", disable_numparse=True)


def img_tag(png: str | None, alt: str) -> str:
    """An <img> embedding ``png`` (base64), or nothing for None."""
    return "" if png is None else f'<img alt="{alt}" src="data:image/png;base64,{png}">'


def render_html(results: Sequence[ResultFile]) -> str:
    """The whole page for one or more runs."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style>"]
    parts.append("<title>compress-bench report</title></head><body><h1>compress-bench</h1>")
    if len(results) > 1:
        parts.append("<h2>Speedup by machine</h2>" + machine_matrix(results))
    for r in results:
        parts.append(f"<h2>{html.escape(r.path.name)}</h2><p>{html.escape(machine_line(r))}</p>")
        parts.append(img_tag(pareto_figure(r), "pareto: quality drop vs speedup"))
        parts.append(img_tag(sweep_figure(r), "max-length sweep"))
        for name, rows in collect_tables(r).items():
            parts.append(f"<h3>{html.escape(name)}</h3>")
            parts.append(render_table(rows, "html"))
    parts.append("</body></html>")
    return "\n".join(parts)
