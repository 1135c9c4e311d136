"""Charts of the monthly evaluation as server-rendered SVG: the PDF (WeasyPrint renders SVG) shows
the trends to the leadership without any script. Every text is escaped; values may be missing
(None: no bar, a gap in the line)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 36


def _frame(title: str, top_label: str, labels: Sequence[str], body: str) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    ticks = "".join(
        f'<text x="{LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" '
        f'text-anchor="middle">{escape(label)}</text>'
        for i, label in enumerate(labels)
    )
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
        f'<text x="{LEFT}" y="16" font-size="12" font-weight="bold">{escape(title)}</text>'
        f'<text x="{LEFT - 6}" y="{TOP + 4}" font-size="10" text-anchor="end">{escape(top_label)}</text>'
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" font-size="10" text-anchor="end">0</text>'
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>'
        f"{body}{ticks}</svg>"
    )


def _scale(values: Sequence[float | None]) -> float:
    top = max((v for v in values if v is not None), default=0.0)
    return top if top > 0 else 1.0


def bars(
    title: str, labels: Sequence[str], values: Sequence[float | None], fmt: Callable[[float], str] = str
) -> Markup:
    """A bar per label, its value written above it."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _scale(values)
    step = plot_w / max(len(labels), 1)
    parts = []
    for i, value in enumerate(values):
        if value is None:
            continue
        h = plot_h * value / top
        x = LEFT + step * i + step * 0.2
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{step * 0.6:.1f}" height="{h:.1f}" fill="#1f5fa8"/>'
            f'<text x="{x + step * 0.3:.1f}" y="{TOP + plot_h - h - 3:.1f}" font-size="10" '
            f'text-anchor="middle">{escape(fmt(value))}</text>'
        )
    return _frame(title, fmt(top), labels, "".join(parts))


def line(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    fmt: Callable[[float], str] = str,
    top: float | None = None,
) -> Markup:
    """A line through the values (broken where one is missing), each point labelled."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = top if top is not None else _scale(values)
    step = plot_w / max(len(labels), 1)
    points: list[list[tuple[float, float]]] = [[]]
    marks = []
    for i, value in enumerate(values):
        if value is None:
            points.append([])
            continue
        x, y = LEFT + step * (i + 0.5), TOP + plot_h - plot_h * min(value, top) / top
        points[-1].append((x, y))
        marks.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#b3261e"/>'
            f'<text x="{x:.1f}" y="{y - 6:.1f}" font-size="10" text-anchor="middle">{escape(fmt(value))}</text>'
        )
    lines = "".join(
        '<polyline fill="none" stroke="#b3261e" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        + '"/>'
        for run in points
        if len(run) > 1
    )
    return _frame(title, fmt(top), labels, lines + "".join(marks))
