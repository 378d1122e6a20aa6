"""The history report as a self-contained HTML page: each series over time, change points marked.

Drawn: every series with a change point, and every series of the metrics in ``plot_metrics``
(speedups by default). Change points are coloured as the comparison page colours verdicts
(compress.report.style): a regression red, an improvement green, another change grey, in the
table and on the plots; each segment's mean is drawn across it. The table links each change
to its series' plot, and each plot lists the runs it was drawn from, linked to their result
files (paths as ingested, made relative to the page).
"""

from __future__ import annotations

import html
import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from compress.history.changes import Change, Series
from compress.report.labels import header
from compress.report.style import VERDICT_COLOURS, VERDICT_WORDS, img_tag, page, png_base64, pyplot


def change_verdict(c: Change) -> str:
    """The verdict class of a change point (a key of VERDICT_COLOURS)."""
    return "regression" if c.regression else "improved" if c.improvement else "info"


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
        colour = VERDICT_COLOURS[change_verdict(c)][1]
        ax.axvline(c.index - 0.5, color=colour, lw=2 if c.regression else 1.5)
    step = max(1, len(values) // 8)
    ticks = list(range(0, len(values), step))
    ax.set_xticks(ticks, [(s.points[i].datetime or "")[:10] for i in ticks], fontsize=7)
    ax.set_ylabel(header(s.metric, s.unit), fontsize=8)
    ax.set_title(f"{s.benchmark.rsplit('::', 1)[-1]} — {s.isa_class}, {s.profile}", fontsize=9)
    return png_base64(fig)


def _href(path: str | None, page_dir: Path | None) -> str | None:
    if not path:
        return None
    target = os.path.abspath(path)
    return os.path.relpath(target, page_dir) if page_dir is not None else Path(target).as_uri()


def _moved(c: Change) -> str:
    return f"{100 * (c.after - c.before) / abs(c.before):+.1f}%" if c.before else ""


def change_table(found: Sequence[Change], anchors: dict[Series, str]) -> str:
    """The change points, regressions first, each row coloured and linked to its plot."""
    rows = []
    for c in sorted(found, key=lambda c: not c.regression):
        s, point, v = c.series, c.series.points[c.index], change_verdict(c)
        name = html.escape(s.benchmark.rsplit("::", 1)[-1])
        link = f'<a href="#{anchors[s]}">{name}</a>' if s in anchors else name
        rows.append(
            f'<tr class="{v}" data-verdict="{v}"><td class="text">{link}</td>'
            f"<td class='text'>{html.escape(header(s.metric, s.unit))}</td><td>{s.isa_class}</td>"
            f"<td>{html.escape((point.datetime or '')[:10])}</td>"
            f"<td>{html.escape((point.commit or '')[:10])}</td><td>{c.before:.4g}</td>"
            f"<td>{c.after:.4g}</td><td>{_moved(c)}</td>"
            f'<td class="text"><span class="verdict">{VERDICT_WORDS[v]}</span></td></tr>'
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("benchmark", "metric", "ISA", "from run", "commit", "before", "after", "change")
    )
    body = "".join(rows)
    return f'<div class="wide"><table><tr>{head}<th>verdict</th></tr>{body}</table></div>'


def runs_list(s: Series, found: Sequence[Change], page_dir: Path | None) -> str:
    """The runs a series was drawn from, linked to their result files; the run where a change
    starts carries that change's colour."""
    starts = {c.index: change_verdict(c) for c in found}
    items = []
    for i, p in enumerate(s.points):
        text = f"{(p.datetime or '?')[:16]} {(p.commit or '')[:10]}: {p.value:.4g}"
        href = _href(p.path, page_dir)
        item = f'<a href="{html.escape(href)}">{html.escape(text)}</a>' if href else text
        v = starts.get(i)
        mark = f' class="{v}" data-verdict="{v}"' if v else ""
        items.append(f"<li{mark}>{item}{' ← change' if v else ''}</li>")
    return f"<details><summary>{len(s.points)} runs</summary><ol>{''.join(items)}</ol></details>"


def history_html(
    all_series: Iterable[Series],
    found: Sequence[Change],
    plot_metrics: Sequence[str] = ("speedup",),
    page_dir: Path | None = None,
) -> str:
    """The page: the change-point table, then one plot per drawn series with its runs."""
    by_series: dict[Series, list[Change]] = {}
    for c in found:
        by_series.setdefault(c.series, []).append(c)
    drawn = [s for s in all_series if s in by_series or s.metric in plot_metrics]
    # changed series first, regressions before other changes: what a reader came to see
    drawn.sort(
        key=lambda s: (not any(c.regression for c in by_series.get(s, ())), s not in by_series)
    )
    anchors = {s: f"series-{i}" for i, s in enumerate(drawn)}
    parts = ["<h1>History</h1>"]
    parts.append(change_table(found, anchors) if found else "<p>No change points.</p>")
    for s in drawn:
        changes = by_series.get(s, [])
        parts.append(
            f'<section id="{anchors[s]}">'
            f"{img_tag(series_figure(s, changes), f'{s.benchmark} {s.metric} {s.isa_class}')}"
            f"{runs_list(s, changes, page_dir)}</section>"
        )
    return page("compress-bench history", parts)
