"""Charts of the monthly evaluation as server-rendered SVG: the PDF (WeasyPrint renders SVG) shows
the trends to the leadership without any script. Every text goes in through Markup.format, which
escapes it; values may be missing (None: no bar, a gap in the line)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 36
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
_FRAME = Markup(
    '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
    'aria-label="{title}"><title>{title}</title>'
    '<text x="{left}" y="16" font-size="12" font-weight="bold">{title}</text>'
    '<text x="{axis_x}" y="{top_y}" font-size="10" text-anchor="end">{top_label}</text>'
    '<text x="{axis_x}" y="{base}" font-size="10" text-anchor="end">0</text>'
    '<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#333"/>'
    '<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#333"/>'
    "{body}{ticks}</svg>"
)
_TICK = Markup('<text x="{x:.1f}" y="{y}" font-size="10" text-anchor="middle">{label}</text>')
_BAR = Markup(
    '<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="#1f5fa8"/>'
    '<text x="{cx:.1f}" y="{ty:.1f}" font-size="10" text-anchor="middle">{label}</text>'
)
_POINT = Markup(
    '<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#b3261e"/>'
    '<text x="{x:.1f}" y="{ty:.1f}" font-size="10" text-anchor="middle">{label}</text>'
)
_LINE = Markup('<polyline fill="none" stroke="#b3261e" stroke-width="2" points="{points}"/>')


def _frame(title: str, top_label: str, labels: Sequence[str], body: Markup) -> Markup:
    step = PLOT_W / max(len(labels), 1)
    ticks = Markup("").join(
        _TICK.format(x=LEFT + step * (i + 0.5), y=HEIGHT - BOTTOM + 14, label=label) for i, label in enumerate(labels)
    )
    return _FRAME.format(
        width=WIDTH,
        height=HEIGHT,
        title=title,
        left=LEFT,
        right=LEFT + PLOT_W,
        top=TOP,
        base=TOP + PLOT_H,
        axis_x=LEFT - 6,
        top_y=TOP + 4,
        top_label=top_label,
        body=body,
        ticks=ticks,
    )


def _scale(values: Sequence[float | None]) -> float:
    top = max((v for v in values if v is not None), default=0.0)
    return top if top > 0 else 1.0


def bars(
    title: str, labels: Sequence[str], values: Sequence[float | None], fmt: Callable[[float], str] = str
) -> Markup:
    """A bar per label, its value written above it."""
    top = _scale(values)
    step = PLOT_W / max(len(labels), 1)
    parts = []
    for i, value in enumerate(values):
        if value is None:
            continue
        h = PLOT_H * value / top
        x = LEFT + step * i + step * 0.2
        y = TOP + PLOT_H - h
        parts.append(_BAR.format(x=x, y=y, w=step * 0.6, h=h, cx=x + step * 0.3, ty=y - 3, label=fmt(value)))
    return _frame(title, fmt(top), labels, Markup("").join(parts))


def line(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    fmt: Callable[[float], str] = str,
    top: float | None = None,
) -> Markup:
    """A line through the values (broken where one is missing), each point labelled."""
    top = top if top is not None else _scale(values)
    step = PLOT_W / max(len(labels), 1)
    runs: list[list[tuple[float, float]]] = [[]]
    marks = []
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        x, y = LEFT + step * (i + 0.5), TOP + PLOT_H - PLOT_H * min(value, top) / top
        runs[-1].append((x, y))
        marks.append(_POINT.format(x=x, y=y, ty=y - 6, label=fmt(value)))
    lines = Markup("").join(
        _LINE.format(points=" ".join(f"{x:.1f},{y:.1f}" for x, y in run)) for run in runs if len(run) > 1
    )
    return _frame(title, fmt(top), labels, lines + Markup("").join(marks))
