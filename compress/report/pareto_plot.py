"""One Pareto plot per task (compress.report.pareto): quality drop with its CI against speedup with
its CI, marker area proportional to the checkpoint, the non-dominated front drawn and named.

Points are numbered; the page lists the numbers beside the plot (``legend_rows``), so labels
stay short, and each number is placed where it overlaps no other number and no marker
(``place_labels``: the first free spot on rings around its marker, with a leader line when it
had to move away), so clustered points stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from compress.report.labels import label
from compress.report.pareto import Point, Task, front
from compress.report.style import png_base64, pyplot

FRONT_COLOUR = "#146c43"
MAX_AREA = 600.0  # points^2 of the largest checkpoint of a plot
MIN_AREA = 30.0
MIN_SPAN = {"pts": 1.0, "nats": 0.01}  # the least quality axis a plot shows, by drop unit
_DIRECTIONS = [
    (math.cos(a), math.sin(a)) for a in [k * math.pi / 4 for k in (1, 3, 7, 5, 0, 4, 2, 6)]
]


def _least_span(ax, span: float) -> None:
    """Widen the quality axis to at least ``span``: drops that are all zero would otherwise be
    drawn on a 1e-17 scale, where no change looks like a large one."""
    low, high = ax.get_ylim()
    if high - low < span:
        mid = (low + high) / 2
        ax.set_ylim(mid - span / 2, mid + span / 2)


def area(point: Point, largest: float) -> float:
    """Marker area (points^2), proportional to the checkpoint; the smallest when unknown."""
    if point.size is None or largest <= 0:
        return MIN_AREA
    return max(MIN_AREA, MAX_AREA * point.size.value / largest)


def _errors(m) -> list[list[float]]:
    if m.ci is None:
        return [[0.0], [0.0]]
    return [[max(0.0, m.value - m.ci.low)], [max(0.0, m.ci.high - m.value)]]


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(ax, texts: Sequence[str], xy: Sequence[tuple[float, float]], radii) -> list:
    """Put ``texts[i]`` near data point ``xy[i]`` (marker radius ``radii[i]`` in pixels) where it
    overlaps no placed label and no marker; returns the labels' pixel boxes (x0, y0, x1, y1)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    centres = ax.transData.transform(xy)
    markers = [(x - r, y - r, x + r, y + r) for (x, y), r in zip(centres, radii, strict=True)]
    frame = ax.get_window_extent(renderer).extents
    placed: list[tuple[float, float, float, float]] = []
    for text, (x, y), r in zip(texts, centres, radii, strict=True):
        t = ax.annotate(text, (0, 0), xycoords="figure pixels", fontsize=8, fontweight="bold")
        box = t.get_window_extent(renderer)
        w, h = box.width, box.height
        best, best_cost = None, math.inf
        for ring in range(1, 7):
            for dx, dy in _DIRECTIONS:
                gap = r + 2 + (ring - 1) * max(w, h)
                cx, cy = x + dx * (gap + w / 2), y + dy * (gap + h / 2)
                cand = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                cost = sum(_overlap(cand, o) for o in placed + markers)
                inside = frame[0] <= cand[0] and cand[2] <= frame[2]
                inside = inside and frame[1] <= cand[1] and cand[3] <= frame[3]
                cost += 0 if inside else 0.5
                if cost < best_cost:
                    best, best_cost = cand, cost
            if best_cost == 0:
                break
        assert best is not None
        t.remove()
        centre = ((best[0] + best[2]) / 2, (best[1] + best[3]) / 2)
        far = math.dist(centre, (x, y)) > r + 2 + max(w, h)
        ax.annotate(
            text,
            ax.transData.inverted().transform((x, y)),
            xytext=(centre[0] - x, centre[1] - y),
            textcoords="offset pixels",  # figure pixels would shift when the PNG is cropped
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold",
            arrowprops={"arrowstyle": "-", "color": "#777", "lw": 0.6} if far else None,
        )
        placed.append(best)
    return placed


def _draw_points(ax, points: Sequence[Point], on_front: set[int]) -> list[float]:
    largest = max((p.size.value for p in points if p.size is not None), default=0.0)
    radii = []
    for i, p in enumerate(points):
        s, d = p.speedup, p.drop
        ax.errorbar(
            s.value, d.value, xerr=_errors(s), yerr=_errors(d), fmt="none", ecolor="#999", lw=0.8
        )
        a = area(p, largest)
        colour = FRONT_COLOUR if i in on_front else "#1f77b4"
        ax.scatter(s.value, d.value, s=a, alpha=0.45, color=colour, edgecolors="#333", lw=0.5)
        radii.append(math.sqrt(a) / 2 * ax.figure.dpi / 72)
    return radii


def pareto_figure(task: Task, points: Sequence[Point]) -> tuple[str, list]:
    """(base64 PNG, label boxes in pixels) of one task's plot; points numbered from 1."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    best = front(list(points))
    on_front = {i for i, p in enumerate(points) if p in best}
    radii = _draw_points(ax, points, on_front)
    if len(best) > 1:
        xs, ys = [p.speedup.value for p in best], [p.drop.value for p in best]
        ax.plot(xs, ys, "--", color=FRONT_COLOUR, lw=1.2, label="non-dominated front")
    else:
        ax.plot([], [], "--", color=FRONT_COLOUR, label="non-dominated front")
    ax.axhline(0, color="#444", lw=0.5)
    ax.margins(0.12)
    _least_span(ax, MIN_SPAN.get(points[0].drop.unit, 0.0))
    ax.set_xlabel("speedup vs the uncompressed reference (×, 95% CI)")
    unit = "nats" if task.quality == "loss" else "points"
    ax.set_ylabel(f"{task.quality} drop, {unit} (95% CI; lower is better)")
    ax.set_title(f"{task.title}: {task.quality} drop vs speedup; marker area ~ checkpoint size")
    ax.legend(loc="upper left", fontsize=8)
    fig.canvas.draw()  # fixes the layout and limits the label placement measures against
    xy = [(p.speedup.value, p.drop.value) for p in points]
    boxes = place_labels(ax, [str(i + 1) for i in range(len(points))], xy, radii)
    return png_base64(fig), boxes


def drop_label(point: Point) -> str:
    """Header-style name of the point's quality figure, e.g. "F1 drop"."""
    return label(point.drop_name)
