"""The history report as a self-contained HTML page: each series over time, change points marked.

Drawn: every series with a change point, and every series of the metrics in ``plot_metrics``
(speedups by default). A regression's change point is red, another change grey; each segment's
mean is drawn across it.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence

from compress.history import Change, Series, render
from compress.html_report import STYLE, img_tag, png_base64, pyplot


def series_figure(s: Series, found: Sequence[Change]) -> str:
    """Base64 PNG of one series with its change points and segment means."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.4))
    values = [p.value for p in s.points]
    ax.plot(range(len(values)), values, marker="o", ms=3, lw=1, color="#1f77b4")
    cuts = sorted(c.index for c in found)
    bounds = [0, *cuts, len(values)]
    for start, end in itertools.pairwise(bounds):
        mean = sum(values[start:end]) / (end - start)
        ax.hlines(mean, start, end - 1, colors="#555", linestyles="dashed", lw=1)
    for c in found:
        ax.axvline(c.index - 0.5, color="#d62728" if c.regression else "#999", lw=1.5)
    step = max(1, len(values) // 8)
    ticks = list(range(0, len(values), step))
    ax.set_xticks(ticks, [(s.points[i].datetime or "")[:10] for i in ticks], fontsize=7)
    ax.set_ylabel(f"{s.metric} ({s.unit})", fontsize=8)
    ax.set_title(f"{s.benchmark.rsplit('::', 1)[-1]} — {s.isa_class}, {s.profile}", fontsize=9)
    return png_base64(fig)


def history_html(
    all_series: Iterable[Series],
    found: Sequence[Change],
    plot_metrics: Sequence[str] = ("speedup",),
) -> str:
    """The page: the change-point table, then one plot per drawn series."""
    by_series: dict[Series, list[Change]] = {}
    for c in found:
        by_series.setdefault(c.series, []).append(c)
    drawn = [s for s in all_series if s in by_series or s.metric in plot_metrics]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style>"]
    parts.append("<title>compress-bench history</title></head><body><h1>History</h1>")
    table = render(found) if found else "no change points"
    parts.append(f"<pre>{html.escape(table)}</pre>")
    for s in drawn:
        parts.append(img_tag(series_figure(s, by_series.get(s, [])), f"{s.benchmark} {s.metric}"))
    parts.append("</body></html>")
    return "\n".join(parts)
